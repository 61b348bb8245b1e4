"""The schema registry: loading official distributions, validating bodies.

Reads the official distributions and the real messages from ``../shared/stuf``.
Distributions that must be broken on purpose are copied into ``tmp_path``.
"""

from __future__ import annotations

import copy
import shutil
import threading
import zipfile
from pathlib import Path

import pytest
from lxml import etree

from esb.errors import SchemaLoadError, Violation
from esb.message import NS_BG, NS_SOAP11, NS_STUF, NS_ZDS, NS_ZKN
from esb.schemaset import SchemaRegistry
from tests.conftest import EXAMPLES, ZDS_12, ZDS_1102

# Every request the examples hold: *.request.xml, and the haarlem folder,
# whose files are all requests.
REQUESTS = sorted(
    path.relative_to(EXAMPLES).as_posix()
    for path in [*EXAMPLES.glob("*/*.request.xml"), *EXAMPLES.glob("haarlem/*.xml")]
)
NOT_XML = "error-handling/03_Invalid_xml.request.xml"

# The only example request that breaks the official schema (with zds-1.2
# listed first, and equally with zds-1.1.02): a client that put the zender
# before the berichtcode.
INVALID_REQUESTS = {
    "regressions/Issue329-voegZaakdocumentToe_Lk01.request.xml": [
        Violation(
            line=6,
            path="/edcLk01/stuurgegevens/zender",
            rule="zender: This element is not expected. Expected is ( berichtcode ).",
        )
    ],
}

SETS_12 = ["zds-1.2/bg0310", "zds-1.2/stuf0301", "zds-1.2/zds0120", "zds-1.2/zkn0310"]
SETS_1102 = [
    "zds-1.1.02/bg0310",
    "zds-1.1.02/rzs0310",
    "zds-1.1.02/stuf0301",
    "zds-1.1.02/zkn0310",
]


def _safe_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True)


def body_of(envelope: etree._Element) -> etree._Element:
    """The first element in the SOAP Body, or in a Fault's detail."""
    body = envelope.find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    element = body[0]
    if element.tag == f"{{{NS_SOAP11}}}Fault":
        detail = element.find("detail")
        assert detail is not None
        element = detail[0]
    return element


def example_body(relative: str) -> etree._Element:
    envelope = etree.parse(str(EXAMPLES / relative), _safe_parser()).getroot()
    return body_of(envelope)


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load([ZDS_12, ZDS_1102])


@pytest.fixture(scope="module")
def registry_1102_first() -> SchemaRegistry:
    return SchemaRegistry.load([ZDS_1102, ZDS_12])


@pytest.fixture(scope="module")
def zds12_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zds-1.2 zipped the way VNG Realisatie ships it: one top folder."""
    target = tmp_path_factory.mktemp("zip") / "zds-1.2.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(ZDS_12.rglob("*")):
            archive.write(path, (Path("zds-1.2") / path.relative_to(ZDS_12)))
    return target


@pytest.fixture
def zds12_copy(tmp_path: Path) -> Path:
    """A private copy of zds-1.2, to be broken by the test.

    The space in its path checks that paths reach libxml2 escaped.
    """
    return Path(shutil.copytree(ZDS_12, tmp_path / "met spatie" / "zds-1.2"))


# Loading


def test_both_distributions_load_together(registry: SchemaRegistry) -> None:
    """Both ZDS distributions compile side by side, one set per sector."""
    assert [info.name for info in registry.sets] == SETS_12 + SETS_1102
    assert all(info.elements > 0 for info in registry.sets)
    assert {info.source for info in registry.sets} == {
        ZDS_12.resolve().as_posix(),
        ZDS_1102.resolve().as_posix(),
    }
    assert registry


@pytest.mark.parametrize(
    ("source", "names"), [(ZDS_12, SETS_12), (ZDS_1102, SETS_1102)]
)
def test_each_distribution_loads_alone(source: Path, names: list[str]) -> None:
    """Each distribution compiles on its own, as published."""
    registry = SchemaRegistry.load([source])
    assert [info.name for info in registry.sets] == names


def test_distribution_loads_from_a_zip_file(zds12_zip: Path) -> None:
    """A zipped distribution is read from memory and validates like the folder."""
    registry = SchemaRegistry.load([zds12_zip])

    assert [info.name for info in registry.sets] == SETS_12
    assert {info.source for info in registry.sets} == {zds12_zip.as_posix()}
    assert registry.validate(example_body("haarlem/creeerzaakRequest.xml")) == []


def test_describe_lists_every_set(registry: SchemaRegistry) -> None:
    """/healthz gets name, source and element count of every compiled set."""
    described = registry.describe()

    assert [entry["name"] for entry in described] == SETS_12 + SETS_1102
    zds = described[SETS_12.index("zds-1.2/zds0120")]
    assert zds == {
        "name": "zds-1.2/zds0120",
        "source": ZDS_12.resolve().as_posix(),
        "elements": 32,
    }


def test_empty_registry_knows_nothing() -> None:
    """Without distributions the registry is falsy and knows no element."""
    registry = SchemaRegistry.empty()

    assert not registry
    assert registry.sets == ()
    assert registry.describe() == []
    assert not registry.knows(f"{{{NS_ZKN}}}zakLk01")


def test_message_schema_as_published_does_not_compile_in_lxml() -> None:
    """The trap the loader exists for: libxml2 skips repeated namespace imports.

    Should a future libxml2 honour them, the wrappers become unnecessary.
    """
    published = ZDS_12 / "zds0120" / "berichten" / "zds0120_msg_zs-dms.xsd"

    with pytest.raises(etree.XMLSchemaParseError, match="NPSGroepen' does not"):
        etree.XMLSchema(file=str(published))


# Choosing the set


def test_each_element_goes_to_its_sector(registry: SchemaRegistry) -> None:
    """The body element's Clark name picks the set of its sector."""
    assert registry.set_for(f"{{{NS_ZDS}}}creeerZaak_ZakLk01") == "zds-1.2/zds0120"
    assert registry.set_for(f"{{{NS_ZKN}}}zakLk01") == "zds-1.2/zkn0310"
    assert registry.set_for(f"{{{NS_BG}}}npsLv01") == "zds-1.2/bg0310"
    assert registry.set_for(f"{{{NS_STUF}}}Bv03Bericht") == "zds-1.2/stuf0301"


def test_unknown_element_is_not_known(registry: SchemaRegistry) -> None:
    """An element no distribution declares is unknown and cannot be validated."""
    unknown = "{http://example.org/not-stuf}zakLk01"

    assert not registry.knows(unknown)
    assert registry.set_for(unknown) is None
    with pytest.raises(KeyError):
        registry.validate(etree.Element(unknown))


def test_first_listed_distribution_wins(
    registry: SchemaRegistry, registry_1102_first: SchemaRegistry
) -> None:
    """An element in both distributions is validated by the one listed first.

    ZKN:zakLk01 is in both; StUF-ZKN patch 24 (in zds-1.2) allows one
    heeftAlsInitiator where zds-1.1.02 allows any number.
    """
    zak = example_body("regressions/Issue332-creeerZaak_Lk01.request.xml")
    initiator = zak.find(f".//{{{NS_ZKN}}}heeftAlsInitiator")
    assert initiator is not None
    initiator.addnext(copy.deepcopy(initiator))

    assert registry.set_for(zak.tag) == "zds-1.2/zkn0310"
    assert [v.path for v in registry.validate(zak)] == [
        "/zakLk01/object/heeftAlsInitiator[2]"
    ]
    assert registry_1102_first.set_for(zak.tag) == "zds-1.1.02/zkn0310"
    assert registry_1102_first.validate(zak) == []


def test_element_of_one_distribution_is_known_in_any_order(
    registry: SchemaRegistry, registry_1102_first: SchemaRegistry
) -> None:
    """ZDS 1.1 operations in the ZKN namespace exist only in zds-1.1.02."""
    element = f"{{{NS_ZKN}}}genereerZaakIdentificatie_Di02"

    assert registry.set_for(element) == "zds-1.1.02/zkn0310"
    assert registry_1102_first.set_for(element) == "zds-1.1.02/zkn0310"


def test_sets_shadowed_entirely_are_not_compiled(zds12_zip: Path) -> None:
    """A distribution listed after an identical one adds no compiled set."""
    copy_zip = zds12_zip.with_name("copy-of-zds-1.2.zip")
    shutil.copyfile(zds12_zip, copy_zip)

    registry = SchemaRegistry.load([ZDS_12, copy_zip])

    assert [info.name for info in registry.sets] == SETS_12


# The examples


def test_all_example_requests_are_checked() -> None:
    """The examples hold 30 requests; none is silently left out."""
    assert len(REQUESTS) == 30
    assert NOT_XML in REQUESTS


def test_the_broken_example_is_not_xml() -> None:
    """One example request is not well-formed, so it has no body to validate."""
    with pytest.raises(etree.XMLSyntaxError):
        etree.parse(str(EXAMPLES / NOT_XML), _safe_parser())


@pytest.mark.parametrize("relative", [r for r in REQUESTS if r != NOT_XML])
def test_example_request_validates_as_expected(
    registry: SchemaRegistry, relative: str
) -> None:
    """Every example request is known; all but one conform to the schema."""
    element = example_body(relative)

    assert registry.knows(element.tag)
    assert registry.validate(element) == INVALID_REQUESTS.get(relative, [])


@pytest.mark.parametrize(
    ("relative", "violation"),
    [
        (
            "error-handling/03_Invalid_xml.response.xml",
            Violation(
                9,
                "/Fo03Bericht/body",
                "body: This element is not expected. Expected is ( stuurgegevens ).",
            ),
        ),
        (
            "gisvg-flow/creeerZaak_Lk01.response.xml",
            Violation(
                15,
                "/Bv03Bericht/stuurgegevens/referentienummer",
                "referentienummer: [facet 'maxLength'] The value has a length of "
                "'65'; this exceeds the allowed maximum length of '40'.",
            ),
        ),
        (
            "gisvg-flow/geefZaakdetails_Lv01.response.xml",
            Violation(
                15,
                "/zakLa01/stuurgegevens/referentienummer",
                "referentienummer: [facet 'maxLength'] The value has a length of "
                "'65'; this exceeds the allowed maximum length of '40'.",
            ),
        ),
    ],
)
def test_example_answers_break_the_schema(
    registry: SchemaRegistry, relative: str, violation: Violation
) -> None:
    """The answers another implementation gave break the schema, precisely so.

    Elements in a default namespace (libxml2 calls them ``*``) are named too.
    """
    assert registry.validate(example_body(relative)) == [violation]


def test_violation_names_the_path_and_line_in_the_envelope(
    registry: SchemaRegistry,
) -> None:
    """A bad BSN deep in creeerZaak is reported at its line and element path."""
    zaak = example_body("haarlem/creeerzaakRequest.xml")
    bsn = zaak.find(f".//{{{NS_BG}}}inp.bsn")
    assert bsn is not None
    bsn.text = "90007051X"

    assert registry.validate(zaak) == [
        Violation(
            42,
            "/creeerZaak_ZakLk01/object/heeftAlsInitiator/gerelateerde/"
            "natuurlijkPersoon/inp.bsn",
            "inp.bsn: [facet 'pattern'] The value '90007051X' is not accepted "
            "by the pattern '[0-9]{9}'.",
        )
    ]


def test_paths_point_at_the_right_sibling_in_one_line_messages(
    registry_1102_first: SchemaRegistry,
) -> None:
    """In a message on one line, the index tells which sibling is wrong."""
    zak = example_body("regressions/Issue332-creeerZaak_Lk01.request.xml")
    initiator = zak.find(f".//{{{NS_ZKN}}}heeftAlsInitiator")
    assert initiator is not None
    second = copy.deepcopy(initiator)
    initiator.addnext(second)
    bsn = second.find(f".//{{{NS_BG}}}inp.bsn")
    assert bsn is not None
    bsn.text = "12345678X"
    one_line = etree.fromstring(
        etree.tostring(zak.getroottree()).replace(b"\n", b" "), _safe_parser()
    )

    violations = registry_1102_first.validate(body_of(one_line))

    assert [(v.line, v.path) for v in violations] == [
        (
            1,
            "/zakLk01/object/heeftAlsInitiator[2]/gerelateerde/natuurlijkPersoon/"
            "inp.bsn",
        )
    ]


def test_attribute_violations_name_the_attribute(registry: SchemaRegistry) -> None:
    """A wrong attribute value is reported on its element, naming the attribute."""
    zaak = example_body("haarlem/creeerzaakRequest.xml")
    zaak_object = zaak.find(f"{{{NS_ZKN}}}object")
    assert zaak_object is not None
    zaak_object.set(f"{{{NS_STUF}}}verwerkingssoort", "Q")

    [violation] = registry.validate(zaak)

    assert violation.path == "/creeerZaak_ZakLk01/object"
    assert violation.rule.startswith(
        "object/@verwerkingssoort: [facet 'enumeration'] The value 'Q' is not "
    )


def test_schema_location_hints_in_a_body_are_ignored(
    registry: SchemaRegistry,
) -> None:
    """xsi:schemaLocation in a message loads nothing: the compiled set decides."""
    zaak = example_body("haarlem/creeerzaakRequest.xml")
    xsi = "http://www.w3.org/2001/XMLSchema-instance"
    zaak.set(f"{{{xsi}}}schemaLocation", f"{NS_ZDS} file:///nonexistent/zds.xsd")
    zaak.set(f"{{{xsi}}}noNamespaceSchemaLocation", "file:///etc/passwd")

    assert registry.validate(zaak) == []


# StUF's own answers


BV03 = f"""\
<StUF:Bv03Bericht xmlns:StUF="{NS_STUF}">
  <StUF:stuurgegevens>
    <StUF:berichtcode>Bv03</StUF:berichtcode>
    <StUF:zender><StUF:organisatie>0392</StUF:organisatie>
      <StUF:applicatie>EMO</StUF:applicatie></StUF:zender>
    <StUF:ontvanger><StUF:organisatie>0392</StUF:organisatie>
      <StUF:applicatie>MORPLUS</StUF:applicatie></StUF:ontvanger>
    <StUF:referentienummer>emo-1</StUF:referentienummer>
    <StUF:tijdstipBericht>20240101120000</StUF:tijdstipBericht>
    <StUF:crossRefnummer>e443d87f-69ee-4fd4-b1d9-dd797ffff628</StUF:crossRefnummer>
  </StUF:stuurgegevens>
</StUF:Bv03Bericht>
"""

FO02 = f"""\
<Fo02Bericht xmlns="{NS_STUF}">
  <stuurgegevens>
    <berichtcode>Fo02</berichtcode>
  </stuurgegevens>
  <body>
    <code>StUF055</code>
    <plek>{{plek}}</plek>
    <omschrijving>Berichtbody is niet conform schema in sectormodel</omschrijving>
    <details>line 6, /edcLk01/stuurgegevens/zender: ...</details>
  </body>
</Fo02Bericht>
"""


def test_hand_built_bv03_validates(registry: SchemaRegistry) -> None:
    """EMO's own Bv03Bericht is validated against stuf0301.xsd."""
    assert registry.validate(etree.fromstring(BV03)) == []


def test_hand_built_fo02_validates(registry: SchemaRegistry) -> None:
    """EMO's own Fo02Bericht is validated against stuf0301.xsd."""
    assert registry.validate(etree.fromstring(FO02.format(plek="client"))) == []


def test_broken_fo02_names_the_rule(registry: SchemaRegistry) -> None:
    """A plek other than client or server breaks the Foutplek enumeration."""
    fo02 = etree.fromstring(FO02.format(plek="elders"))

    assert registry.validate(fo02) == [
        Violation(
            7,
            "/Fo02Bericht/body/plek",
            "plek: [facet 'enumeration'] The value 'elders' is not an element "
            "of the set {'client', 'server'}.",
        )
    ]


def test_built_in_memory_has_no_line(registry: SchemaRegistry) -> None:
    """An element built in memory has no source line: the line is None."""
    bv03 = etree.fromstring(BV03)
    berichtcode = bv03.find(f".//{{{NS_STUF}}}berichtcode")
    assert berichtcode is not None
    replacement = etree.Element(f"{{{NS_STUF}}}berichtcode")
    replacement.text = "Bv01"
    berichtcode.getparent().replace(berichtcode, replacement)  # type: ignore[union-attr]

    assert registry.validate(bv03) == [
        Violation(
            None,
            "/Bv03Bericht/stuurgegevens/berichtcode",
            "berichtcode: The actual value 'Bv01' does not match the fixed "
            "value constraint 'Bv03'.",
        )
    ]


# Concurrency


def test_concurrent_validations_keep_their_own_violations(
    registry: SchemaRegistry,
) -> None:
    """Threads validating against one set each get their own violations."""
    good = example_body("haarlem/creeerzaakRequest.xml")
    bad = example_body("regressions/Issue329-voegZaakdocumentToe_Lk01.request.xml")
    zakken = [copy.deepcopy(good) for _ in range(4)]
    documenten = [copy.deepcopy(bad) for _ in range(4)]
    failures: list[str] = []

    def work(element: etree._Element, expected: int) -> None:
        for _ in range(50):
            found = len(registry.validate(element))
            if found != expected:
                failures.append(f"{element.tag}: {found} violations")

    threads = [threading.Thread(target=work, args=(z, 0)) for z in zakken]
    threads += [threading.Thread(target=work, args=(d, 1)) for d in documenten]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []


# Broken distributions


def test_missing_distribution_is_refused(tmp_path: Path) -> None:
    """A source that does not exist is named in the error."""
    with pytest.raises(SchemaLoadError, match=r"nowhere does not exist"):
        SchemaRegistry.load([tmp_path / "nowhere"])


def test_syntax_error_names_the_file(zds12_copy: Path) -> None:
    """An XSD that is not well-formed is named, with its line."""
    broken = zds12_copy / "zkn0310" / "entiteiten" / "zkn0310_simpleTypes.xsd"
    broken.write_bytes(broken.read_bytes().replace(b"<annotation>", b"<annotation", 1))

    with pytest.raises(SchemaLoadError) as raised:
        SchemaRegistry.load([zds12_copy])

    assert str(raised.value) == (
        f"{broken.as_posix()}, line 6: not well-formed XML: "
        "error parsing attribute name"
    )


def test_compile_error_names_the_file(zds12_copy: Path) -> None:
    """A reference that does not resolve is reported with libxml2's words."""
    broken = zds12_copy / "zds0120" / "berichten" / "zds0120_msg_zs-dms.xsd"
    broken.write_bytes(
        broken.read_bytes().replace(b'type="ZKN:Vraag-EDC"', b'type="ZKN:Onbekend"')
    )

    with pytest.raises(SchemaLoadError) as raised:
        SchemaRegistry.load([zds12_copy])

    message = str(raised.value)
    assert message.startswith("schema set zds-1.2/zds0120 does not compile: ")
    assert f"{broken.as_posix()}, line 54: " in message
    assert f"'{{{NS_ZKN}}}Onbekend' does not resolve to a(n) type" in message


def test_schema_file_with_a_dtd_is_refused(zds12_copy: Path) -> None:
    """A DTD (and so any entity) in a schema file is refused before compiling."""
    broken = zds12_copy / "0301" / "stuf0301.xsd"
    text = broken.read_bytes().split(b"\n", 1)
    doctype = b'<!DOCTYPE schema [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    broken.write_bytes(text[0] + b"\n" + doctype + text[1])

    with pytest.raises(SchemaLoadError, match=r"stuf0301\.xsd: has a DOCTYPE"):
        SchemaRegistry.load([zds12_copy])


def test_reference_outside_the_distribution_is_refused(zds12_copy: Path) -> None:
    """An include that leaves the distribution is an error, not a file read."""
    referrer = zds12_copy / "zkn0310" / "entiteiten" / "zkn0310_ent_basis.xsd"
    referrer.write_bytes(
        referrer.read_bytes().replace(
            b'schemaLocation="zkn0310_simpleTypes.xsd"',
            b'schemaLocation="../../../elsewhere/zkn0310_simpleTypes.xsd"',
        )
    )

    with pytest.raises(SchemaLoadError, match="does not contain"):
        SchemaRegistry.load([zds12_copy])


def test_two_distributions_with_one_name_are_refused(
    zds12_copy: Path, zds12_zip: Path
) -> None:
    """Set names must say which distribution they come from."""
    with pytest.raises(SchemaLoadError, match="two schema distributions"):
        SchemaRegistry.load([zds12_copy, zds12_zip])
