"""DigiD's way back: HTTP-Artifact, resolved over SOAP with the IdP.

The browser brings only a SAMLart; the SP sends a signed ArtifactResolve to
the IdP's ArtifactResolutionService and checks the signed ArtifactResponse
and the Response inside it, both with xmlsec1. The IdP is the same real
pysaml2 IdP as in test_login.py, serving /ars over HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from saml2.response import IncorrectlySigned  # type: ignore[import-untyped]

from tests.zaakzoeker.idp import RunningIdp, make_keys, start_idp
from tests.zaakzoeker.sp import USERS, forms, refused, sp_settings
from zaakzoeker.saml.config import SamlSettings
from zaakzoeker.saml.login import SamlLogin


@pytest.fixture(scope="module")
def settings(folder: Path) -> SamlSettings:
    return sp_settings(folder, acs_binding="artifact")


def artifact_for(idp: RunningIdp, login: SamlLogin) -> tuple[str, str]:
    """burger1 logs in at ``idp`` for ``login``: the artifact the browser
    brings back, and the request id it answers."""
    url, request_id = login.begin()
    saml_art = idp.respond(url, "burger1").saml_art
    assert saml_art is not None
    return saml_art, request_id


def test_a_citizen_logs_in_with_an_artifact_over_http(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    with urllib.request.urlopen(url) as page:
        login_form = forms(page.read().decode())[0]
    fields = {k: v for k, v in login_form.items() if not k.startswith("@")}
    fields |= {"gebruikersnaam": "burger2", "actie": "inloggen"}

    parts = urllib.parse.urlsplit(idp.url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    connection.request(
        "POST",
        "/login",
        urllib.parse.urlencode(fields),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    answer = connection.getresponse()
    assert answer.status == 303
    back = urllib.parse.urlsplit(answer.headers["Location"])
    assert urllib.parse.urlunsplit(back._replace(query="")) == login.settings.acs_url
    query = urllib.parse.parse_qs(back.query)
    # Only the reference passes the browser, never the BSN.
    assert "999990019" not in base64.b64decode(query["SAMLart"][0]).hex()

    identity = login.finish_artifact(query["SAMLart"][0], request_id)
    assert (identity.bsn, identity.level) == ("999990019", "midden")
    assert idp.authn_requests[-1].protocol_binding.endswith("HTTP-Artifact")
    assert idp.artifacts == {}  # resolved once, then gone


def test_a_cancelled_login_comes_back_as_an_artifact_too(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    saml_art = idp.cancel(url).saml_art
    assert saml_art is not None
    assert refused(login.finish_artifact, saml_art, request_id).reden == "geannuleerd"


def test_an_artifact_resolved_twice_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    saml_art, request_id = artifact_for(idp, login)
    login.finish_artifact(saml_art, request_id)
    assert refused(login.finish_artifact, saml_art, request_id).reden == "herhaald"


def test_an_artifact_the_idp_does_not_know_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    _url, request_id = login.begin()
    source = hashlib.sha1(idp.entity_id.encode()).digest()
    unknown = base64.b64encode(b"\x00\x04\x00\x00" + source + bytes(20)).decode()
    assert refused(login.finish_artifact, unknown, request_id).reden == "ongeldig"


def test_a_spoiled_response_behind_an_artifact_fails_its_signature(
    idp: RunningIdp, login: SamlLogin
) -> None:
    saml_art, request_id = artifact_for(idp, login)
    xml = idp.artifacts[saml_art]  # the signed Response, as the IdP will send it
    idp.artifacts[saml_art] = xml.replace("s00000000:999993653", "s00000000:999990019")
    fout = refused(login.finish_artifact, saml_art, request_id)
    assert fout.reden == "handtekening"


def test_garbage_instead_of_an_artifact_is_refused(login: SamlLogin) -> None:
    _url, request_id = login.begin()
    for garbage in ("", "bm9n", base64.b64encode(b"\x00\x05" + bytes(42)).decode()):
        assert refused(login.finish_artifact, garbage, request_id).reden == "ongeldig"


def test_an_unreachable_idp_is_said_plainly(
    folder: Path, settings: SamlSettings
) -> None:
    gone = start_idp(
        folder, folder / "sp.xml", USERS, metadata_path=folder / "gone.xml"
    )
    login = SamlLogin(
        dataclasses.replace(settings, idp_metadata_file=gone.metadata_path)
    )
    saml_art, request_id = artifact_for(gone, login)
    gone.stop()
    fout = refused(login.finish_artifact, saml_art, request_id)
    assert fout.reden == "artefact"
    assert "niet bereikbaar" in str(fout)


def test_a_posted_response_is_refused_where_an_artifact_is_expected(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    antwoord = idp.respond(url, "burger1")
    assert refused(login.finish, antwoord.saml_response, request_id).reden == "ongeldig"


@pytest.mark.slow
def test_the_artifact_is_resolved_over_two_way_tls(
    folder: Path, settings: SamlSettings
) -> None:
    """DigiD's resolution service only talks to the SP's own certificate."""
    secure = start_idp(
        folder,
        folder / "sp.xml",
        USERS,
        metadata_path=folder / "tls.xml",
        tls_client_ca=Path(settings.sp_cert_file),
    )
    try:
        assert secure.url.startswith("https://")
        tls = dataclasses.replace(
            settings,
            idp_metadata_file=secure.metadata_path,
            tls_ca_file=secure.tls_cert,
        )
        login = SamlLogin(tls)
        saml_art, request_id = artifact_for(secure, login)
        assert login.finish_artifact(saml_art, request_id).bsn == "999993653"

        # Without trusting the IdP's certificate the SP does not talk to it.
        untrusting = SamlLogin(dataclasses.replace(tls, tls_ca_file=None))
        saml_art, request_id = artifact_for(secure, untrusting)
        fout = refused(untrusting.finish_artifact, saml_art, request_id)
        assert fout.reden == "artefact"

        # Another SP key (not the SP's certificate) is turned away by the IdP.
        stranger = make_keys(folder / "vreemd", "vreemd")
        other = SamlLogin(
            dataclasses.replace(
                tls, sp_key_file=stranger.key_file, sp_cert_file=stranger.cert_file
            )
        )
        url, request_id = other.begin()
        with pytest.raises(IncorrectlySigned):
            secure.respond(url, "burger1")  # nor does its AuthnRequest pass
        saml_art, request_id = artifact_for(secure, login)
        assert refused(other.finish_artifact, saml_art, request_id).reden == "artefact"
    finally:
        secure.stop()
