"""Choosing a route: match criteria on real messages, order, sources, validation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from esb.message import Message, Party
from esb.routes import RouteTable, load_routes, normalize_source

WriteRoutes = Callable[..., Path]

DESTINATIONS = """
destinations:
  zaakregister: {type: zaakregister}
  klantregister: {type: klantregister}
  forward: {type: http, url: "http://sink"}
"""


def table_of(write_routes: WriteRoutes, routes: str) -> RouteTable:
    return load_routes(write_routes(DESTINATIONS + routes), {})


def chosen(table: RouteTable, message: Message, source: str = "soap:/stuf/zds") -> str:
    route = table.match(source, message)
    return "-" if route is None else route.id


def test_empty_match_takes_every_message_from_its_source(
    write_routes: WriteRoutes, creeer_zaak: Message, geef_zaakdetails: Message
) -> None:
    """A route without match takes everything from its sources, nothing else."""
    table = table_of(
        write_routes,
        """
routes:
  - {id: zds, from: /stuf/zds, reply: zaakregister}
""",
    )

    assert chosen(table, creeer_zaak) == "zds"
    assert chosen(table, geef_zaakdetails) == "zds"
    assert chosen(table, creeer_zaak, "soap:/stuf/bg") == "-"


def test_first_matching_route_in_file_order_wins(
    write_routes: WriteRoutes,
    creeer_zaak: Message,
    geef_zaakdetails: Message,
    genereer_zaakidentificatie: Message,
) -> None:
    """Routes are tried top to bottom; the first whose match holds is chosen."""
    table = table_of(
        write_routes,
        """
routes:
  - {id: kennisgevingen, from: /stuf/zds, match: {berichtcode: Lk01},
     publish: forward}
  - {id: zaken, from: /stuf/zds, match: {entiteittype: ZAK}, reply: zaakregister}
  - {id: rest, from: /stuf/zds, reply: zaakregister}
""",
    )

    # creeerZaak is both a kennisgeving and about ZAK: the first route wins.
    assert chosen(table, creeer_zaak) == "kennisgevingen"
    assert chosen(table, geef_zaakdetails) == "zaken"
    # genereerZaakIdentificatie (Di02) has no entiteittype at all.
    assert chosen(table, genereer_zaakidentificatie) == "rest"


@pytest.mark.parametrize(
    ("match", "creeer_zaak_taken", "geef_zaakdetails_taken"),
    [
        ("operation: creeerZaak", True, False),
        ("operation: [updateZaak, geefZaakdetails]", False, True),
        ("berichtcode: [Lk01, Lv01]", True, True),
        ("entiteittype: ZAK", True, True),
        ("mutatiesoort: T", True, False),
        ("flavour: zds-1.2", False, True),
        ("zender: {applicatie: GISVG}", True, False),
        ("zender: {organisatie: '0392'}", False, True),
        ("zender: {organisatie: '1900', applicatie: [GISVG, X]}", True, False),
        ("zender: {organisatie: '1900', applicatie: X}", False, False),
        ("ontvanger: {applicatie: [ZDS, ZSH]}", True, True),
        ("zender: {gebruiker: someone}", False, False),
        (
            "soap_action: http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01",
            True,
            False,
        ),
        ("{berichtcode: Lk01, zender: {applicatie: Zaaksyeem}}", False, False),
    ],
)
def test_each_criterion_takes_only_the_messages_it_names(
    write_routes: WriteRoutes,
    creeer_zaak: Message,
    geef_zaakdetails: Message,
    match: str,
    creeer_zaak_taken: bool,
    geef_zaakdetails_taken: bool,
) -> None:
    """Every criterion holds for any of its values; all criteria must hold."""
    if not match.startswith("{"):
        match = "{" + match + "}"
    (route,) = table_of(
        write_routes,
        f"""
routes:
  - id: r
    from: [/stuf/zds]
    match: {match}
    reply: zaakregister
""",
    ).routes

    assert route.matches(creeer_zaak) is creeer_zaak_taken
    assert route.matches(geef_zaakdetails) is geef_zaakdetails_taken


def test_soap_action_matches_with_or_without_quotes(
    write_routes: WriteRoutes, genereer_zaakidentificatie: Message
) -> None:
    """SOAP 1.1 quotes the SOAPAction; a route matches it either way."""
    action = "http://www.egem.nl/StUF/sector/zkn/0310/genereerZaakIdentificatie_Di02"
    (route,) = table_of(
        write_routes,
        f"""
routes:
  - id: r
    from: /stuf/zds
    match: {{soap_action: '"{action}"'}}
    reply: zaakregister
""",
    ).routes
    ident = genereer_zaakidentificatie.identification
    assert ident is not None and ident.soap_action == f'"{action}"'

    assert route.matches(genereer_zaakidentificatie)
    genereer_zaakidentificatie.identification = dataclasses.replace(
        ident, soap_action=action
    )
    assert route.matches(genereer_zaakidentificatie)


def test_xpath_uses_the_routes_own_prefixes_on_a_real_message(
    write_routes: WriteRoutes, creeer_zaak: Message, geef_zaakdetails: Message
) -> None:
    """XPath is evaluated on the StUF message with the route's namespaces."""
    table = table_of(
        write_routes,
        """
routes:
  - id: omgevingsvergunning
    from: /stuf/zds
    namespaces:
      z: http://www.egem.nl/StUF/sector/zkn/0310
      bg: http://www.egem.nl/StUF/sector/bg/0310
    match:
      xpath: >-
        z:object/z:isVan/z:gerelateerde/z:code = 'B1210'
        and z:object//bg:postcode = '8601CR'
    publish: forward
  - id: zaak-0392
    from: /stuf/zds
    match:
      xpath: "ZKN:gelijk/ZKN:identificatie[starts-with(., '0392-')]"
    reply: zaakregister
""",
    )

    assert chosen(table, creeer_zaak) == "omgevingsvergunning"
    assert chosen(table, geef_zaakdetails) == "zaak-0392"


def test_xpath_list_takes_a_message_when_any_expression_holds(
    write_routes: WriteRoutes, creeer_zaak: Message, geef_zaakdetails: Message
) -> None:
    """A list of XPath expressions means any of them; false, 0 and '' do not."""
    (route,) = table_of(
        write_routes,
        """
routes:
  - id: r
    from: /stuf/zds
    match:
      xpath:
        - "false()"
        - "count(ZKN:nothing)"
        - "string(ZKN:nothing)"
        - "number('x')"
        - "ZKN:object/ZKN:identificatie = '1900852'"
    reply: zaakregister
""",
    ).routes

    assert route.matches(creeer_zaak)
    assert not route.matches(geef_zaakdetails)


def test_message_without_identification_meets_only_body_criteria(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """A plain-HTTP message nobody identified can still be routed by XPath."""
    creeer_zaak.identification = None
    table = table_of(
        write_routes,
        """
routes:
  - {id: by-code, from: /stuf/zds, match: {berichtcode: Lk01}, publish: forward}
  - {id: by-xpath, from: /stuf/zds, match: {xpath: "ZKN:object"}, publish: forward}
""",
    )

    assert chosen(table, creeer_zaak) == "by-xpath"


def test_one_route_serves_several_sources_and_bare_paths_mean_soap(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """from: [...] lists sources; /stuf/zds is soap:/stuf/zds, trailing / aside."""
    table = table_of(
        write_routes,
        """
sources:
  inbox: {type: file, path: /tmp/emo-inbox}
  stuf-in: {type: amqp, url: "amqp://guest:guest@127.0.0.1:5672/%2F"}
routes:
  - {id: r, from: [/stuf/zds/, "http:/stuf/plain", "AMQP:stuf-in", "file:inbox"],
     reply: zaakregister}
""",
    )

    assert table.sources() == {
        "soap:/stuf/zds",
        "http:/stuf/plain",
        "amqp:stuf-in",
        "file:inbox",
    }
    for source in ("soap:/stuf/zds", "/stuf/zds", "amqp:stuf-in", "file:inbox"):
        assert chosen(table, creeer_zaak, source) == "r"
    assert chosen(table, creeer_zaak, "file:elsewhere") == "-"
    assert chosen(table, creeer_zaak, "not a source") == "-"


@pytest.mark.parametrize(
    ("written", "normal"),
    [
        ("/stuf/zds", "soap:/stuf/zds"),
        ("soap:/stuf/zds/", "soap:/stuf/zds"),
        ("HTTP:/stuf/plain", "http:/stuf/plain"),
        ("file:inbox", "file:inbox"),
        ("amqp:stuf.in", "amqp:stuf.in"),
        ("soap:/", "soap:/"),
    ],
)
def test_source_names_are_normalised(written: str, normal: str) -> None:
    """Source names have one canonical kind:target form."""
    assert normalize_source(written) == normal


@pytest.mark.parametrize(
    "written", ["stuf", "ftp:x", "soap:stuf", "http:/a b", "soap:/a?b=1", "amqp:"]
)
def test_malformed_source_names_are_refused(written: str) -> None:
    """A source name that is not kind:target is a ValueError saying why."""
    with pytest.raises(ValueError):
        normalize_source(written)


# -- validation mode: sender override > route step > default --------------------

PRECEDENCE = """
validation:
  default: off
  senders:
    - {applicatie: GISVG, mode: report}
    - {applicatie: GISVG, organisatie: "1900", mode: strict}
    - {applicatie: Zaaksyeem, organisatie: "9999", mode: strict}
routes:
  - {id: checked, from: /stuf/zds, match: {berichtcode: Lv01},
     steps: [{validate: report}], reply: zaakregister}
  - {id: plain, from: /stuf/zds, reply: zaakregister}
"""


def test_sender_override_with_organisatie_wins_over_everything(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """GISVG of organisatie 1900 gets its own mode, whatever the route says."""
    table = table_of(write_routes, PRECEDENCE)
    route = table.match("soap:/stuf/zds", creeer_zaak)

    assert table.validation_mode(route, creeer_zaak) == "strict"
    assert table.validation_mode(None, creeer_zaak) == "strict"


def test_sender_override_by_applicatie_applies_to_any_organisatie(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """An override without organisatie holds for the applicatie anywhere."""
    table = table_of(write_routes, PRECEDENCE)
    ident = creeer_zaak.identification
    assert ident is not None
    creeer_zaak.identification = dataclasses.replace(
        ident,
        stuurgegevens=dataclasses.replace(
            ident.stuurgegevens, zender=Party(organisatie="0363", applicatie="GISVG")
        ),
    )

    assert table.validation_mode(table.routes[1], creeer_zaak) == "report"


def test_route_step_decides_when_no_sender_override_applies(
    write_routes: WriteRoutes, geef_zaakdetails: Message
) -> None:
    """Zaaksyeem of 0392 has no override (only of 9999): the route's step holds."""
    table = table_of(write_routes, PRECEDENCE)
    route = table.match("soap:/stuf/zds", geef_zaakdetails)

    assert route is not None and route.id == "checked"
    assert table.validation_mode(route, geef_zaakdetails) == "report"


def test_default_mode_holds_without_override_or_step(
    write_routes: WriteRoutes, geef_zaakdetails: Message
) -> None:
    """No override, no validate step: the file's default mode."""
    table = table_of(write_routes, PRECEDENCE)

    assert table.validation_mode(table.routes[1], geef_zaakdetails) == "off"
    assert table.validation_mode(None, geef_zaakdetails) == "off"


def test_default_validation_mode_is_report(
    write_routes: WriteRoutes, creeer_zaak: Message
) -> None:
    """Without a validation section the mode is report: real clients are sloppy."""
    table = table_of(
        write_routes, "routes:\n  - {id: r, from: /stuf/zds, reply: zaakregister}\n"
    )

    assert table.validation_mode(table.routes[0], creeer_zaak) == "report"
