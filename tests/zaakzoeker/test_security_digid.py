"""DigiD login through the zaakzoeker's routes, against a real SAML IdP.

The pages' side of SAML: the request id kept in the session, the answer
checked against it (the ACS takes no CSRF token, so this is what protects
it), the session renewed at login, the BSN kept in the session row, logout
sent on to DigiD.

DigiD answers by artifact (``binding: artifact``, the default): the browser
comes back by GET with a SAMLart, and the zaakzoeker fetches the answer from
the IdP's artifact resolution service. The POST binding, for IdPs that post
their answer, is tested here too. tests/zaakzoeker/saml/ tests the
SAML checks themselves; test_browser.py the artifact flow in Chromium.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from esb.config import Settings
from esb.errors import ConfigError
from tests.zaakzoeker.idp import Antwoord, RunningIdp, make_sp_keys, start_idp
from tests.zaakzoeker.webapp import (
    BSN_A,
    BSN_B,
    ZAAK_A1,
    Zaakzoeker,
    csrf,
    filled,
    session_cookie,
    zaakzoeker,
)
from zaakzoeker.app import create_app
from zaakzoeker.database import sessions_table
from zaakzoeker.saml.config import sp_metadata
from zaakzoeker.sessions import ACS_COOKIE
from zaakzoeker.settings import SamlSectie, parse_settings

__all__ = ["filled", "zaakzoeker"]  # fixtures

PUBLIC = "http://localhost"
USERS = {"burger": BSN_A, "ander": BSN_B}


def sectie_uit(config: Path, digid: dict[str, Any]) -> SamlSectie:
    """The ``digid:`` section as emo.yaml would give it (files relative to
    ``config``), checked by parse_settings."""
    settings = Settings(
        config_dir=config,
        data_dir=config.parent / "data",
        zaakzoeker={"public_url": PUBLIC, "digid": digid},
    )
    sectie = parse_settings(settings, environ={}).digid
    assert sectie is not None
    return sectie


@contextmanager
def digid_site(
    zaakzoeker: Zaakzoeker,
    tmp_path: Path,
    extra: dict[str, Any] | None = None,
    *,
    tls: bool = False,
) -> Iterator[tuple[Flask, RunningIdp]]:
    """The zaakzoeker with DigiD configured as in emo.yaml (``extra`` adds
    settings, such as ``binding``), and the IdP playing DigiD, stopped
    after. ``tls``: the IdP resolves artifacts over two-way TLS only, and
    ``tls_ca`` names its certificate."""
    config = tmp_path / f"config-{(extra or {}).get('binding', 'artifact')}"
    config.mkdir()
    keys = make_sp_keys(config)
    (config / "idp.xml").write_text("<!-- the IdP writes its metadata here -->")
    digid = {
        "sp_entity_id": f"{PUBLIC}/digid/metadata",
        "idp_metadata": "idp.xml",
        "sp_key": str(keys.key_file.relative_to(config)),
        "sp_cert": str(keys.cert_file.relative_to(config)),
        "level": "midden",
        **(extra or {}),
    }
    sectie = sectie_uit(config, digid)
    idp = idp_for(
        sectie, tmp_path, USERS, tls_client_ca=keys.cert_file if tls else None
    )
    try:
        if tls:
            sectie = sectie_uit(config, {**digid, "tls_ca": str(idp.tls_cert)})
        yield site_with(zaakzoeker, digid=sectie), idp
    finally:
        idp.stop()


def idp_for(
    sectie: SamlSectie, tmp_path: Path, users: dict[str, str], **options: Any
) -> RunningIdp:
    """The IdP for the service provider that ``sectie`` describes, its
    metadata written where ``sectie`` expects it; ``options`` go to
    :func:`~tests.zaakzoeker.idp.start_idp`."""
    sp_xml = tmp_path / "sp.xml"
    sp_xml.write_bytes(sp_metadata(sectie.saml_settings(PUBLIC)))
    return start_idp(
        tmp_path, sp_xml, users, metadata_path=sectie.idp_metadata, **options
    )


def site_with(zaakzoeker: Zaakzoeker, **secties: SamlSectie) -> Flask:
    """The zaakzoeker at PUBLIC, with the SAML sections given by name
    (``digid``, ``medewerkers_saml``)."""
    settings = dataclasses.replace(
        zaakzoeker.app.extensions["zaakzoeker"].settings,
        public_url=PUBLIC,
        **secties,
    )
    app = create_app(settings, engine=zaakzoeker.engine)
    app.testing = True
    return app


@pytest.fixture
def digid(zaakzoeker: Zaakzoeker, tmp_path: Path) -> Iterator[tuple[Flask, RunningIdp]]:
    """DigiD with the default binding: artifact."""
    with digid_site(zaakzoeker, tmp_path) as site:
        yield site


@pytest.fixture
def digid_post(
    zaakzoeker: Zaakzoeker, tmp_path: Path
) -> Iterator[tuple[Flask, RunningIdp]]:
    """DigiD as an IdP that posts its answer (``binding: post``)."""
    with digid_site(zaakzoeker, tmp_path, {"binding": "post"}) as site:
        yield site


def begin(client: FlaskClient, soort: str = "digid") -> str:
    """Press "Inloggen met DigiD" (or, for ``soort`` "saml", the employees'
    button); the IdP URL the browser is sent to."""
    response = client.post(f"/{soort}/login", data={"csrf_token": csrf(client)})
    assert response.status_code == 303
    return response.headers["Location"]


def artefact(antwoord: Antwoord) -> str:
    assert antwoord.saml_art is not None, "the IdP answered without an artifact"
    return antwoord.saml_art


def back(client: FlaskClient, antwoord: Antwoord) -> TestResponse:
    """The browser's way back from DigiD: GET the ACS with the artifact."""
    assert urlsplit(antwoord.acs_url).path == "/digid/acs"
    return client.get(
        "/digid/acs",
        query_string={
            "SAMLart": artefact(antwoord),
            "RelayState": antwoord.relay_state,
        },
    )


def refused(response: TestResponse, status: int, says: str) -> str:
    """A refusal: the login page with a message, no BSN, no traceback."""
    page = response.get_data(as_text=True)
    assert response.status_code == status, page[:2000]
    assert "Inloggen is niet gelukt" in page
    assert says in page
    for bsn in USERS.values():
        assert bsn not in page
    assert "Traceback" not in page
    return page


def logged_in(client: FlaskClient) -> bool:
    return client.get("/mijn-zaken").status_code == 200


def assert_citizen_a_in_a_new_session(
    zaakzoeker: Zaakzoeker, client: FlaskClient, before: str | None
) -> None:
    """The login renewed the session: a new cookie, mijn zaken shows A's
    zaak without the BSN, the old session row is gone and the new one holds
    the BSN in its own column only."""
    after = session_cookie(client)
    assert after is not None and after != before
    page = client.get("/mijn-zaken").get_data(as_text=True)
    assert f'href="/mijn-zaken/{ZAAK_A1}"' in page
    assert BSN_A not in page

    with zaakzoeker.engine.connect() as connection:
        rows = {row.id: row for row in connection.execute(sa.select(sessions_table))}
    assert before is not None
    assert hashlib.sha256(before.encode()).hexdigest() not in rows
    row = rows[hashlib.sha256(after.encode()).hexdigest()]
    assert row.bsn == BSN_A and BSN_A not in row.data


def test_login_page_offers_digid(digid: tuple[Flask, RunningIdp]) -> None:
    app, idp = digid
    client = app.test_client()
    page = client.get("/inloggen").get_data(as_text=True)
    assert "Inloggen met DigiD" in page
    policy = client.get("/inloggen").headers["Content-Security-Policy"]
    assert f"form-action 'self' {idp.url}" in policy


def test_digid_login_by_artifact_renews_the_session_and_shows_mijn_zaken(
    zaakzoeker: Zaakzoeker, digid: tuple[Flask, RunningIdp]
) -> None:
    """The AuthnRequest asks for the artifact binding; the browser comes
    back by GET, the zaakzoeker resolves the artifact with the IdP, renews
    the session and keeps the BSN in the session row only. No second cookie
    is needed: a top-level GET carries the SameSite=Lax session cookie."""
    app, idp = digid
    client = app.test_client()
    url = begin(client)
    assert url.startswith(f"{idp.url}/sso?SAMLRequest=")
    before = session_cookie(client)
    assert client.get_cookie(ACS_COOKIE, path="/digid/acs") is None

    antwoord = idp.respond(url, "burger")
    assert idp.authn_requests[-1].protocol_binding.endswith(":HTTP-Artifact")
    response = back(client, antwoord)
    assert response.status_code == 303
    assert response.headers["Location"] == "/mijn-zaken"
    assert idp.artifacts == {}  # fetched from the IdP, once
    assert_citizen_a_in_a_new_session(zaakzoeker, client, before)


def test_a_replayed_artifact_is_refused(digid: tuple[Flask, RunningIdp]) -> None:
    """The ACS address with its SAMLart stays in the browser's history.
    Visited again (after logout, on a shared computer), it logs nobody in:
    no login is pending; and with a new login pending, the IdP no longer
    knows the artifact."""
    app, idp = digid
    client = app.test_client()
    antwoord = idp.respond(begin(client), "burger")
    assert back(client, antwoord).status_code == 303
    client.post("/uitloggen", data={"csrf_token": csrf(client, "/mijn-zaken")})
    assert not logged_in(client)

    refused(back(client, antwoord), 400, "Er loopt geen inlogpoging")
    assert not logged_in(client)

    begin(client)
    refused(back(client, antwoord), 400, "Log opnieuw in")
    assert not logged_in(client)


def test_an_artifact_without_a_login_begun_in_this_browser_is_refused(
    digid: tuple[Flask, RunningIdp],
) -> None:
    """A victim's artifact sent to another browser (or an attacker's own to a
    victim's) gets nowhere: this browser started no login. The artifact is
    not even resolved, so the browser that did start the login still can."""
    app, idp = digid
    victim = app.test_client()
    antwoord = idp.respond(begin(victim), "burger")
    attacker = app.test_client()
    refused(back(attacker, antwoord), 400, "Er loopt geen inlogpoging")
    assert not logged_in(attacker)
    assert artefact(antwoord) in idp.artifacts

    assert back(victim, antwoord).headers["Location"] == "/mijn-zaken"
    assert logged_in(victim)


def test_an_artifact_for_a_login_begun_in_another_browser_is_refused(
    digid: tuple[Flask, RunningIdp],
) -> None:
    """Both browsers have a login pending; the answer InResponseTo the
    first one's request does not log the second one in."""
    app, idp = digid
    one, two = app.test_client(), app.test_client()
    antwoord = idp.respond(begin(one), "ander")
    begin(two)
    refused(back(two, antwoord), 400, "Het antwoord hoort bij een ander verzoek.")
    assert not logged_in(two)
    # The second browser's attempt is used up too: it starts again.
    refused(back(two, antwoord), 400, "Er loopt geen inlogpoging")


def test_an_acs_visit_without_artifact_is_refused(
    digid: tuple[Flask, RunningIdp],
) -> None:
    app, _idp = digid
    client = app.test_client()
    begin(client)
    refused(client.get("/digid/acs"), 400, "ontbreekt")


def test_a_cancelled_login_says_so(digid: tuple[Flask, RunningIdp]) -> None:
    app, idp = digid
    client = app.test_client()
    page = refused(back(client, idp.cancel(begin(client))), 400, "afgebroken")
    assert "Inloggen met DigiD" in page  # and may try again at once
    assert not logged_in(client)


def test_an_unreachable_digid_gives_a_plain_page(
    digid: tuple[Flask, RunningIdp],
) -> None:
    """DigiD's artifact resolution service down: 502 and a sentence, no
    traceback, the session not logged in."""
    app, idp = digid
    client = app.test_client()
    antwoord = idp.respond(begin(client), "burger")
    idp.stop()
    refused(back(client, antwoord), 502, "DigiD is nu niet bereikbaar")
    assert not logged_in(client)


def test_the_acs_answers_only_the_configured_binding(
    digid: tuple[Flask, RunningIdp], digid_post: tuple[Flask, RunningIdp]
) -> None:
    """An artifact ACS takes no posted answer, a POST ACS no artifact: 405
    with the method that works."""
    artifact_app, _idp = digid
    client = artifact_app.test_client()
    begin(client)
    posted = client.post("/digid/acs", data={"SAMLResponse": "PHg+"})
    assert (posted.status_code, posted.headers["Allow"]) == (405, "GET")

    post_app, _other_idp = digid_post
    other = post_app.test_client()
    begin(other)
    fetched = other.get("/digid/acs", query_string={"SAMLart": "AAQAAA=="})
    assert (fetched.status_code, fetched.headers["Allow"]) == (405, "POST")


def test_metadata_is_published_with_the_artifact_acs(
    digid: tuple[Flask, RunningIdp],
) -> None:
    app, _idp = digid
    response = app.test_client().get("/digid/metadata")
    assert response.status_code == 200
    assert response.mimetype == "application/samlmetadata+xml"
    text = response.get_data(as_text=True)
    assert f'entityID="{PUBLIC}/digid/metadata"' in text
    assert (
        'Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" '
        f'Location="{PUBLIC}/digid/acs"'
    ) in text


def test_logout_goes_on_to_digid(digid: tuple[Flask, RunningIdp]) -> None:
    """Logout ends the session here, then sends the browser to DigiD's
    single logout with a signed request naming the citizen."""
    app, idp = digid
    client = app.test_client()
    back(client, idp.respond(begin(client), "burger"))
    token = csrf(client, "/mijn-zaken")
    response = client.post("/uitloggen", data={"csrf_token": token})
    assert response.status_code == 303
    assert response.headers["Location"].startswith(f"{idp.url}/slo?SAMLRequest=")
    assert idp.logout_requests == []  # the browser has not gone there yet
    assert client.get("/mijn-zaken").headers["Location"] == "/inloggen"
    # DigiD sends the browser back to the logout address: it says so.
    again = client.get("/digid/logout?SAMLResponse=x")
    assert again.headers["Location"] == "/uitgelogd"


@pytest.mark.slow
def test_artifacts_are_resolved_over_two_way_tls_with_tls_ca(
    zaakzoeker: Zaakzoeker, tmp_path: Path
) -> None:
    """As with DigiD: the resolution service speaks HTTPS only to the SP's
    own certificate, and the zaakzoeker trusts the CAs named in tls_ca."""
    with digid_site(zaakzoeker, tmp_path, tls=True) as (app, idp):
        assert idp.url.startswith("https://")
        client = app.test_client()
        response = back(client, idp.respond(begin(client), "burger"))
        assert response.headers["Location"] == "/mijn-zaken"
        assert logged_in(client)


def test_artifact_binding_needs_a_resolution_service_in_the_metadata(
    zaakzoeker: Zaakzoeker, digid: tuple[Flask, RunningIdp], tmp_path: Path
) -> None:
    """Found out at start-up, not at the first citizen's login."""
    app, idp = digid
    settings = app.extensions["zaakzoeker"].settings
    bare = tmp_path / "zonder-ars.xml"
    bare.write_text(
        idp.metadata_path.read_text().replace("ArtifactResolutionService", "Xyz")
    )
    broken = dataclasses.replace(
        settings, digid=dataclasses.replace(settings.digid, idp_metadata=bare)
    )
    with pytest.raises(ConfigError, match="names no ArtifactResolutionService"):
        create_app(broken, engine=zaakzoeker.engine)


# The POST binding ---------------------------------------------------------------


def test_digid_login_by_post_renews_the_session_and_shows_mijn_zaken(
    zaakzoeker: Zaakzoeker, digid_post: tuple[Flask, RunningIdp]
) -> None:
    """With ``binding: post`` the IdP posts the answer from its own site;
    the session id travels in a second cookie, for the ACS only, until the
    login renews the session."""
    app, idp = digid_post
    client = app.test_client()
    url = begin(client)
    before = session_cookie(client)
    acs_cookie = client.get_cookie(ACS_COOKIE, path="/digid/acs")
    assert acs_cookie is not None and acs_cookie.value == before

    answer = idp.respond(url, "burger")
    assert idp.authn_requests[-1].protocol_binding.endswith(":HTTP-POST")
    assert answer.saml_art is None
    assert urlsplit(answer.acs_url).path == "/digid/acs"
    response = client.post("/digid/acs", data={"SAMLResponse": answer.saml_response})
    assert response.status_code == 303
    assert response.headers["Location"] == "/mijn-zaken"
    assert client.get_cookie(ACS_COOKIE, path="/digid/acs") is None
    assert_citizen_a_in_a_new_session(zaakzoeker, client, before)

    # The same answer a second time is refused.
    again = client.post("/digid/acs", data={"SAMLResponse": answer.saml_response})
    refused(again, 400, "Er loopt geen inlogpoging")


def test_a_posted_answer_without_a_login_begun_in_this_browser_is_refused(
    digid_post: tuple[Flask, RunningIdp],
) -> None:
    app, idp = digid_post
    answer = idp.respond(begin(app.test_client()), "burger")
    attacker = app.test_client()
    response = attacker.post("/digid/acs", data={"SAMLResponse": answer.saml_response})
    refused(response, 400, "Er loopt geen inlogpoging")
    assert not logged_in(attacker)


def test_a_posted_answer_to_another_browsers_request_is_refused(
    digid_post: tuple[Flask, RunningIdp],
) -> None:
    app, idp = digid_post
    one, two = app.test_client(), app.test_client()
    answer_for_one = idp.respond(begin(one), "burger")
    begin(two)
    response = two.post(
        "/digid/acs", data={"SAMLResponse": answer_for_one.saml_response}
    )
    refused(response, 400, "Het antwoord hoort bij een ander verzoek.")
    assert not logged_in(two)


def test_a_missing_posted_answer_is_refused(
    digid_post: tuple[Flask, RunningIdp],
) -> None:
    app, _idp = digid_post
    client = app.test_client()
    begin(client)
    refused(client.post("/digid/acs", data={}), 400, "ontbreekt")


# Employees' SAML ------------------------------------------------------------------


@pytest.fixture(params=["post", "artifact"])
def medewerkers(
    zaakzoeker: Zaakzoeker, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Flask, RunningIdp]]:
    """The zaakzoeker with the municipality's IdP for employees, which posts
    its answer (the default) or answers by artifact."""
    keys = make_sp_keys(tmp_path)
    sectie = SamlSectie(
        naam="medewerkers_saml",
        pad="saml",
        sp_entity_id=f"{PUBLIC}/saml/metadata",
        idp_metadata=tmp_path / "idp.xml",
        sp_key=keys.key_file,
        sp_cert=keys.cert_file,
        level=None,
        binding=request.param,
        rollen_attribuut="rollen",
    )
    idp = idp_for(sectie, tmp_path, {"medewerker": BSN_A})
    yield site_with(zaakzoeker, medewerkers_saml=sectie), idp
    idp.stop()


def answer_saml(client: FlaskClient, answer: Antwoord) -> TestResponse:
    """The employee's browser back at /saml/acs, in the IdP's binding."""
    if answer.saml_art is not None:
        return client.get("/saml/acs", query_string={"SAMLart": answer.saml_art})
    return client.post("/saml/acs", data={"SAMLResponse": answer.saml_response})


def test_employee_saml_login_takes_roles_from_the_attribute(
    medewerkers: tuple[Flask, RunningIdp],
) -> None:
    """The rollen attribute decides: medewerker may search, a login without
    a zaakzoeker role is refused with a message saying so."""
    app, idp = medewerkers
    client = app.test_client()
    assert "Inloggen als medewerker via SAML" in client.get("/inloggen").get_data(
        as_text=True
    )
    answer = idp.respond(
        begin(client, "saml"),
        "medewerker",
        name_id="j.devries",
        attributes={"rollen": ["medewerker"]},
    )
    response = answer_saml(client, answer)
    assert response.headers["Location"] == "/zoeken"
    assert 'Uitloggen <span class="gebruiker">(j.devries)' in client.get(
        "/zoeken"
    ).get_data(as_text=True)

    other = app.test_client()
    answer = idp.respond(
        begin(other, "saml"),
        "medewerker",
        name_id="p.jansen",
        attributes={"rollen": ["archief"]},
    )
    refused = answer_saml(other, answer)
    assert refused.status_code == 400
    assert "geen rol in de zaakzoeker" in refused.get_data(as_text=True)
    assert other.get("/zoeken").headers["Location"] == "/inloggen"
