"""The zaakzoeker's security promises, tried the way an attacker would.

A citizen changes identifiers in URLs; a request comes without a session
or with a dead one; a form arrives without its CSRF token or with another
session's; a session id known before login is worthless after it; logout
ends the session on the server; idle sessions expire; every answer carries
the security headers; and no BSN reaches a URL, a log line or the JSON of
a session row.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import provider

from tests.zaakzoeker.webapp import (
    BSN_A,
    BSN_B,
    DOC_A_INTERN,
    DOC_A_ZICHTBAAR,
    DOC_B,
    DOC_G,
    ZAAK_A1,
    ZAAK_B1,
    ZAAK_G1,
    Zaakzoeker,
    client,
    csrf,
    filled,
    login,
    login_burger,
    session_cookie,
    zaakzoeker,
)
from zaakzoeker.database import sessions_table

__all__ = ["client", "filled", "zaakzoeker"]  # fixtures

NOT_FOUND = "Deze pagina of zaak bestaat niet, of u mag hem niet zien."


def without_token(page: str) -> str:
    """A page without its CSRF token (signed with the time, so it differs
    from one request to the next)."""
    return re.sub(r'name="csrf_token" value="[^"]*"', "", page)


def session_rows(zaakzoeker: Zaakzoeker) -> list[sa.Row[tuple[object, ...]]]:
    with zaakzoeker.engine.connect() as connection:
        return list(connection.execute(sa.select(sessions_table)))


def row_key(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


# Changing identifiers ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        f"/mijn-zaken/{ZAAK_B1}",
        f"/mijn-zaken/{ZAAK_G1}",
        f"/mijn-zaken/{ZAAK_B1}/documenten/{DOC_B}",
        f"/mijn-zaken/{ZAAK_G1}/documenten/{DOC_G}",
        # Another's document through one's own zaak.
        f"/mijn-zaken/{ZAAK_A1}/documenten/{DOC_B}",
        # One's own zaak's INTERN document.
        f"/mijn-zaken/{ZAAK_A1}/documenten/{DOC_A_INTERN}",
        "/mijn-zaken/0392-2025-9999999",
        "/mijn-zaken/..%2F..%2Fzoeken",
    ],
)
def test_citizen_cannot_reach_what_is_not_theirs(
    client: FlaskClient, path: str
) -> None:
    """Another citizen's zaak or document, or a document not for citizens,
    answers exactly as a zaak that does not exist."""
    login_burger(client, BSN_A)
    response = client.get(path)
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert NOT_FOUND in page
    assert ZAAK_B1 not in page and BSN_B not in page
    missing = client.get("/mijn-zaken/0392-2025-9999999").get_data(as_text=True)
    assert without_token(missing) == without_token(page)


def test_citizen_cannot_use_employee_pages(client: FlaskClient) -> None:
    login_burger(client, BSN_A)
    for path in ("/zoeken", f"/zaken/{ZAAK_A1}", f"/zaken/{ZAAK_B1}"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"] == "/inloggen"


def test_employee_cannot_use_citizen_pages(client: FlaskClient) -> None:
    login(client)
    assert client.get("/mijn-zaken").status_code == 303
    assert client.get(f"/mijn-zaken/{ZAAK_A1}").status_code == 303


def test_medewerker_cannot_download_a_confidential_document(
    client: FlaskClient,
) -> None:
    login(client, "mdw")
    assert client.get(f"/zaken/{ZAAK_G1}/documenten/{DOC_G}").status_code == 404
    # A document of another zaak, through a zaak the employee may see.
    assert client.get(f"/zaken/{ZAAK_A1}/documenten/{DOC_G}").status_code == 404


# Sessions ------------------------------------------------------------------------


def test_forged_or_unknown_session_cookie_is_refused(client: FlaskClient) -> None:
    """A made-up session id is no session: back to the login."""
    client.set_cookie("zaakzoeker", "x" * 43)
    assert client.get("/zoeken").headers["Location"] == "/inloggen"
    client.set_cookie("zaakzoeker", "")
    assert client.get("/mijn-zaken").headers["Location"] == "/inloggen"


def test_session_is_renewed_on_login(
    zaakzoeker: Zaakzoeker, client: FlaskClient
) -> None:
    """The id a visitor had before login (which an attacker could have set)
    is deleted at login; the new one is different."""
    csrf(client)
    before = session_cookie(client)
    assert before is not None
    login(client)
    after = session_cookie(client)
    assert after is not None and after != before
    keys = {row.id for row in session_rows(zaakzoeker)}
    assert row_key(after) in keys and row_key(before) not in keys

    attacker = zaakzoeker.app.test_client()
    attacker.set_cookie("zaakzoeker", before)
    assert attacker.get("/zoeken").headers["Location"] == "/inloggen"


def test_logout_ends_the_session(zaakzoeker: Zaakzoeker, client: FlaskClient) -> None:
    """Logout deletes the row and the cookie; the old id opens nothing."""
    login(client)
    cookie = session_cookie(client)
    assert cookie is not None
    response = client.post("/uitloggen", data={"csrf_token": csrf(client, "/zoeken")})
    assert response.status_code == 303
    assert response.headers["Location"] == "/uitgelogd"
    assert session_cookie(client) is None
    assert row_key(cookie) not in {row.id for row in session_rows(zaakzoeker)}
    assert "U bent uitgelogd" in client.get("/uitgelogd").get_data(as_text=True)

    replay = zaakzoeker.app.test_client()
    replay.set_cookie("zaakzoeker", cookie)
    assert replay.get("/zoeken").headers["Location"] == "/inloggen"


def test_citizen_logout_ends_the_session(client: FlaskClient) -> None:
    login_burger(client, BSN_A)
    token = csrf(client, "/mijn-zaken")
    assert client.post("/uitloggen", data={"csrf_token": token}).status_code == 303
    assert client.get("/mijn-zaken").headers["Location"] == "/inloggen"


def test_idle_session_expires(zaakzoeker: Zaakzoeker, client: FlaskClient) -> None:
    """After session_minutes without a request the session is dead; a
    request just before then keeps it alive."""
    interface = zaakzoeker.app.session_interface
    start = 1_800_000_000.0
    interface.clock = lambda: start  # type: ignore[attr-defined]
    login(client)
    interface.clock = lambda: start + 29 * 60  # type: ignore[attr-defined]
    assert client.get("/zoeken").status_code == 200
    interface.clock = lambda: start + 58 * 60  # type: ignore[attr-defined]
    assert client.get("/zoeken").status_code == 200
    interface.clock = lambda: start + 89 * 60  # type: ignore[attr-defined]
    assert client.get("/zoeken").headers["Location"] == "/inloggen"


# CSRF ----------------------------------------------------------------------------


def test_forms_without_a_csrf_token_are_refused(
    zaakzoeker: Zaakzoeker, client: FlaskClient
) -> None:
    """Login, search and logout refuse a POST without the session's token;
    the refusal is a Dutch page, and the session stays as it was."""
    from tests.zaakzoeker.webapp import WACHTWOORD

    refused = client.post("/inloggen", data={"naam": "mdw", "wachtwoord": WACHTWOORD})
    assert refused.status_code == 400
    assert "Formulier verlopen" in refused.get_data(as_text=True)
    assert client.get("/zoeken").status_code == 303

    login(client)
    assert client.post("/zoeken", data={"bsn": BSN_A}).status_code == 400
    assert client.post("/uitloggen").status_code == 400
    assert client.get("/zoeken").status_code == 200  # still logged in

    # A token from another session does not do either.
    other = zaakzoeker.app.test_client()
    foreign = csrf(other)
    assert client.post("/uitloggen", data={"csrf_token": foreign}).status_code == 400
    assert client.get("/zoeken").status_code == 200


# Headers and leaks ---------------------------------------------------------------


def test_security_headers_on_every_page(client: FlaskClient) -> None:
    login_burger(client, BSN_A)
    for path in ("/inloggen", "/mijn-zaken", f"/mijn-zaken/{ZAAK_A1}", "/nergens"):
        response = client.get(path)
        headers = response.headers
        policy = headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "script-src" not in policy and "unsafe-inline" not in policy
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
        assert "<script" not in response.get_data(as_text=True)
        assert " style=" not in response.get_data(as_text=True)
    # The style sheet is the one thing a browser may keep.
    static = client.get("/static/zaakzoeker.css")
    assert static.status_code == 200
    assert "no-store" not in static.headers.get("Cache-Control", "")


def test_session_cookie_flags(client: FlaskClient) -> None:
    header = client.get("/inloggen").headers["Set-Cookie"]
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    value = re.match(r"zaakzoeker=([^;]+)", header)
    assert value is not None and len(value[1]) >= 43


def test_bsn_lives_in_its_column_only(
    zaakzoeker: Zaakzoeker, client: FlaskClient
) -> None:
    """The session row keeps a citizen's BSN in ``bsn``, not in the JSON of
    ``data``; the cookie holds only the id, and the row key is its hash."""
    login_burger(client, BSN_A)
    client.get("/mijn-zaken")
    cookie = session_cookie(client)
    assert cookie is not None and BSN_A not in cookie
    (row,) = [r for r in session_rows(zaakzoeker) if r.id == row_key(cookie)]
    assert row.bsn == BSN_A
    assert BSN_A not in row.data
    assert "csrf_token" in json.loads(row.data)


@pytest.fixture
def logged() -> Iterator[list[str]]:
    """Every log event emitted while the test runs, formatted."""
    lines: list[str] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        lines.append(formatEvent(event) + " " + repr(sorted(event.items())))

    globalLogPublisher.addObserver(observe)
    yield lines
    globalLogPublisher.removeObserver(observe)


def test_no_bsn_in_urls_or_logs(client: FlaskClient, logged: list[str]) -> None:
    """A citizen's visit and an employee's BSN search leave no BSN in any
    URL the pages link to or redirect to, nor in any log event."""
    login_burger(client, BSN_A)
    visited = []
    for path in ("/mijn-zaken", f"/mijn-zaken/{ZAAK_A1}"):
        page = client.get(path).get_data(as_text=True)
        visited += re.findall(r'(?:href|action)="([^"]*)"', page)
    client.get(f"/mijn-zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}")
    client.get(f"/mijn-zaken/{ZAAK_B1}")
    client.post("/uitloggen", data={"csrf_token": csrf(client, "/mijn-zaken")})
    login(client)
    posted = client.post(
        "/zoeken", data={"bsn": BSN_A, "csrf_token": csrf(client, "/zoeken")}
    )
    visited.append(posted.headers["Location"])
    page = client.get("/zoeken?sortering=identificatie").get_data(as_text=True)
    visited += re.findall(r'(?:href|action)="([^"]*)"', page)
    assert visited and logged
    for url in visited:
        assert BSN_A not in url
    for line in logged:
        assert BSN_A not in line


def test_repeated_failed_logins_block_the_name_for_a_while(
    zaakzoeker: Zaakzoeker, client: FlaskClient
) -> None:
    """Five wrong passwords for a name, and even the right one is refused
    (429) until a quarter of an hour has passed; other names are not."""

    pogingen = zaakzoeker.app.extensions["zaakzoeker"].pogingen
    now = [1000.0]
    pogingen.clock = lambda: now[0]
    for _ in range(5):
        wrong = client.post(
            "/inloggen",
            data={"naam": "mdw", "wachtwoord": "geraden!", "csrf_token": csrf(client)},
        )
        assert wrong.status_code == 400
    blocked = login(client, "mdw")
    assert blocked.status_code == 429
    assert "Te veel mislukte pogingen" in blocked.get_data(as_text=True)
    assert login(client, "vtr").status_code == 303
    now[0] += 15 * 60
    assert login(client, "mdw").status_code == 303
