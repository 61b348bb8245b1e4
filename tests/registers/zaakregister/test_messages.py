"""The requests this suite builds are standard: each validates against the
official schemas, in its ZDS 1.2 form and, for the vrije berichten, in its
ZDS 1.1 form too."""

from __future__ import annotations

import pytest

from esb.envelope import open_envelope, parse_xml
from esb.schemaset import SchemaRegistry
from tests.registers.zaakregister import messages as m

ZAAK = "0392-2025-0000001"
DOC = "0392-D2025-0000001"

REQUESTS = {
    "creeerZaak": m.creeer_zaak(
        ZAAK, statussen=m.status("1", "Ontvangen", "20250301090000000")
    ),
    "creeerZaak (NNP)": m.creeer_zaak(
        ZAAK, initiator=m.initiator_nnp("002564440", "BV")
    ),
    "updateZaak": m.update_zaak(
        ZAAK,
        "<ZKN:omschrijving>a</ZKN:omschrijving>",
        "<ZKN:omschrijving>b</ZKN:omschrijving>",
    ),
    "actualiseerZaakstatus": m.actualiseer_zaakstatus(
        ZAAK, m.status("2", "In behandeling", "20250302")
    ),
    "geefZaakdetails": m.geef_zaakdetails(ZAAK),
    "geefZaakstatus": m.geef_zaakstatus(ZAAK, alleen_laatste=True),
    "geefLijstZaakdocumenten": m.geef_lijst_zaakdocumenten(ZAAK),
    "zakLv01 (initiator)": m.zoek_zaken(m.by_initiator("111111110"), maximum=5),
    "zakLv01 (zaaktype)": m.zoek_zaken(m.by_zaaktype("B1210")),
    "genereerZaakIdentificatie": m.genereer("zaak"),
    "genereerDocumentIdentificatie": m.genereer("document"),
    "voegZaakdocumentToe": m.voeg_zaakdocument_toe(DOC, ZAAK, b"inhoud"),
    "maakZaakdocument": m.maak_zaakdocument(DOC, ZAAK),
    "geefZaakdocumentLezen": m.geef_zaakdocument_lezen(DOC),
    "edcLv01": m.geef_zaakdocument_lezen(DOC, zds12=False),
    "geefZaakdocumentBewerken": m.geef_zaakdocument_bewerken(DOC),
    "updateZaakdocument": m.update_zaakdocument(
        DOC, "id", oude_titel="a", nieuwe_titel="b", content=b"x"
    ),
    "cancelCheckout": m.cancel_checkout(DOC, "id"),
}
VRIJE_BERICHTEN = (
    "genereerZaakIdentificatie",
    "genereerDocumentIdentificatie",
    "geefZaakdocumentBewerken",
    "updateZaakdocument",
    "cancelCheckout",
)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_request_is_valid_zds(name: str, schemas: SchemaRegistry) -> None:
    """The request validates against the official ZDS 1.2 schemas."""
    body = open_envelope(parse_xml(REQUESTS[name])).body
    assert schemas.validate(body) == []


@pytest.mark.parametrize("name", VRIJE_BERICHTEN)
def test_vrij_bericht_is_valid_zds_11(name: str, schemas: SchemaRegistry) -> None:
    """The vrij bericht in its ZDS 1.1 form validates against ZDS 1.1.02."""
    body = open_envelope(parse_xml(m.as_zds11(REQUESTS[name]))).body
    assert schemas.validate(body) == []
