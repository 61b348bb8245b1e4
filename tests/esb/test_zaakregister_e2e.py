"""The zaakregister behind a real broker, end to end over HTTP.

One ``emo run`` process with the default ``config/routes.yaml`` (every ZDS
operation at /stuf/zds is answered by destination ``zaakregister`` of type
``zaakregister``) and both official schema distributions, in report mode.
The register's database is the documented default, ``./var/zaakregister.db``
in the broker's working directory. Real clients' requests go in as they were
sent; every answer is checked against the official schemas.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from lxml import etree

from esb.adapters.zaakregister import (
    DEFAULT_URL,
    ZaakregisterAdapter,
    database_url,
    documents_folder,
)
from esb.errors import ConfigError
from esb.schemaset import SchemaRegistry
from tests.conftest import EXAMPLES, ROOT, ZDS_12, ZDS_1102
from tests.esb.conftest import (
    NS_SOAP11,
    Response,
    RunningBroker,
    assert_fault,
    request_stuurgegevens,
    soap_action_for,
    start_broker,
)
from tests.registers.zaakregister import messages

NS = {
    "ZKN": "http://www.egem.nl/StUF/sector/zkn/0310",
    "StUF": "http://www.egem.nl/StUF/StUF0301",
    "BG": "http://www.egem.nl/StUF/sector/bg/0310",
}
ROUTES = ROOT / "config" / "routes.yaml"
CREATORS = 20


@pytest.fixture(scope="module")
def zds_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBroker]:
    """A broker running the default routes, its register in ./var."""
    running = start_broker(tmp_path_factory.mktemp("zds-broker"), routes=str(ROUTES))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def both() -> SchemaRegistry:
    """Both distributions, to check answers in either ZDS version."""
    return SchemaRegistry.load([ZDS_12, ZDS_1102])


def answer_of(response: Response, schemas: SchemaRegistry) -> etree._Element:
    """The StUF answer in a 200 response, checked against the schemas."""
    assert response.status == 200, response.body[:2000]
    body = response.xml().find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    answer = body[0]
    assert schemas.validate(answer) == [], etree.tostring(answer)[:2000]
    return answer


def post(broker: RunningBroker, raw: bytes, action: str) -> Response:
    return broker.post(raw, f'"{action}"')


def post_message(broker: RunningBroker, raw: bytes) -> Response:
    body = etree.fromstring(raw).find(f"{{{NS_SOAP11}}}Body")
    assert body is not None
    qname = etree.QName(body[0])
    base = (
        messages.ZDS12
        if qname.namespace == "http://www.stufstandaarden.nl/koppelvlak/zds0120"
        else messages.ZKN11
    )
    return post(broker, raw, base + qname.localname)


def test_gisvg_flow(zds_broker: RunningBroker, both: SchemaRegistry) -> None:
    """GISVG's flow as sent: identificaties, creeerZaak, updateZaak and the
    vragen are answered by the register; its actualiseerZaakstatus for a zaak
    that does not exist gets the register's own Fo03 StUF064."""
    folder = EXAMPLES / "gisvg-flow"
    answers: dict[str, etree._Element] = {}
    for name in (
        "genereerZaakIdentificatie_Di02",
        "creeerZaak_Lk01",
        "genereerDocumentIdentificatie_Di02",
        "updateZaak_Lk01",
        "actualiseerZaakstatus_Lk01",
        "geefZaakdetails_Lv01",
        "geefLijstZaakdocumenten_Lv01",
    ):
        path = folder / f"{name}.request.xml"
        response = post(zds_broker, path.read_bytes(), soap_action_for(path))
        if name == "actualiseerZaakstatus_Lk01":
            fault = assert_fault(
                response,
                "StUF064",
                official=both,
                request=request_stuurgegevens(path.read_bytes()),
                plek="client",
            )
            assert "1900147" in fault.details
            continue
        answers[name] = answer_of(response, both)

    assert etree.QName(answers["creeerZaak_Lk01"]).localname == "Bv03Bericht"
    details = answers["geefZaakdetails_Lv01"]
    zaak = "ZKN:antwoord/ZKN:object/"
    assert details.findtext(zaak + "ZKN:identificatie", None, NS) == "1900852"
    assert details.findtext(zaak + "ZKN:einddatum", None, NS) == "20210402"
    bsn = (
        zaak + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/BG:inp.bsn"
    )
    assert details.findtext(bsn, None, NS) == "111111110"


def test_zaak_with_status_and_document(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """A zaak created in one message comes back, with its status history,
    its initiator and its document (84 kB, Haarlem's), from the vragen after
    it; the document's content is returned byte for byte."""
    haarlem = EXAMPLES / "haarlem"
    creeer = (haarlem / "creeerzaakRequest.xml").read_bytes()
    answer_of(post_message(zds_broker, creeer.replace(b"0000027", b"0000001")), both)
    status = messages.status("2", "In behandeling", "20250302090000000")
    answer_of(
        post_message(
            zds_broker, messages.actualiseer_zaakstatus("0392-2020-0000001", status)
        ),
        both,
    )
    voeg = (haarlem / "voegZaakdocumentToe.xml").read_bytes()
    answer_of(post_message(zds_broker, voeg), both)

    details = answer_of(
        post_message(zds_broker, messages.geef_zaakdetails("0392-2020-0000001")), both
    )
    zaak = "ZKN:antwoord/ZKN:object/"
    initiator = zaak + "ZKN:heeftAlsInitiator/ZKN:gerelateerde/ZKN:natuurlijkPersoon/"
    assert details.findtext(initiator + "BG:geslachtsnaam", None, NS) == "Mug"
    assert [
        e.text
        for e in details.iterfind(
            zaak + "ZKN:heeft/ZKN:gerelateerde/ZKN:omschrijving", NS
        )
    ] == ["In behandeling"]
    document = zaak + "ZKN:heeftRelevant/ZKN:gerelateerde/ZKN:identificatie"
    identificatie = details.findtext(document, None, NS)
    assert identificatie == "03922b716147-99e4-4b18-a7fa-f4dfac4746fe"

    lezen = answer_of(
        post_message(zds_broker, messages.geef_zaakdocument_lezen(identificatie)), both
    )
    inhoud = lezen.findtext("ZKN:antwoord/ZKN:object/ZKN:inhoud", None, NS)
    sent = re.search(rb"<zkn:inhoud[^>]*>([^<]+)<", voeg)
    assert inhoud is not None and sent is not None
    assert base64.b64decode(inhoud) == base64.b64decode(sent[1])


def test_register_fault_reaches_the_sender_as_is(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """A second creeerZaak for the same zaak: the register's Fo03 (StUF058,
    plek client), with zender and ontvanger swapped, is the sender's answer."""
    first = messages.creeer_zaak("0392-2025-7000001")
    answer_of(post_message(zds_broker, first), both)
    again = messages.creeer_zaak("0392-2025-7000001")
    fault = assert_fault(
        post_message(zds_broker, again),
        "StUF058",
        official=both,
        request=request_stuurgegevens(again),
        plek="client",
    )
    assert "bestaat al" in fault.omschrijving


def test_concurrent_creators_get_unique_identificaties(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """20 clients at once, each genereerZaakIdentificatie then creeerZaak
    through the broker: 20 different identificaties, 20 zaken."""
    start = threading.Barrier(CREATORS)

    def create(_: int) -> str:
        start.wait()
        du02 = answer_of(post_message(zds_broker, messages.genereer("zaak")), both)
        identificatie = du02.findtext("{*}zaak/ZKN:identificatie", None, NS)
        assert identificatie
        answer_of(post_message(zds_broker, messages.creeer_zaak(identificatie)), both)
        return identificatie

    with ThreadPoolExecutor(CREATORS) as pool:
        created = list(pool.map(create, range(CREATORS)))
    assert len(set(created)) == CREATORS
    for identificatie in created:
        answer_of(
            post_message(zds_broker, messages.geef_zaakdetails(identificatie)), both
        )


def test_register_lives_in_var_of_the_working_directory(
    zds_broker: RunningBroker,
) -> None:
    """Without settings the database is ./var/zaakregister.db and documents go
    beside it (the broker runs in its base folder)."""
    base = zds_broker.config_dir.parent
    assert (base / "var" / "zaakregister.db").is_file()
    assert (base / "var" / "zaakregister-documenten").is_dir()


# The adapter's settings -------------------------------------------------------


def test_database_setting_wins_over_the_environment() -> None:
    environ = {"EMO_ZAAKREGISTER_URL": "postgresql+psycopg://env/emo"}
    assert database_url({"database": "sqlite:///x.db"}, environ) == "sqlite:///x.db"
    assert database_url({}, environ) == "postgresql+psycopg://env/emo"
    assert database_url({}, {}) == DEFAULT_URL


def test_documents_default_beside_a_sqlite_database() -> None:
    assert documents_folder({}, "sqlite:////srv/emo/zrg.db") == Path(
        "/srv/emo/zaakregister-documenten"
    )
    assert documents_folder({"documents": "/data/docs"}, DEFAULT_URL) == Path(
        "/data/docs"
    )


def test_a_wrong_identificatie_pattern_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no"):
        ZaakregisterAdapter.from_settings(
            "zaakregister",
            {
                "database": f"sqlite:///{tmp_path / 'z.db'}",
                "identificatie_pattern": "{organisatie}-{year}",
            },
            30.0,
        )


def _store_and_read_25_mb(
    broker: RunningBroker, schemas: SchemaRegistry, zaak: str, document: str
) -> tuple[bytes, bytes, float]:
    """Store a 25 MB document and read it back; the peak memory growth."""
    import os

    from tests.esb.conftest import RssSampler

    content = os.urandom(25 * 1024 * 1024)
    answer_of(post_message(broker, messages.creeer_zaak(zaak)), schemas)
    with RssSampler(broker.pid) as memory:
        stored = post(
            broker,
            messages.voeg_zaakdocument_toe(document, zaak, content),
            messages.ZDS12 + "voegZaakdocumentToe_EdcLk01",
        )
        assert stored.status == 200, stored.body[:2000]
        read = post_message(broker, messages.geef_zaakdocument_lezen(document))
    assert read.status == 200, read.body[:2000]
    huge = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    inhoud = etree.fromstring(read.body, huge).findtext(
        f"{{{NS_SOAP11}}}Body/*/ZKN:antwoord/ZKN:object/ZKN:inhoud", None, NS
    )
    assert inhoud is not None
    return content, base64.b64decode(inhoud), memory.growth_mib


@pytest.mark.slow
def test_a_25_mb_document_comes_back_byte_identical(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """voegZaakdocumentToe with 25 MB, then geefZaakdocumentLezen: the same bytes."""
    sent, received, _ = _store_and_read_25_mb(
        zds_broker, both, "0392-2025-0025025", "0392-D2025-0025025"
    )
    assert received == sent


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="FIXME(issue 5): the message is copied several times on its way "
    "(raw bytes, two parses, the answer tree, its serialisation); the peak "
    "grows about 260 MiB for a 25 MB document, the target is 150 MiB",
)
def test_a_25_mb_document_keeps_the_broker_under_150_mib_above_idle(
    zds_broker: RunningBroker, both: SchemaRegistry
) -> None:
    """The broker's peak memory stays under 150 MB above what it used before."""
    _, _, growth = _store_and_read_25_mb(
        zds_broker, both, "0392-2025-0025026", "0392-D2025-0025026"
    )
    assert growth < 150, f"peak grew {growth:.0f} MiB"
