"""Large document content kept out of memory: decoded into the blob store
while the request is parsed, streamed from it into the serialised answer."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from esb.adapters.base import Outbound
from esb.adapters.zaakregister import STREAM_BYTES, ZaakregisterAdapter
from esb.envelope import open_envelope, parse_xml, soap_envelope
from esb.errors import StufFault
from esb.identify import identify
from esb.schemaset import SchemaRegistry
from registers.zaakregister import Zaakregister, inhoud
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import NS, Client, soap_action

ZAAK = "0392-2025-0000001"
DOC = "0392-D2025-0000001"
CONTENT = os.urandom(300_000) + b"\x00\xff" * 1000


def blobs(register: Zaakregister) -> list[Path]:
    folder = register.config.documents
    return sorted(p for p in folder.rglob("*") if p.is_file())


def test_parse_decodes_inhoud_into_a_blob(register: Zaakregister) -> None:
    """The tree is the message's, except that inhoud is empty and names the
    blob holding exactly the content sent."""
    raw = messages.voeg_zaakdocument_toe(DOC, ZAAK, CONTENT)
    root, keys = inhoud.parse(raw, register.blobs)
    body = open_envelope(root).body
    [element] = body.iterfind(".//ZKN:inhoud", NS)
    assert element.text is None
    found = inhoud.stored(element)
    assert found is not None and [found[0]] == keys
    assert found[1] == len(CONTENT)
    assert register.blobs.read(found[0]) == CONTENT
    assert body.findtext("ZKN:object/ZKN:titel", None, NS) == "Ontvangstbevestiging"
    assert element.get("{http://www.egem.nl/StUF/StUF0301}bestandsnaam") == "brief.pdf"


def test_the_register_takes_the_parsed_blob(
    client: Client, register: Zaakregister, schemas: SchemaRegistry
) -> None:
    """voegZaakdocumentToe with a prestored blob keeps that blob (no second
    copy); geefZaakdocumentLezen answered as bytes carries it byte for byte,
    in an answer the official schema accepts."""
    client.send(messages.creeer_zaak(ZAAK))
    raw = messages.voeg_zaakdocument_toe(DOC, ZAAK, CONTENT)
    root, keys = inhoud.parse(raw, register.blobs)
    body = open_envelope(root).body
    register.answer(
        identify(body, soap_action(raw)), body, soap_envelope, prestored=keys
    )
    assert [p.name for p in blobs(register)] == [keys[0].split("/")[1]]

    lees = messages.geef_zaakdocument_lezen(DOC)
    lees_body = open_envelope(parse_xml(lees)).body
    answer = register.answer(
        identify(lees_body, soap_action(lees)), lees_body, soap_envelope
    )
    bericht = open_envelope(parse_xml(answer)).body
    assert schemas.validate(bericht) == []
    sent = bericht.findtext("ZKN:antwoord/ZKN:object/ZKN:inhoud", None, NS)
    assert sent is not None and base64.b64decode(sent) == CONTENT


def test_a_blob_no_operation_takes_is_deleted(
    client: Client, register: Zaakregister
) -> None:
    """A request that is no document operation leaves no blob behind, and
    neither does one the register refuses."""
    client.send(messages.creeer_zaak(ZAAK))
    stray = register.blobs.write_base64(base64.b64encode(b"niets").decode())[0]
    vraag = messages.geef_zaakdetails(ZAAK)
    body = open_envelope(parse_xml(vraag)).body
    register.answer(
        identify(body, soap_action(vraag)), body, soap_envelope, prestored=[stray]
    )
    assert blobs(register) == []

    raw = messages.voeg_zaakdocument_toe(DOC, "0392-2025-9999999", CONTENT)
    root, keys = inhoud.parse(raw, register.blobs)
    body = open_envelope(root).body
    with pytest.raises(StufFault) as refused:
        register.answer(
            identify(body, soap_action(raw)), body, soap_envelope, prestored=keys
        )
    assert refused.value.code == "StUF064"
    assert blobs(register) == []


def test_bad_base64_is_refused_while_parsing(register: Zaakregister) -> None:
    raw = messages.voeg_zaakdocument_toe(DOC, ZAAK, CONTENT).replace(
        b"</ZKN:inhoud>", b"!!</ZKN:inhoud>"
    )
    with pytest.raises(StufFault) as refused:
        inhoud.parse(raw, register.blobs)
    assert refused.value.code == "StUF055"
    assert "base64" in refused.value.omschrijving
    assert blobs(register) == []


def test_a_doctype_is_refused(register: Zaakregister) -> None:
    raw = b'<!DOCTYPE x [<!ENTITY a "b">]>' + messages.creeer_zaak(ZAAK)
    with pytest.raises(StufFault) as refused:
        inhoud.parse(raw, register.blobs)
    assert refused.value.code == "StUF055"


def test_the_adapter_streams_a_large_document_both_ways(tmp_path: Path) -> None:
    """Through the broker's adapter, a document larger than STREAM_BYTES goes
    in and comes back byte-identical."""
    adapter = ZaakregisterAdapter.from_settings(
        "zaakregister", {"database": f"sqlite:///{tmp_path / 'z.db'}"}, 30.0
    )
    content = os.urandom(STREAM_BYTES * 2)
    try:
        for raw in (
            messages.creeer_zaak(ZAAK),
            messages.voeg_zaakdocument_toe(DOC, ZAAK, content),
        ):
            assert len(raw) > STREAM_BYTES or b"creeerZaak" in raw
            delivered = adapter._deliver(Outbound("m", raw, soap_action(raw), None))
            assert delivered.status == 200, delivered.answer
        lees = messages.geef_zaakdocument_lezen(DOC)
        delivered = adapter._deliver(Outbound("m", lees, soap_action(lees), None))
    finally:
        adapter.close()
    assert delivered.answer is not None
    bericht = open_envelope(parse_xml(delivered.answer)).body
    sent = bericht.findtext("ZKN:antwoord/ZKN:object/ZKN:inhoud", None, NS)
    assert sent is not None and base64.b64decode(sent) == content
