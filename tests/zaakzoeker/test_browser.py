"""The zaakzoeker in a real browser, served by a real broker.

One ``emo run`` process with the default routes and a ``zaakzoeker:``
section whose DigiD is a real SAML identity provider (tests/zaakzoeker/
idp.py) on another port. Zaken are created the way a backoffice creates
them: ZDS messages POSTed to ``/stuf/zds``. The employee's account is made
with ``emo zaakzoeker account add``. Headless Chromium (Debian's, driven by
Playwright) then does what people do:

- an employee logs in with the local account, searches and opens a zaak;
- a citizen logs in with DigiD, sees exactly their own zaken and statuses,
  opens one, and logs out (at DigiD too).

DigiD is configured as a municipality configures it, with the default
``binding: artifact``: DigiD sends the browser back with a SAMLart and the
broker fetches the answer from DigiD's artifact resolution service. The IdP
is served as ``localhost``, the zaakzoeker as ``127.0.0.1``: two sites, as
DigiD and a municipality are, so the SameSite=Lax session cookie is put to
the test on the way back.

Screenshots go to the folder in ``EMO_SCREENSHOTS`` (CI keeps them under
var/screenshots), else to the test's temporary folder.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, ZDS_12, ZDS_1102
from tests.esb.conftest import (
    EMO,
    RunningBroker,
    emo_environment,
    wait_until_listening,
    write_config,
)
from tests.registers.zaakregister import messages
from tests.zaakzoeker.idp import RunningIdp, start_idp
from tests.zaakzoeker.sp import sp_settings

CHROMIUM = Path("/usr/bin/chromium")
ROUTES = ROOT / "config" / "routes.yaml"
WACHTWOORD = "correct paard batterij nietje"

BSN_BURGER = "999993653"
BSN_ANDER = "111111110"
ZAAK_BURGER_1 = "0392-2025-0000101"
ZAAK_BURGER_2 = "0392-2025-0000102"
ZAAK_ANDER = "0392-2025-0000103"


@pytest.fixture(autouse=True, scope="module")
def _chromium() -> None:
    """Skip without Chromium, saying why; under CI (EMO_REQUIRE_SERVICES=1,
    where bin/setup installs it) its absence is a failure."""
    if CHROMIUM.exists():
        return
    reason = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if os.environ.get("EMO_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and EMO_REQUIRE_SERVICES=1 demands it")
    pytest.skip(reason)


@dataclass
class Site:
    broker: RunningBroker
    idp: RunningIdp

    @property
    def start(self) -> str:
        return f"{self.broker.url}/zaakzoeker/"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def post_zds(broker: RunningBroker, raw: bytes) -> None:
    """A ZDS 1.2 request as a backoffice sends it; must be answered."""
    from lxml import etree

    body = etree.fromstring(raw).find("{http://schemas.xmlsoap.org/soap/envelope/}Body")
    assert body is not None
    action = messages.ZDS12 + etree.QName(body[0]).localname
    response = broker.post(raw, f'"{action}"')
    assert response.status == 200, response.body[:2000]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("zaakzoeker-browser")
    port = free_port()
    public = f"http://127.0.0.1:{port}/zaakzoeker"

    # DigiD: the service provider's keys and metadata, then the IdP.
    digid = sp_settings(
        base, public, sls_url=f"{public}/digid/logout", acs_binding="artifact"
    )
    idp = start_idp(base, base / "sp.xml", {"burger": BSN_BURGER}, host="localhost")

    config_dir = write_config(
        base / "config",
        routes=str(ROUTES),
        zaakzoeker={
            "session_minutes": 15,
            "public_url": public,
            "digid": {
                "sp_entity_id": digid.sp_entity_id,
                "idp_metadata": str(idp.metadata_path),
                "sp_key": str(digid.sp_key_file),
                "sp_cert": str(digid.sp_cert_file),
                "level": "midden",
            },
        },
    )
    data_dir = base / "data"
    data_dir.mkdir()
    log_path = base / "emo-run.log"
    command = [str(EMO), "run", "--config", str(config_dir), "--data", str(data_dir)]
    command += ["--port", str(port), "--schemas", str(ZDS_12)]
    command += ["--schemas", str(ZDS_1102)]
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=emo_environment(),
            cwd=base,
        )
    broker = RunningBroker(process, config_dir, data_dir, log_path)
    try:
        broker.host, broker.port = wait_until_listening(process, data_dir, log_path)

        # The employee's account, with the command line, in the same
        # working directory (the zaakregister's default database is ./var).
        added = subprocess.run(
            [
                str(EMO),
                "zaakzoeker",
                "account",
                "add",
                "behandelaar",
                "--rol",
                "medewerker",
                "--password-stdin",
                "--config",
                str(config_dir),
                "--data",
                str(data_dir),
            ],
            input=WACHTWOORD + "\n",
            capture_output=True,
            text=True,
            cwd=base,
            env=emo_environment(),
            timeout=120,
        )
        assert added.returncode == 0, added.stderr

        statussen = messages.status("1", "Aanvraag ontvangen", "20250301090000000")
        for zaak, bsn, omschrijving in (
            (ZAAK_BURGER_1, BSN_BURGER, "Aanvraag omgevingsvergunning dakkapel"),
            (ZAAK_BURGER_2, BSN_BURGER, "Melding kapotte lantaarnpaal"),
            (ZAAK_ANDER, BSN_ANDER, "Aanvraag parkeervergunning"),
        ):
            post_zds(
                broker,
                messages.creeer_zaak(
                    zaak,
                    initiator=messages.initiator_nps(bsn, "Jansen"),
                    omschrijving=omschrijving,
                    statussen=statussen,
                ),
            )
        post_zds(
            broker,
            messages.actualiseer_zaakstatus(
                ZAAK_BURGER_1,
                messages.status("2", "In behandeling", "20250305100000000"),
            ),
        )
        yield Site(broker, idp)
    finally:
        broker.stop()
        idp.stop()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("EMO_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(site: Site) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True
        )
        context = browser.new_context(
            locale="nl-NL", viewport={"width": 1280, "height": 900}
        )
        yield context.new_page()
        context.close()
        browser.close()


def test_employee_logs_in_searches_and_opens_a_zaak(
    site: Site, page: object, shots: Path
) -> None:
    """Local account, search by free text, sorted results, the zaak page;
    a phone-sized screen shows the same zaak without sideways scrolling."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.goto(site.start)
    expect(page).to_have_url(f"{site.start}inloggen")
    expect(page.locator("html")).to_have_attribute("lang", "nl")
    page.get_by_label("Gebruikersnaam").fill("behandelaar")
    page.get_by_label("Wachtwoord").fill(WACHTWOORD)
    page.screenshot(path=shots / "medewerker-1-inloggen.png", full_page=True)
    page.get_by_role("button", name="Inloggen", exact=True).click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Zaken zoeken")
    page.get_by_label("Zoektekst").fill("aanvraag")
    page.get_by_role("button", name="Zoeken", exact=True).click()
    expect(page.get_by_role("heading", name="2 zaken gevonden")).to_be_visible()
    page.get_by_role("columnheader").get_by_role(
        "link", name=re.compile(r"^Zaak\b")
    ).click()
    expect(page.locator("th[aria-sort=ascending]")).to_have_count(1)
    rows = page.locator("tbody tr td:first-child")
    expect(rows).to_have_text([ZAAK_BURGER_1, ZAAK_ANDER])
    page.screenshot(path=shots / "medewerker-2-zoekresultaten.png", full_page=True)

    page.get_by_role("link", name=ZAAK_BURGER_1).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Zaak {ZAAK_BURGER_1}")
    current = page.locator(".tijdlijn li[aria-current=step]")
    expect(current).to_contain_text("In behandeling")
    expect(page.get_by_text("creeerZaak")).to_be_visible()
    assert BSN_BURGER not in page.content()
    page.screenshot(path=shots / "medewerker-3-zaak.png", full_page=True)

    page.set_viewport_size({"width": 320, "height": 700})
    overflow = page.evaluate(
        "document.documentElement.scrollWidth > document.documentElement.clientWidth"
    )
    assert overflow is False
    page.screenshot(path=shots / "medewerker-4-zaak-320px.png", full_page=True)

    # The keyboard: the first Tab reaches the skip link.
    page.keyboard.press("Tab")
    expect(page.locator(".skiplink")).to_be_focused()


def test_citizen_logs_in_with_digid_sees_own_zaken_and_logs_out(
    site: Site, page: object, shots: Path
) -> None:
    """DigiD login through the IdP's pages and back by artifact, exactly the
    citizen's own zaken with their statuses, one zaak in plain Dutch, logout
    at DigiD too."""
    from playwright.sync_api import Page, Request, expect

    assert isinstance(page, Page)
    acs: list[Request] = []
    page.on(
        "request",
        lambda request: acs.append(request) if "/digid/acs" in request.url else None,
    )
    page.goto(site.start)
    page.screenshot(path=shots / "burger-1-inloggen.png", full_page=True)
    page.get_by_role("button", name="Inloggen met DigiD").click()
    expect(page).to_have_title(re.compile("DigiD"))
    assert page.url.startswith("http://localhost:")  # another site
    page.get_by_label("Gebruikersnaam").fill("burger")
    page.get_by_role("button", name="Inloggen").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Mijn zaken")
    expect(page).to_have_url(f"{site.start}mijn-zaken")
    # Back from DigiD by one GET with only a reference; the session cookie
    # came along (SameSite=Lax), no second cookie was needed.
    assert [(request.method, "SAMLart=" in request.url) for request in acs] == [
        ("GET", True)
    ]
    assert BSN_BURGER not in acs[0].url
    assert site.idp.artifacts == {}
    cookies = {cookie["name"] for cookie in page.context.cookies()}
    assert cookies == {"zaakzoeker"}
    cards = page.locator(".kaart")
    expect(cards).to_have_count(2)
    titles = sorted(cards.locator("h2").all_inner_texts())
    assert titles == [
        "Aanvraag omgevingsvergunning dakkapel",
        "Melding kapotte lantaarnpaal",
    ]
    expect(page.get_by_text("In behandeling")).to_be_visible()
    assert ZAAK_ANDER not in page.content()
    assert BSN_BURGER not in page.content()
    assert BSN_BURGER not in page.url
    page.screenshot(path=shots / "burger-2-mijn-zaken.png", full_page=True)

    page.get_by_role("link", name="Aanvraag omgevingsvergunning dakkapel").click()
    expect(page.get_by_text("Hoe staat het ervoor?")).to_be_visible()
    timeline = page.locator(".tijdlijn li")
    expect(timeline).to_have_count(2)
    expect(timeline.nth(1)).to_contain_text("In behandeling")
    page.screenshot(path=shots / "burger-3-zaak.png", full_page=True)

    # Someone else's zaak by changing the URL: as if it does not exist.
    answer = page.goto(f"{site.start}mijn-zaken/{ZAAK_ANDER}")
    assert answer is not None and answer.status == 404

    page.goto(f"{site.start}mijn-zaken")
    page.get_by_role("button", name="Uitloggen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("U bent uitgelogd")
    assert len(site.idp.logout_requests) == 1
    page.screenshot(path=shots / "burger-4-uitgelogd.png", full_page=True)
    page.goto(f"{site.start}mijn-zaken")
    expect(page).to_have_url(f"{site.start}inloggen")

    # The broker's log names the ACS visit, never the BSN or the artifact.
    logged = site.broker.log_path.read_text(errors="replace")
    assert "GET /zaakzoeker/digid/acs 303" in logged
    assert BSN_BURGER not in logged
    assert "SAMLart" not in logged
