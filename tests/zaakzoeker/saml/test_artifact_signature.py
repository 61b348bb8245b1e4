"""The ArtifactResponse's own signature, checked on the XML as received.

The IdP of idp.py signs each ArtifactResponse at /ars. To play a man in the
middle (or a broken IdP), a test changes the signed message on its way out,
through the IdP's own signer; the Response inside stays genuinely signed,
so the ArtifactResponse's signature is the check that has to refuse it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from saml2.sigver import read_cert_from_file  # type: ignore[import-untyped]

from tests.zaakzoeker.idp import RunningIdp, make_keys
from tests.zaakzoeker.sp import refused, sp_settings
from zaakzoeker.saml.config import SamlSettings
from zaakzoeker.saml.login import SamlLogin
from zaakzoeker.saml.signature import ARTIFACT_RESPONSE

DS = "http://www.w3.org/2000/09/xmldsig#"


@pytest.fixture(scope="module")
def settings(folder: Path) -> SamlSettings:
    return sp_settings(folder, acs_binding="artifact")


def artifact_for(idp: RunningIdp, login: SamlLogin) -> tuple[str, str]:
    """burger1 logs in: the artifact the browser brings back, and the id
    of the request it answers."""
    url, request_id = login.begin()
    saml_art = idp.respond(url, "burger1").saml_art
    assert saml_art is not None
    return saml_art, request_id


def spoil_after_signing(
    idp: RunningIdp,
    monkeypatch: pytest.MonkeyPatch,
    spoil: Callable[[etree._Element], list[etree._Element]],
) -> None:
    """From now on ``spoil`` changes each ArtifactResponse the IdP signs,
    after signing; the elements it returns go into the SOAP Body."""
    sign = idp.server.sec.sign_statement

    def signed_then_spoiled(statement: str, node_name: str, **options: Any) -> str:
        signed = str(sign(statement, node_name, **options))
        if node_name != ARTIFACT_RESPONSE:
            return signed
        body = spoil(etree.fromstring(signed.encode("utf-8")))
        return "".join(etree.tostring(element, encoding="unicode") for element in body)

    monkeypatch.setattr(idp.server.sec, "sign_statement", signed_then_spoiled)


def test_typed_attribute_values_pass_behind_an_artifact(
    idp: RunningIdp, login: SamlLogin
) -> None:
    """An IdP types each attribute value (xsi:type="xs:string", xs declared
    on the value itself); the ArtifactResponse around it still passes, its
    schema and signature checked on the XML as received (issue 7)."""
    url, request_id = login.begin()
    antwoord = idp.respond(url, "burger1", attributes={"rollen": ["medewerker"]})
    assert antwoord.saml_art is not None
    assert 'xsi:type="xs:string"' in idp.artifacts[antwoord.saml_art]

    identity = login.finish_artifact(antwoord.saml_art, request_id)
    assert identity.attributes["rollen"] == ["medewerker"]
    assert identity.bsn == "999993653"


def test_an_artifact_response_changed_after_signing_is_refused(
    idp: RunningIdp, login: SamlLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its IssueInstant is covered by no signature but the ArtifactResponse's
    own."""

    def backdate(root: etree._Element) -> list[etree._Element]:
        root.set("IssueInstant", "2001-01-01T00:00:00Z")
        return [root]

    spoil_after_signing(idp, monkeypatch, backdate)
    saml_art, request_id = artifact_for(idp, login)
    assert refused(login.finish_artifact, saml_art, request_id).reden == "handtekening"


def test_an_artifact_response_without_signature_is_refused(
    idp: RunningIdp, login: SamlLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unsign(root: etree._Element) -> list[etree._Element]:
        signature = root.find(f"{{{DS}}}Signature")
        assert signature is not None
        root.remove(signature)
        return [root]

    spoil_after_signing(idp, monkeypatch, unsign)
    saml_art, request_id = artifact_for(idp, login)
    assert refused(login.finish_artifact, saml_art, request_id).reden == "handtekening"


def test_an_artifact_response_signed_by_a_key_not_in_the_metadata_is_refused(
    folder: Path, idp: RunningIdp, login: SamlLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The IdP signs with a stranger's key and puts the stranger's
    certificate in KeyInfo: only the metadata's certificates count."""
    saml_art, request_id = artifact_for(idp, login)
    stranger = make_keys(folder / "vreemd-ars", "vreemd")
    monkeypatch.setattr(idp.server.sec, "key_file", str(stranger.key_file))
    monkeypatch.setattr(
        idp.server.sec, "my_cert", read_cert_from_file(str(stranger.cert_file), "pem")
    )
    assert refused(login.finish_artifact, saml_art, request_id).reden == "handtekening"


def test_a_wrapped_artifact_response_is_refused(
    idp: RunningIdp, login: SamlLogin, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Signature wrapping: a forged ArtifactResponse with the genuine one's
    ID and signature where the SP reads it, the genuine one hidden beside it
    in the SOAP Body. EMO's own check refuses it: the ID occurs twice."""

    def wrap(root: etree._Element) -> list[etree._Element]:
        hidden = etree.Element("{urn:test:wrap}Wrap")
        hidden.append(copy.deepcopy(root))
        root.set("IssueInstant", "2001-01-01T00:00:00Z")  # the forgery
        return [hidden, root]

    spoil_after_signing(idp, monkeypatch, wrap)
    saml_art, request_id = artifact_for(idp, login)
    fout = refused(login.finish_artifact, saml_art, request_id)
    assert fout.reden == "handtekening"
    assert "ID occurs more than once" in str(fout.__cause__)
