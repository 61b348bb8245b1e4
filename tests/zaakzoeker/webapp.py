"""A zaakzoeker on a real zaakregister, for the page and security tests.

The zaken are made the way the product makes them: standard ZDS messages
(``tests/registers/zaakregister/messages.py``) handed to the zaakregister;
the zaakzoeker then reads the same SQLite file. Two citizens each have
their zaken, and one zaak is confidential::

    ZAAK_A1   citizen A (initiator), two statuses, a document A may see
              (ZAAKVERTROUWELIJK) and one A may not (INTERN)
    ZAAK_A2   citizen A (initiator), one status, ended
    ZAAK_B1   citizen B (initiator), a document
    ZAAK_G1   citizen B (initiator), confidential (GEHEIM)

Helpers read the CSRF token out of a page, as a browser's form would send
it, and log people in.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from esb.envelope import open_envelope, parse_xml
from esb.identify import identify
from registers.zaakregister import Config, Zaakregister, model
from tests.registers.zaakregister import messages
from tests.registers.zaakregister.conftest import soap_action
from zaakzoeker import accounts
from zaakzoeker.app import create_app
from zaakzoeker.database import open_engine
from zaakzoeker.sessions import BSN
from zaakzoeker.settings import ZaakzoekerSettings

BSN_A = "111111110"
BSN_B = "123456782"
ZAAK_A1 = "0392-2025-0000001"
ZAAK_A2 = "0392-2025-0000002"
ZAAK_B1 = "0392-2025-0000003"
ZAAK_G1 = "0392-2025-0000004"
DOC_A_ZICHTBAAR = "0392-D2025-0000001"
DOC_A_INTERN = "0392-D2025-0000002"
DOC_B = "0392-D2025-0000003"
DOC_G = "0392-D2025-0000004"
WACHTWOORD = "correct paard batterij nietje"
PDF_A = b"%PDF-1.4 brief voor A\n"

_CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')


def send(register: Zaakregister, raw: bytes) -> None:
    """Hand one ZDS request to the register, as the broker's adapter does."""
    body = open_envelope(parse_xml(raw)).body
    register.handle(identify(body, soap_action(raw)), body)


# The zaken of the module docstring, each with its initiator (BSN,
# geslachtsnaam), omschrijving and zaaktype.
_ZAKEN = (
    (ZAAK_A1, BSN_A, "Aarts", "Aanvraag omgevingsvergunning dakkapel", "B1210"),
    (ZAAK_A2, BSN_A, "Aarts", "Melding openbare ruimte lantaarnpaal", "M0001"),
    (ZAAK_B1, BSN_B, "Bakker", "Aanvraag parkeervergunning", "P0001"),
    (ZAAK_G1, BSN_B, "Bakker", "Geheime zaak over handhaving", "H0001"),
)
# The documents, each with its zaak, titel and the vertrouwelijkAanduiding
# the scenario needs (None: OPENBAAR, as the test messages give them all).
_DOCUMENTEN = (
    (DOC_A_ZICHTBAAR, ZAAK_A1, "Ontvangstbevestiging", "ZAAKVERTROUWELIJK"),
    (DOC_A_INTERN, ZAAK_A1, "Interne notitie", "INTERN"),
    (DOC_B, ZAAK_B1, "Brief aan B", None),
    (DOC_G, ZAAK_G1, "Geheim rapport", "GEHEIM"),
)
# Values of the zaken that the scenario needs and the test messages do not set.
_ZAAK_VELDEN = (
    (ZAAK_G1, {"vertrouwelijkheid": "GEHEIM", "einddatum_gepland": "20250401"}),
    (ZAAK_A2, {"einddatum": "20250310", "resultaat_omschrijving": "Melding verwerkt"}),
    (ZAAK_A1, {"einddatum_gepland": "20250415"}),
)


def fill(register: Zaakregister) -> None:
    """The zaken of the module docstring."""
    statussen = messages.status("1", "Aanvraag ontvangen", "20250301090000000")
    for zaak, bsn, naam, omschrijving, zaaktype in _ZAKEN:
        send(
            register,
            messages.creeer_zaak(
                zaak,
                initiator=messages.initiator_nps(bsn, naam),
                omschrijving=omschrijving,
                zaaktype=zaaktype,
                statussen=statussen,
            ),
        )
    send(
        register,
        messages.actualiseer_zaakstatus(
            ZAAK_A1, messages.status("2", "In behandeling", "20250305100000000")
        ),
    )
    for document, zaak, titel, _aanduiding in _DOCUMENTEN:
        inhoud = PDF_A if document == DOC_A_ZICHTBAAR else b"x"
        send(register, messages.voeg_zaakdocument_toe(document, zaak, inhoud, titel))

    zaken = cast(sa.Table, model.Zaak.__table__)
    documenten = cast(sa.Table, model.Document.__table__)
    with register.database.engine.begin() as connection:
        for document, _zaak, _titel, aanduiding in _DOCUMENTEN:
            if aanduiding is not None:
                connection.execute(
                    sa.update(documenten)
                    .where(documenten.c.identificatie == document)
                    .values(vertrouwelijk_aanduiding=aanduiding)
                )
        for zaak, velden in _ZAAK_VELDEN:
            connection.execute(
                sa.update(zaken).where(zaken.c.identificatie == zaak).values(**velden)
            )


@dataclass
class Zaakzoeker:
    app: Flask
    engine: sa.Engine
    folder: Path


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the filled, migrated database and its documents, made
    once; each test works on a copy."""
    folder = tmp_path_factory.mktemp("zaakzoeker-template")
    url = f"sqlite:///{folder / 'zaakregister.db'}"
    documents = folder / "documenten"
    register = Zaakregister.open(url, Config(documents=documents, organisatie="0392"))
    try:
        fill(register)
    finally:
        register.close()
    engine = open_engine(url)
    accounts.add(engine, "mdw", "medewerker", WACHTWOORD)
    accounts.add(engine, "vtr", "vertrouwelijk", WACHTWOORD)
    accounts.add(engine, "weg", "medewerker", WACHTWOORD)
    accounts.disable(engine, "weg")
    # Closing the last connection checkpoints the WAL into the file.
    engine.dispose()
    return folder


@pytest.fixture
def zaakzoeker(filled: Path, tmp_path: Path) -> Iterator[Zaakzoeker]:
    """The zaakzoeker on a filled zaakregister, with three local accounts:
    ``mdw`` (medewerker), ``vtr`` (vertrouwelijk) and ``weg`` (disabled)."""
    shutil.copy(filled / "zaakregister.db", tmp_path / "zaakregister.db")
    shutil.copytree(filled / "documenten", tmp_path / "documenten")
    url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    documents = tmp_path / "documenten"
    engine = open_engine(url)
    settings = ZaakzoekerSettings(
        database_url=url,
        documents=documents,
        secret_key=b"0123456789abcdef0123456789abcdef-test",
        session_minutes=30,
    )
    app = create_app(settings, engine=engine)
    app.testing = True
    yield Zaakzoeker(app, engine, tmp_path)
    engine.dispose()


@pytest.fixture
def client(zaakzoeker: Zaakzoeker) -> FlaskClient:
    return zaakzoeker.app.test_client()


def csrf(client: FlaskClient, path: str = "/inloggen") -> str:
    """The CSRF token the form on ``path`` carries."""
    page = client.get(path)
    found = _CSRF.search(page.data)
    assert found is not None, page.data[:2000]
    return found[1].decode()


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("zaakzoeker")
    return None if cookie is None else cookie.value


def login(client: FlaskClient, naam: str = "mdw") -> TestResponse:
    """Log in with a local account; the response to the form's POST."""
    return client.post(
        "/inloggen",
        data={"naam": naam, "wachtwoord": WACHTWOORD, "csrf_token": csrf(client)},
    )


def login_burger(client: FlaskClient, bsn: str) -> None:
    """A citizen's session as DigiD leaves it (the DigiD flow itself is
    tested against a real IdP in test_browser.py and saml/)."""
    with client.session_transaction() as current:
        current[BSN] = bsn
