"""SAML login against a real pysaml2 IdP playing DigiD, signatures by xmlsec1.

Nothing is mocked: the IdP runs over HTTP on 127.0.0.1, parses and checks
the SP's signed AuthnRequest, and signs its answers with its own key; the
SP (zaakzoeker.saml) checks them with the IdP's metadata. Each refusal test
spoils one thing in an otherwise good answer.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Unpack

import pytest
from lxml import etree
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import provider

from tests.zaakzoeker.idp import Knobs, RunningIdp, start_idp
from tests.zaakzoeker.sp import SP, USERS, decoded, encoded, forms, refused, sp_settings
from zaakzoeker.saml.config import LEVELS, SamlSettings
from zaakzoeker.saml.errors import SamlFout, SamlInstellingFout
from zaakzoeker.saml.login import SamlLogin

MD = "urn:oasis:names:tc:SAML:2.0:metadata"


@pytest.fixture(scope="module")
def settings(folder: Path) -> SamlSettings:
    return sp_settings(folder, sls_url=f"{SP}/digid/sls")


def refusal(
    idp: RunningIdp, login: SamlLogin, username: str = "burger1", **knobs: Unpack[Knobs]
) -> SamlFout:
    """Log ``username`` in, the answer spoiled by ``knobs``: the refusal."""
    url, request_id = login.begin()
    antwoord = idp.respond(url, username, **knobs)
    return refused(login.finish, antwoord.saml_response, request_id)


# -- the round trip ------------------------------------------------------------


def test_a_citizen_logs_in_over_http_and_gets_bsn_and_level(
    idp: RunningIdp, login: SamlLogin
) -> None:
    """begin() → the IdP's login page → its auto-POST form → finish()."""
    url, request_id = login.begin()
    assert url.startswith(f"{idp.url}/sso?")
    with urllib.request.urlopen(url) as page:
        login_form = forms(page.read().decode())[0]
    assert login_form["@action"] == "/login"

    fields = {k: v for k, v in login_form.items() if not k.startswith("@")}
    fields |= {"gebruikersnaam": "burger1", "actie": "inloggen"}
    data = urllib.parse.urlencode(fields).encode()
    with urllib.request.urlopen(f"{idp.url}/login", data) as page:
        html = page.read().decode()
    post = forms(html)[0]
    assert post["@action"] == login.settings.acs_url
    assert post["@method"] == "post"
    assert "<noscript>" in html

    identity = login.finish(post["SAMLResponse"], request_id)
    assert identity.bsn == "999993653"
    assert identity.level == "midden"
    assert identity.name_id == "s00000000:999993653"
    assert identity.session_index


def test_the_authn_request_is_signed_and_asks_for_the_level_as_minimum(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["SigAlg"] == ["http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"]
    assert query["Signature"]

    idp.respond(url, "burger1")  # the IdP checked the signature
    request = idp.authn_requests[-1]
    assert request.id == request_id
    context = request.requested_authn_context
    assert context.comparison == "minimum"
    assert [ref.text for ref in context.authn_context_class_ref] == [LEVELS["midden"]]
    assert request.assertion_consumer_service_url == login.settings.acs_url
    assert request.protocol_binding.endswith("HTTP-POST")


def test_the_idp_refuses_an_authn_request_without_its_signature(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, _request_id = login.begin()
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query)
    del query["Signature"]
    unsigned = parts._replace(query=urllib.parse.urlencode(query, doseq=True))
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.parse.urlunsplit(unsigned))
    assert caught.value.code == 400


def test_a_higher_level_than_required_is_accepted(
    idp: RunningIdp, login: SamlLogin
) -> None:
    idp.level = "hoog"
    url, request_id = login.begin()
    identity = login.finish(idp.respond(url, "burger2").saml_response, request_id)
    assert (identity.bsn, identity.level) == ("999990019", "hoog")


def test_the_configured_level_is_what_is_asked_for(
    idp: RunningIdp, settings: SamlSettings
) -> None:
    login = SamlLogin(dataclasses.replace(settings, required_level="substantieel"))
    url, request_id = login.begin()
    identity = login.finish(idp.respond(url, "burger1").saml_response, request_id)
    assert identity.level == "substantieel"
    refs = idp.authn_requests[-1].requested_authn_context.authn_context_class_ref
    assert [ref.text for ref in refs] == [LEVELS["substantieel"]]


# -- refusals ------------------------------------------------------------------


def test_a_tampered_assertion_fails_its_signature(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    xml = decoded(idp.respond(url, "burger1").saml_response)
    assert xml.count("s00000000:999993653") == 1
    forged = xml.replace("s00000000:999993653", "s00000000:999990019")
    assert refused(login.finish, encoded(forged), request_id).reden == "handtekening"


def test_an_assertion_signed_by_another_key_is_refused(
    folder: Path, idp: RunningIdp, login: SamlLogin
) -> None:
    """An IdP that poses under the real entity id, with its own key."""
    impostor = start_idp(
        folder,
        folder / "sp.xml",
        USERS,
        pose_as=idp.url,
        metadata_path=folder / "impostor.xml",
    )
    try:
        url, request_id = login.begin()
        antwoord = impostor.respond(url, "burger1")
    finally:
        impostor.stop()
    fout = refused(login.finish, antwoord.saml_response, request_id)
    assert fout.reden == "handtekening"


def test_an_unsigned_assertion_is_refused_even_in_a_signed_response(
    idp: RunningIdp, login: SamlLogin
) -> None:
    assert refusal(idp, login, sign_assertion=False).reden == "handtekening"


def test_an_answer_for_another_service_provider_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    fout = refusal(idp, login, audience="https://andere-gemeente.nl/sp")
    assert fout.reden == "publiek"


def test_a_replayed_answer_is_refused(idp: RunningIdp, login: SamlLogin) -> None:
    url, request_id = login.begin()
    antwoord = idp.respond(url, "burger1")
    login.finish(antwoord.saml_response, request_id)
    assert refused(login.finish, antwoord.saml_response, request_id).reden == "herhaald"


def test_a_second_answer_to_the_same_request_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    first = idp.respond(url, "burger1")
    second = idp.respond(url, "burger2")
    login.finish(first.saml_response, request_id)
    assert refused(login.finish, second.saml_response, request_id).reden == "herhaald"


def test_an_unsolicited_answer_is_refused(idp: RunningIdp, login: SamlLogin) -> None:
    assert refusal(idp, login, in_response_to=None).reden == "ongevraagd"


def test_an_answer_to_another_request_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    """The answer to browser A's request, handed in by browser B."""
    url_a, _request_a = login.begin()
    _url_b, request_b = login.begin()
    antwoord = idp.respond(url_a, "burger1")
    fout = refused(login.finish, antwoord.saml_response, request_b)
    assert fout.reden == "onbekend-verzoek"


def test_an_answer_naming_an_unknown_request_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    fout = refusal(idp, login, in_response_to="id-nooitgevraagd")
    assert fout.reden == "onbekend-verzoek"


def test_a_lower_level_than_required_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    idp.level = "basis"
    fout = refusal(idp, login)
    assert fout.reden == "niveau"
    assert "midden" in str(fout)


def test_an_expired_assertion_is_refused(idp: RunningIdp, login: SamlLogin) -> None:
    assert refusal(idp, login, shift=-datetime.timedelta(hours=1)).reden == "verlopen"


def test_an_assertion_from_the_future_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    assert refusal(idp, login, shift=datetime.timedelta(hours=1)).reden == "verlopen"


def test_an_assertion_without_name_id_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    antwoord = idp.respond(url, "burger1", name_id=None)
    assert "NameID" not in decoded(antwoord.saml_response).split("Subject")[1]
    assert refused(login.finish, antwoord.saml_response, request_id).reden == "geen-bsn"


def test_a_name_id_without_bsn_is_refused(idp: RunningIdp, login: SamlLogin) -> None:
    assert refusal(idp, login, name_id="_a4f8e1c0-transient").reden == "geen-bsn"


def test_a_bsn_that_fails_the_11_test_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    assert refusal(idp, login, "ongeldig").reden == "ongeldig-bsn"


def test_a_cancelled_login_is_refused_plainly(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    fout = refused(login.finish, idp.cancel(url).saml_response, request_id)
    assert fout.reden == "geannuleerd"
    assert str(fout) == "Het inloggen is afgebroken of mislukt."


@pytest.mark.parametrize(
    "saml_response",
    ["geen base64!", encoded("<niet-saml/>"), encoded("<kapot"), ""],
)
def test_garbage_is_refused_with_a_plain_reason(
    login: SamlLogin, saml_response: str
) -> None:
    _url, request_id = login.begin()
    assert refused(login.finish, saml_response, request_id).reden == "ongeldig"


def test_an_answer_without_a_request_in_the_session_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, _request_id = login.begin()
    antwoord = idp.respond(url, "burger1")
    assert refused(login.finish, antwoord.saml_response, "").reden == "ongevraagd"


def test_an_answer_in_wrapped_base64_lines_is_accepted(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    text = idp.respond(url, "burger1").saml_response
    wrapped = "\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert login.finish(wrapped, request_id).bsn == "999993653"


def test_no_bsn_reaches_the_log_when_an_assertion_is_refused(
    idp: RunningIdp, login: SamlLogin
) -> None:
    """pysaml2 logs a whole assertion when its signature fails."""
    lines: list[str] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    url, request_id = login.begin()
    xml = decoded(idp.respond(url, "burger1").saml_response)
    forged = xml.replace("s00000000:999993653", "s00000000:999990019")
    globalLogPublisher.addObserver(observe)
    try:
        refused(login.finish, encoded(forged), request_id)
        url, request_id = login.begin()
        login.finish(idp.respond(url, "burger2").saml_response, request_id)
    finally:
        globalLogPublisher.removeObserver(observe)
    text = "\n".join(lines)
    assert "handtekening" in text
    assert "accepted" in text
    assert not re.search("999993653|999990019", text)


# -- other ways to carry the BSN; employees -------------------------------------


def test_the_bsn_may_come_from_a_configured_attribute(
    idp: RunningIdp, settings: SamlSettings
) -> None:
    login = SamlLogin(dataclasses.replace(settings, bsn_attribute="bsn"))
    url, request_id = login.begin()
    antwoord = idp.respond(
        url, "burger1", name_id="_persistent-7", attributes={"bsn": ["999990019"]}
    )
    identity = login.finish(antwoord.saml_response, request_id)
    assert identity.bsn == "999990019"
    assert identity.name_id == "_persistent-7"


def test_an_employee_login_carries_roles_and_needs_no_bsn(
    idp: RunningIdp, settings: SamlSettings
) -> None:
    employees = dataclasses.replace(settings, required_level=None, bsn_required=False)
    login = SamlLogin(employees)
    url, request_id = login.begin()
    antwoord = idp.respond(
        url,
        "burger1",
        name_id="j.jansen@gemeente.nl",
        attributes={"rollen": ["medewerker", "vertrouwelijk"]},
    )
    identity = login.finish(antwoord.saml_response, request_id)
    assert identity.bsn is None
    assert identity.name_id == "j.jansen@gemeente.nl"
    assert identity.attributes["rollen"] == ["medewerker", "vertrouwelijk"]
    assert idp.authn_requests[-1].requested_authn_context is None


# -- logout and metadata ---------------------------------------------------------


def test_logout_sends_a_signed_logout_request_and_the_idp_answers_to_the_sls(
    idp: RunningIdp, login: SamlLogin
) -> None:
    url, request_id = login.begin()
    identity = login.finish(idp.respond(url, "burger1").saml_response, request_id)

    logout_url = login.logout(identity)
    assert logout_url is not None
    assert logout_url.startswith(f"{idp.url}/slo?")
    assert "Signature=" in logout_url

    answer = _get_without_following(logout_url)
    assert answer.status == 302
    location = answer.headers["Location"]
    assert location.startswith(f"{login.settings.sls_url}?SAMLResponse=")
    request = idp.logout_requests[-1]
    assert request.name_id.text == identity.name_id
    assert [index.text for index in request.session_index] == [identity.session_index]


def test_logout_is_none_when_the_idp_has_no_single_logout(
    folder: Path, settings: SamlSettings
) -> None:
    plain = start_idp(
        folder, folder / "sp.xml", USERS, slo=False, metadata_path=folder / "plain.xml"
    )
    try:
        login = SamlLogin(
            dataclasses.replace(settings, idp_metadata_file=plain.metadata_path)
        )
        url, request_id = login.begin()
        identity = login.finish(plain.respond(url, "burger1").saml_response, request_id)
        assert login.logout(identity) is None
    finally:
        plain.stop()


def test_the_sp_metadata_names_endpoints_certificate_and_signing_wishes(
    login: SamlLogin, settings: SamlSettings
) -> None:
    root = etree.fromstring(login.metadata())
    assert root.get("entityID") == settings.sp_entity_id
    (sp,) = root.findall(f"{{{MD}}}SPSSODescriptor")
    assert sp.get("AuthnRequestsSigned") == "true"
    assert sp.get("WantAssertionsSigned") == "true"
    (acs,) = sp.findall(f"{{{MD}}}AssertionConsumerService")
    assert acs.get("Location") == settings.acs_url
    assert acs.get("Binding").endswith("HTTP-POST")  # type: ignore[union-attr]
    (sls,) = sp.findall(f"{{{MD}}}SingleLogoutService")
    assert sls.get("Location") == settings.sls_url
    pem = Path(settings.sp_cert_file).read_text()
    body = "".join(pem.strip().splitlines()[1:-1])
    certificate = root.findtext(
        ".//{http://www.w3.org/2000/09/xmldsig#}X509Certificate"
    )
    assert "".join((certificate or "").split()) == body
    assert b"metadata:algsupport" not in login.metadata()


# -- settings ------------------------------------------------------------------


def test_an_unknown_level_is_a_settings_error(settings: SamlSettings) -> None:
    with pytest.raises(SamlInstellingFout, match="onbekend niveau 'laag'"):
        SamlLogin(dataclasses.replace(settings, required_level="laag"))


def test_missing_idp_metadata_is_a_settings_error(
    folder: Path, settings: SamlSettings
) -> None:
    missing = folder / "bestaat-niet.xml"
    with pytest.raises(SamlInstellingFout, match="metadata van de IdP"):
        SamlLogin(dataclasses.replace(settings, idp_metadata_file=missing))


def test_metadata_with_two_idps_is_a_settings_error(
    folder: Path, idp: RunningIdp, settings: SamlSettings
) -> None:
    one = etree.parse(str(idp.metadata_path)).getroot()
    two = etree.fromstring(etree.tostring(one))
    two.set("entityID", "https://tweede.example/idp")
    both = etree.Element(f"{{{MD}}}EntitiesDescriptor")
    both.extend([one, two])
    path = folder / "twee.xml"
    path.write_bytes(etree.tostring(both))
    with pytest.raises(SamlInstellingFout, match="2 identity providers"):
        SamlLogin(dataclasses.replace(settings, idp_metadata_file=path))


def _get_without_following(url: str) -> http.client.HTTPResponse:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    connection.request("GET", f"{parts.path}?{parts.query}")
    return connection.getresponse()
