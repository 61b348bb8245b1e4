"""The zaakzoeker's pages through Flask's test client, on a real zaakregister.

What employees and citizens see: the search with its errors, sorting and
paging, a zaak in full, downloads, "Mijn zaken"; and what the pages promise
every visitor (Dutch, labelled fields, landmarks, no scripts).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from registers.zaakregister import Config, Zaakregister
from tests.zaakzoeker.webapp import (
    BSN_A,
    DOC_A_INTERN,
    DOC_A_ZICHTBAAR,
    PDF_A,
    WACHTWOORD,
    ZAAK_A1,
    ZAAK_A2,
    ZAAK_B1,
    ZAAK_G1,
    Zaakzoeker,
    client,
    csrf,
    fill,
    filled,
    login,
    login_burger,
    zaakzoeker,
)
from zaakzoeker import accounts, pages
from zaakzoeker.app import create_app
from zaakzoeker.database import open_engine
from zaakzoeker.settings import ZaakzoekerSettings

__all__ = ["client", "filled", "zaakzoeker"]  # fixtures


def search(client: FlaskClient, **filters: str) -> str:
    """Post the search form and follow to the results; the page's text."""
    token = csrf(client, "/zoeken")
    posted = client.post("/zoeken", data={"csrf_token": token, **filters})
    assert posted.status_code == 303
    assert posted.headers["Location"] == "/zoeken"
    return client.get("/zoeken").get_data(as_text=True)


def zaken_in(page: str) -> list[str]:
    """The zaak identificaties a result table links to, in order."""
    return re.findall(r'<td><a href="/zaken/([^"/]+)">', page)


def test_pages_without_session_send_to_login(client: FlaskClient) -> None:
    """Every page but the login sends a visitor without a session there."""
    for path in (
        "/",
        "/zoeken",
        f"/zaken/{ZAAK_A1}",
        f"/zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}",
        "/mijn-zaken",
        f"/mijn-zaken/{ZAAK_A1}",
        f"/mijn-zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}",
    ):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"] == "/inloggen", path


def test_login_page_is_accessible_dutch_and_scriptless(client: FlaskClient) -> None:
    """lang="nl", a viewport, a skip link to main, every field labelled and
    described, no script; without SAML configured there are no SAML buttons."""
    page = client.get("/inloggen").get_data(as_text=True)
    assert '<html lang="nl">' in page
    assert (
        '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    )
    assert '<a class="skiplink" href="#inhoud">' in page
    assert '<main id="inhoud"' in page
    assert '<label for="veld-naam">Gebruikersnaam</label>' in page
    assert 'id="veld-naam" name="naam"' in page
    assert 'autocomplete="current-password"' in page
    assert "<script" not in page
    assert "DigiD" not in page and "SAML" not in page


def test_wrong_password_is_an_error_tied_to_the_field(client: FlaskClient) -> None:
    """A wrong password, an unknown name and a disabled account get the
    same answer, tied to the password field and listed at the top."""
    answers = []
    for naam, wachtwoord in (
        ("mdw", "fout wachtwoord!!"),
        ("niemand", "fout wachtwoord!!"),
        ("weg", "correct paard batterij nietje"),
    ):
        response = client.post(
            "/inloggen",
            data={"naam": naam, "wachtwoord": wachtwoord, "csrf_token": csrf(client)},
        )
        assert response.status_code == 400
        page = response.get_data(as_text=True)
        assert 'aria-describedby="fout-wachtwoord"' in page
        assert 'aria-invalid="true"' in page
        assert 'role="alert"' in page
        answers.append(re.search(r'id="fout-wachtwoord">(.*?)</p>', page)[1])  # type: ignore[index]
    assert len(set(answers)) == 1
    assert "klopt niet" in answers[0]
    assert client.get("/zoeken").status_code == 303


def test_empty_login_names_both_fields(client: FlaskClient) -> None:
    response = client.post("/inloggen", data={"csrf_token": csrf(client)})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert 'href="#veld-naam">Vul uw gebruikersnaam in.' in page
    assert 'href="#veld-wachtwoord">Vul uw wachtwoord in.' in page


def test_employee_searches_by_free_text(client: FlaskClient) -> None:
    """Free text over the omschrijving; confidential zaken stay out for a
    medewerker; newest first by default."""
    assert login(client).headers["Location"] == "/zoeken"
    page = search(client, tekst="aanvraag")
    assert sorted(zaken_in(page)) == [ZAAK_A1, ZAAK_B1]
    assert "2 zaken gevonden" in page
    page = search(client, tekst="")
    assert "zaken gevonden" not in page  # an empty form searches nothing
    page = search(client, zaaktype="H0001")
    assert zaken_in(page) == []
    assert "0 zaken gevonden" in page


def test_search_by_bsn_keeps_the_bsn_out_of_every_url(client: FlaskClient) -> None:
    """The BSN is posted, kept in the session, and appears in no link, no
    redirect and no table cell; the form shows what the employee typed."""
    login(client)
    token = csrf(client, "/zoeken")
    posted = client.post("/zoeken", data={"csrf_token": token, "bsn": BSN_A})
    assert BSN_A not in posted.headers["Location"]
    page = client.get("/zoeken").get_data(as_text=True)
    assert sorted(zaken_in(page)) == [ZAAK_A1, ZAAK_A2]
    assert page.count(BSN_A) == 1
    assert f'name="bsn" type="text" value="{BSN_A}"' in page
    for link in re.findall(r'href="([^"]*)"', page):
        assert BSN_A not in link


def test_sort_links_and_aria_sort(client: FlaskClient) -> None:
    """A column header links to its sort order; the sorted column carries
    aria-sort, and choosing it again reverses the order."""
    login(client)
    search(client, tekst="aanvraag melding")  # every word must occur: none
    search(client, zaaktype="")
    page = search(client, bsn=BSN_A)
    assert '<a href="/zoeken?sortering=identificatie">Zaak' in page
    oplopend = client.get("/zoeken?sortering=identificatie").get_data(as_text=True)
    assert zaken_in(oplopend) == [ZAAK_A1, ZAAK_A2]
    assert '<th scope="col" aria-sort="ascending">' in oplopend
    assert 'href="/zoeken?sortering=-identificatie"' in oplopend
    aflopend = client.get("/zoeken?sortering=-identificatie").get_data(as_text=True)
    assert zaken_in(aflopend) == [ZAAK_A2, ZAAK_A1]
    assert '<th scope="col" aria-sort="descending">' in aflopend
    # An unknown sort order or page number is the default one, not an error.
    assert client.get("/zoeken?sortering=bsn").status_code == 200
    for pagina in ("²", "-1", "0", "x", "9" * 30):
        assert client.get(f"/zoeken?pagina={pagina}").status_code == 200


def test_results_are_paged(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of PER_PAGINA with a navigation that marks the current page."""
    monkeypatch.setattr(pages, "PER_PAGINA", 2)
    login(client)
    first = search(client, zaaktype="", tekst="")
    first = search(client, van="01-01-2025")
    assert len(zaken_in(first)) == 2
    assert "3 zaken gevonden, pagina 1 van 2" in first
    assert '<nav class="paginering" aria-label="Paginering">' in first
    assert 'aria-current="page"><span class="verborgen">Pagina </span>1<' in first
    second = client.get("/zoeken?pagina=2&sortering=-startdatum").get_data(as_text=True)
    assert len(zaken_in(second)) == 1
    assert set(zaken_in(first) + zaken_in(second)) == {ZAAK_A1, ZAAK_A2, ZAAK_B1}
    assert 'rel="prev"' in second and 'rel="next"' not in second


@pytest.mark.parametrize(
    ("veld", "waarde", "melding"),
    [
        ("bsn", "123", "Het BSN moet uit 9 cijfers bestaan."),
        ("bsn", "123456789", "Het BSN voldoet niet aan de elfproef."),
        ("van", "31-02-2025", "Vul een datum in als dd-mm-jjjj"),
        ("kvk", "12", "Het KvK-nummer een KvK-nummer bestaat uit 8 cijfers."),
    ],
)
def test_invalid_filters_are_errors_tied_to_their_field(
    client: FlaskClient, veld: str, waarde: str, melding: str
) -> None:
    login(client)
    search(client, **{veld: waarde})
    response = client.get("/zoeken")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert f'<p class="foutmelding" id="fout-{veld}">' in page
    assert melding in page
    assert f'aria-describedby="hint-{veld} fout-{veld}"' in page
    assert "zaken gevonden" not in page


def add_zaken(zaakzoeker: Zaakzoeker, aantal: int, van_2024: int) -> None:
    """``aantal`` zaken of zaaktype G0001 straight into the register's
    table (the FTS and current-status triggers run as for the register's own
    inserts); the first ``van_2024`` start in 2024, the rest in 2023."""
    with zaakzoeker.engine.begin() as connection:
        connection.execute(
            sa.text(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                "WHERE i < :aantal) "
                "INSERT INTO zrg_zaken (identificatie, omschrijving, zaaktype_code, "
                "zaaktype_omschrijving, startdatum, aangemaakt_op, gewijzigd_op) "
                "SELECT printf('0392-2024-1%06d', i), 'Melding gladheid fietspad', "
                "'G0001', 'Gladheid', "
                "CASE WHEN i <= :van_2024 THEN '20240115' ELSE '20230115' END, 0, 0 "
                "FROM n"
            ),
            {"aantal": aantal, "van_2024": van_2024},
        )


def test_more_than_5000_results_say_so_and_paging_stops_there(
    zaakzoeker: Zaakzoeker, client: FlaskClient
) -> None:
    """Past MAX_RESULTATEN matches the page says "meer dan 5.000 zaken" and
    asks to refine; paging beyond them is a form error, not a crash."""
    add_zaken(zaakzoeker, 5001, van_2024=1234)
    login(client)
    page = search(client, zaaktype="G0001")
    assert "Meer dan 5.000 zaken gevonden, pagina 1 van de eerste 200" in page
    assert "Alleen de eerste 5.000 zaken zijn te bekijken. Verfijn uw zoekopdracht" in (
        page
    )
    assert len(zaken_in(page)) == pages.PER_PAGINA
    assert 'href="/zoeken?pagina=200&amp;sortering=-startdatum"' in page
    last = client.get("/zoeken?pagina=200&sortering=-startdatum")
    assert last.status_code == 200
    assert len(zaken_in(last.get_data(as_text=True))) == pages.PER_PAGINA
    assert 'rel="next"' not in last.get_data(as_text=True)

    beyond = client.get("/zoeken?pagina=201")
    text = beyond.get_data(as_text=True)
    assert beyond.status_code == 400
    assert '<div class="foutoverzicht" role="alert"' in text
    assert "U kunt niet verder bladeren dan de eerste 5.000 zaken." in text
    assert "zaken gevonden" not in text
    assert "Traceback" not in text

    # Fewer matches are counted exactly, in Dutch notation.
    exact = search(client, zaaktype="G0001", van="01-01-2024")
    assert "1.234 zaken gevonden, pagina 1 van 50" in exact
    assert "Meer dan" not in exact and "Alleen de eerste" not in exact


def test_a_page_past_the_end_goes_to_the_last_page(client: FlaskClient) -> None:
    """A page number beyond the results (they shrank, or the URL was
    edited) leads to the last page instead of an empty table."""
    login(client)
    search(client, van="01-01-2025")
    response = client.get("/zoeken?pagina=7&sortering=identificatie")
    assert response.status_code == 303
    assert response.headers["Location"] == "/zoeken?pagina=1&sortering=identificatie"
    assert zaken_in(client.get(response.headers["Location"]).get_data(as_text=True))


def test_dutch_numbers() -> None:
    assert [pages.getal(n) for n in (0, 999, 1000, 5000, 1234567)] == [
        "0",
        "999",
        "1.000",
        "5.000",
        "1.234.567",
    ]


def test_zaak_page_for_an_employee(client: FlaskClient) -> None:
    """Timeline, documents with download links, betrokkenen with the BSN
    masked, and the messages that changed the zaak."""
    login(client)
    response = client.get(f"/zaken/{ZAAK_A1}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Aanvraag omgevingsvergunning dakkapel" in page
    timeline = page[page.index('class="tijdlijn"') :]
    assert timeline.index("Aanvraag ontvangen") < timeline.index("In behandeling")
    assert '<li class="huidig" aria-current="step">' in page
    assert f'href="/zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}"' in page
    assert "Interne notitie" in page  # INTERN is not confidential for staff
    assert "••••••110" in page and BSN_A not in page
    assert "creeerZaak" in page and "actualiseerZaakstatus" in page


def test_employee_downloads_a_document(client: FlaskClient) -> None:
    login(client)
    response = client.get(f"/zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}")
    assert response.status_code == 200
    assert response.data == PDF_A
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert response.headers["Cache-Control"] == "no-store"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_confidential_zaken_need_the_role(zaakzoeker: Zaakzoeker) -> None:
    """A medewerker gets 404 for a confidential zaak (as for one that does
    not exist); an employee with the role vertrouwelijk sees it."""
    medewerker = zaakzoeker.app.test_client()
    login(medewerker, "mdw")
    missing = medewerker.get("/zaken/0392-2025-9999999")
    hidden = medewerker.get(f"/zaken/{ZAAK_G1}")
    assert hidden.status_code == missing.status_code == 404
    token = re.compile(r'name="csrf_token" value="[^"]*"')
    assert token.sub("", hidden.get_data(as_text=True)) == token.sub(
        "", missing.get_data(as_text=True)
    )
    vertrouwelijk = zaakzoeker.app.test_client()
    login(vertrouwelijk, "vtr")
    assert vertrouwelijk.get(f"/zaken/{ZAAK_G1}").status_code == 200
    assert zaken_in(search(vertrouwelijk, zaaktype="H0001")) == [ZAAK_G1]


def test_confidential_documents_of_an_open_zaak_need_the_role(
    zaakzoeker: Zaakzoeker,
) -> None:
    """A confidential document on a zaak a medewerker may see is neither
    listed nor downloadable for them (404, as a document that does not
    exist); the page says one was left out. The role vertrouwelijk sees
    and downloads it."""
    with zaakzoeker.engine.begin() as connection:
        connection.execute(
            sa.text(
                "UPDATE zrg_documenten SET vertrouwelijk_aanduiding = 'CONFIDENTIEEL' "
                "WHERE identificatie = :d"
            ),
            {"d": DOC_A_INTERN},
        )
    medewerker = zaakzoeker.app.test_client()
    login(medewerker, "mdw")
    page = medewerker.get(f"/zaken/{ZAAK_A1}").get_data(as_text=True)
    assert f"/documenten/{DOC_A_ZICHTBAAR}" in page  # ZAAKVERTROUWELIJK: staff
    assert "Interne notitie" not in page and DOC_A_INTERN not in page
    assert (
        "1 vertrouwelijk document niet getoond: daarvoor is de rol "
        "vertrouwelijk nodig." in page
    )
    hidden = medewerker.get(f"/zaken/{ZAAK_A1}/documenten/{DOC_A_INTERN}")
    missing = medewerker.get(f"/zaken/{ZAAK_A1}/documenten/0392-D2025-9999999")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.data != b"x"

    vertrouwelijk = zaakzoeker.app.test_client()
    login(vertrouwelijk, "vtr")
    page = vertrouwelijk.get(f"/zaken/{ZAAK_A1}").get_data(as_text=True)
    assert f'href="/zaken/{ZAAK_A1}/documenten/{DOC_A_INTERN}"' in page
    assert "niet getoond" not in page
    download = vertrouwelijk.get(f"/zaken/{ZAAK_A1}/documenten/{DOC_A_INTERN}")
    assert download.status_code == 200
    assert download.data == b"x"


def test_mijn_zaken_lists_only_the_citizens_own(client: FlaskClient) -> None:
    login_burger(client, BSN_A)
    assert client.get("/").headers["Location"] == "/mijn-zaken"
    page = client.get("/mijn-zaken").get_data(as_text=True)
    assert "U heeft 2 zaken" in page
    assert f'href="/mijn-zaken/{ZAAK_A1}"' in page
    assert f'href="/mijn-zaken/{ZAAK_A2}"' in page
    assert ZAAK_B1 not in page and ZAAK_G1 not in page
    assert BSN_A not in page


def test_citizens_zaak_in_plain_dutch(client: FlaskClient) -> None:
    """What it is, how it stands, what happened, when it should be done,
    the documents the citizen may see (not INTERN ones), and no BSN."""
    login_burger(client, BSN_A)
    page = client.get(f"/mijn-zaken/{ZAAK_A1}").get_data(as_text=True)
    assert "<h1>Aanvraag omgevingsvergunning dakkapel</h1>" in page
    assert "<strong>Hoe staat het ervoor?</strong> In behandeling" in page
    assert "klaar is op 15 april 2025" in page
    assert "<dt>U bent</dt><dd>aanvrager</dd>" in page
    assert f'href="/mijn-zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}"' in page
    assert "Interne notitie" not in page and DOC_A_INTERN not in page
    assert "Behandelaar" not in page  # who set a status is the office's business
    assert BSN_A not in page
    ended = client.get(f"/mijn-zaken/{ZAAK_A2}").get_data(as_text=True)
    assert "afgerond op 10 maart 2025" in ended
    assert "Melding verwerkt" in ended


def test_citizen_downloads_own_document(client: FlaskClient) -> None:
    login_burger(client, BSN_A)
    response = client.get(f"/mijn-zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}")
    assert response.status_code == 200
    assert response.data == PDF_A


def test_api_is_mounted_without_csrf_or_session(client: FlaskClient) -> None:
    """The JSON API answers with its own authentication, not a login page."""
    assert client.get("/api/openapi.json").status_code == 200
    refused = client.get("/api/zaken")
    assert refused.status_code == 401
    assert refused.is_json


def test_saml_routes_are_absent_when_not_configured(client: FlaskClient) -> None:
    token = csrf(client)
    for soort in ("digid", "saml"):
        assert (
            client.post(f"/{soort}/login", data={"csrf_token": token}).status_code
            == 404
        )
        assert client.get(f"/{soort}/metadata").status_code == 404


def test_pages_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The same pages on PostgreSQL: sessions, login, search, logout."""
    documents = tmp_path / "documenten"
    register = Zaakregister.open(
        postgres_url, Config(documents=documents, organisatie="0392")
    )
    try:
        fill(register)
    finally:
        register.close()
    engine = open_engine(postgres_url, pool_size=2)
    try:
        accounts.add(engine, "mdw", "medewerker", WACHTWOORD)
        settings = ZaakzoekerSettings(
            database_url=postgres_url,
            documents=documents,
            secret_key=b"0123456789abcdef0123456789abcdef-test",
        )
        app = create_app(settings, engine=engine)
        client = app.test_client()
        assert login(client).headers["Location"] == "/zoeken"
        assert sorted(zaken_in(search(client, tekst="aanvraag"))) == [ZAAK_A1, ZAAK_B1]
        assert client.get(f"/zaken/{ZAAK_A1}").status_code == 200
        token = csrf(client, "/zoeken")
        assert client.post("/uitloggen", data={"csrf_token": token}).status_code == 303
        assert client.get("/zoeken").headers["Location"] == "/inloggen"
    finally:
        engine.dispose()


def test_a_document_whose_content_is_gone_is_not_found(
    zaakzoeker: Zaakzoeker, client: FlaskClient
) -> None:
    """Content missing from the blob store answers 404, not a server error."""
    for blob in (zaakzoeker.folder / "documenten").rglob("*"):
        if blob.is_file():
            blob.unlink()
    login(client)
    response = client.get(f"/zaken/{ZAAK_A1}/documenten/{DOC_A_ZICHTBAAR}")
    assert response.status_code == 404
