"""Route steps on real messages: transform, set, wiretap, and their order."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree

from esb.errors import StufFault
from esb.message import NS_SOAP11, NS_STUF, NS_ZDS, NS_ZKN, Message, Party
from esb.routes import Route, SetStuurgegevens, Transform, load_routes

WriteRoutes = Callable[..., Path]

# Turns a ZDS 1.1 generic zakLk01 into the ZDS 1.2 creeerZaak_ZakLk01 element,
# children unchanged, and stamps a parameter in an attribute.
TO_ZDS_12 = f"""<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:zkn="{NS_ZKN}" xmlns:zds="{NS_ZDS}">
  <xsl:param name="via"/>
  <xsl:template match="/zkn:zakLk01">
    <zds:creeerZaak_ZakLk01 via="{{$via}}">
      <xsl:apply-templates select="@*|node()"/>
    </zds:creeerZaak_ZakLk01>
  </xsl:template>
  <xsl:template match="@*|node()">
    <xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
  </xsl:template>
</xsl:stylesheet>
"""

ROUTES = """
destinations:
  zaakregister: {type: zaakregister}
  audit: {type: file, path: /tmp/audit}
routes:
  - id: r
    from: /stuf/zds
    steps:
{steps}
    reply: zaakregister
"""


def route_with(write_routes: WriteRoutes, *steps: str) -> Route:
    text = ROUTES.replace("{steps}", "\n".join(f"      - {step}" for step in steps))
    (route,) = load_routes(write_routes(text), {}).routes
    return route


def stuurgegevens(message: Message) -> etree._Element:
    assert message.body is not None
    found = message.body.find(f"{{{NS_ZKN}}}stuurgegevens")
    assert found is not None
    return found


def party_xml(message: Message, party: str) -> list[tuple[str, str | None]]:
    element = stuurgegevens(message).find(f"{{{NS_STUF}}}{party}")
    assert element is not None
    return [(etree.QName(child).localname, child.text) for child in element]


# -- transform --------------------------------------------------------------------


def test_transform_replaces_the_body_and_its_place_in_the_envelope(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """The XSLT result becomes message.body, inside the same SOAP Body."""
    write_routes(TO_ZDS_12, "to-zds-12.xsl")
    route = route_with(
        write_routes,
        'transform: {stylesheet: to-zds-12.xsl, parameters: {via: "EMO\'s route"}}',
    )
    identification = creeer_zaak.identification

    assert route.run_steps(creeer_zaak) == ()

    body = creeer_zaak.body
    assert body is not None and body.tag == f"{{{NS_ZDS}}}creeerZaak_ZakLk01"
    assert body.get("via") == "EMO's route"
    assert body.findtext(f"{{{NS_ZKN}}}object/{{{NS_ZKN}}}identificatie") == "1900852"
    assert creeer_zaak.envelope is not None
    soap_body = creeer_zaak.envelope.find(f"{{{NS_SOAP11}}}Body")
    assert soap_body is not None and list(soap_body) == [body]
    assert creeer_zaak.identification is identification, "describes what was received"


def test_transform_that_terminates_is_a_server_fault(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """xsl:message terminate="yes" becomes StUF058 with the stylesheet's words."""
    write_routes(
        '<xsl:stylesheet version="1.0" '
        'xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:template match="/"><xsl:message terminate="yes">no zaak here'
        "</xsl:message></xsl:template></xsl:stylesheet>",
        "stop.xsl",
    )
    route = route_with(write_routes, "transform: stop.xsl")

    with pytest.raises(StufFault) as caught:
        route.run_steps(creeer_zaak)

    assert (caught.value.code, caught.value.plek) == ("StUF058", "server")
    assert caught.value.details is not None and "stop.xsl" in caught.value.details


def test_transform_without_an_element_result_is_a_server_fault(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """A stylesheet that outputs only text cannot become a message body."""
    write_routes(
        '<xsl:stylesheet version="1.0" '
        'xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        '<xsl:output method="text"/><xsl:template match="/">text</xsl:template>'
        "</xsl:stylesheet>",
        "text.xsl",
    )
    route = route_with(write_routes, "transform: text.xsl")

    with pytest.raises(StufFault, match="StUF058"):
        route.run_steps(creeer_zaak)


def test_stylesheet_may_not_write_files(
    write_routes: WriteRoutes, creeer_zaak: Message, tmp_path: Path
) -> None:
    """exsl:document (writing a file) is refused by the access control."""
    target = tmp_path / "leak.xml"
    write_routes(
        '<xsl:stylesheet version="1.0" '
        'xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        'xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">'
        f'<xsl:template match="/"><exsl:document href="{target}">'
        '<xsl:copy-of select="."/></exsl:document><done/></xsl:template>'
        "</xsl:stylesheet>",
        "write.xsl",
    )
    route = route_with(write_routes, "transform: write.xsl")

    with pytest.raises(StufFault, match="StUF058"):
        route.run_steps(creeer_zaak)
    assert not target.exists()


def test_stylesheet_may_not_read_from_the_network(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """document('http://...') does not connect anywhere."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        write_routes(
            '<xsl:stylesheet version="1.0" '
            'xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
            '<xsl:template match="/"><got>'
            f"<xsl:copy-of select=\"document('http://127.0.0.1:{port}/x.xml')\"/>"
            "</got></xsl:template></xsl:stylesheet>",
            "fetch.xsl",
        )
        route = route_with(write_routes, "transform: fetch.xsl")

        try:
            route.run_steps(creeer_zaak)
        except StufFault:
            pass  # refusing loudly is as good as refusing quietly

        # Had libxslt connected, the kernel would hold the connection for us.
        with pytest.raises(BlockingIOError):
            listener.accept()


# -- set --------------------------------------------------------------------------


def test_set_rewrites_stuurgegevens_and_identification_together(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """set changes the XML and message.identification alike; missing fields
    are created in StUF schema order, null removes one."""
    route = route_with(
        write_routes,
        "set: {ontvanger.applicatie: ZSH, zender.gebruiker: jan, "
        "zender.organisatie: '0392', ontvanger.organisatie: ~, "
        "zender.administratie: zaken}",
    )

    route.run_steps(creeer_zaak)

    assert party_xml(creeer_zaak, "zender") == [
        ("organisatie", "0392"),
        ("applicatie", "GISVG"),
        ("administratie", "zaken"),
        ("gebruiker", "jan"),
    ]
    assert party_xml(creeer_zaak, "ontvanger") == [("applicatie", "ZSH")]
    assert creeer_zaak.identification is not None
    sg = creeer_zaak.identification.stuurgegevens
    assert sg.zender == Party("0392", "GISVG", "zaken", "jan")
    assert sg.ontvanger == Party(None, "ZSH")
    assert sg.referentienummer == "9fc3e711-869f-44a6-aba9-1b21e21841e4"


def test_set_creates_elements_with_the_senders_own_stuf_prefix(
    write_routes: WriteRoutes, geef_zaakdetails: Message
) -> None:
    """Haarlem writes StUF as 'stuf:'; new elements use that prefix, not ns0."""
    route = route_with(write_routes, "set: {ontvanger.gebruiker: emo}")

    route.run_steps(geef_zaakdetails)

    ontvanger = stuurgegevens(geef_zaakdetails).find(f"{{{NS_STUF}}}ontvanger")
    assert ontvanger is not None
    assert b"<stuf:gebruiker>emo</stuf:gebruiker>" in etree.tostring(ontvanger)


def test_set_replaces_a_stuf_no_value(creeer_zaak: Message) -> None:
    """A value replaces xsi:nil and StUF:noValue on the element it sets."""
    gebruiker = etree.SubElement(
        stuurgegevens(creeer_zaak).find(f"{{{NS_STUF}}}zender"),  # type: ignore[arg-type]
        f"{{{NS_STUF}}}gebruiker",
        {
            "{http://www.w3.org/2001/XMLSchema-instance}nil": "true",
            f"{{{NS_STUF}}}noValue": "geenWaarde",
        },
    )

    SetStuurgegevens((("zender", "gebruiker", "jan"),)).apply(creeer_zaak)

    assert gebruiker.text == "jan"
    assert len(gebruiker.attrib) == 0


def test_set_on_a_body_without_stuurgegevens_is_a_server_fault(
    creeer_zaak: Message,
) -> None:
    """Without stuurgegevens there is nothing to set: StUF058."""
    creeer_zaak.body = etree.Element("nothing")

    with pytest.raises(StufFault, match="StUF058"):
        SetStuurgegevens((("zender", "applicatie", "X"),)).apply(creeer_zaak)


# -- wiretap and order ------------------------------------------------------------


def test_wiretap_copies_the_message_as_it_is_at_its_step(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """Steps run in order; the wiretap copy keeps the state at its step and
    changes after it do not reach the copy."""
    route = route_with(
        write_routes,
        "set: {ontvanger.applicatie: FIRST}",
        "wiretap: audit",
        "set: {ontvanger.applicatie: SECOND}",
    )

    (tap,) = route.run_steps(creeer_zaak)

    assert tap.destination == "audit"
    assert party_xml(tap.message, "ontvanger")[-1] == ("applicatie", "FIRST")
    assert party_xml(creeer_zaak, "ontvanger")[-1] == ("applicatie", "SECOND")
    assert tap.message.identification is not None
    assert tap.message.identification.stuurgegevens.ontvanger.applicatie == "FIRST"
    assert tap.message.id == creeer_zaak.id
    assert tap.message.envelope is not creeer_zaak.envelope
    assert tap.message.body is not None
    assert tap.message.body.getroottree().getroot() is tap.message.envelope


def test_validate_step_changes_nothing_and_sets_the_routes_mode(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """validate is read by the validator before routing; as a step it is inert."""
    route = route_with(write_routes, "validate: {mode: off}")
    before = etree.tostring(creeer_zaak.envelope)  # type: ignore[arg-type]

    assert route.run_steps(creeer_zaak) == ()
    assert etree.tostring(creeer_zaak.envelope) == before  # type: ignore[arg-type]
    assert route.validation == "off"
    assert not route.alters_message, "the original bytes can be delivered"


def test_transform_step_is_reusable_across_messages(
    write_routes: WriteRoutes, creeer_zaak: Message, example: Callable[..., Message]
) -> None:
    """One compiled stylesheet serves every message the route takes."""
    write_routes(TO_ZDS_12, "to-zds-12.xsl")
    route = route_with(write_routes, "transform: to-zds-12.xsl")
    (step,) = route.steps
    assert isinstance(step, Transform)
    other = example(
        "regressions/Issue235-creeerZaak_Lk01.request.xml",
        operation="creeerZaak",
        flavour="zds-1.1",
    )

    route.run_steps(creeer_zaak)
    route.run_steps(other)

    assert creeer_zaak.body is not None and other.body is not None
    assert creeer_zaak.body.tag == other.body.tag == f"{{{NS_ZDS}}}creeerZaak_ZakLk01"
