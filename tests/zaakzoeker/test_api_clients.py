"""``emo zaakzoeker api-client add|list|revoke`` as real processes.

The commands run as ``emo`` itself (a child process) on the zaakzoeker's
database named in emo.yaml; the key that ``add`` prints is then used
against the whole application on that same database, and stops working
once revoked.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from tests.esb.conftest import EMO, emo_environment
from tests.zaakzoeker.webapp import ZAAK_A1, ZAAK_G1, Zaakzoeker, filled, zaakzoeker
from zaakzoeker.database import api_clients_table

__all__ = ["filled", "zaakzoeker"]  # fixtures


@pytest.fixture
def emo(zaakzoeker: Zaakzoeker, tmp_path: Path) -> list[str]:
    """``emo`` with a configuration whose zaakzoeker uses the test app's
    database (the options go after the subcommand, as a person types them)."""
    config = tmp_path / "config"
    config.mkdir()
    url = f"sqlite:///{zaakzoeker.folder / 'zaakregister.db'}"
    (config / "emo.yaml").write_text(f"zaakzoeker:\n  database: '{url}'\n")
    return ["--config", str(config), "--data", str(tmp_path / "data")]


def run(options: list[str], *words: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EMO), "zaakzoeker", "api-client", *words, *options],
        capture_output=True,
        text=True,
        env=emo_environment(),
        timeout=120,
    )


def get(client: FlaskClient, path: str, key: str) -> int:
    return client.get(path, headers={"Authorization": f"Bearer {key}"}).status_code


def test_add_list_revoke(zaakzoeker: Zaakzoeker, emo: list[str]) -> None:
    """The key is printed once, alone on stdout; it works, sees confidential
    zaken only with --vertrouwelijk, and is refused once revoked. The list
    shows names, scope and state, never keys or their hashes."""
    portaal = run(emo, "add", "portaal")
    assert portaal.returncode == 0, portaal.stderr
    portaal_key = portaal.stdout.strip()
    assert portaal.stdout == portaal_key + "\n"
    assert len(portaal_key) >= 43  # 32 random bytes, URL-safe base64
    assert "applicatie portaal aangemaakt (geen vertrouwelijke zaken)" in (
        portaal.stderr
    )
    assert "niet nog eens getoond" in portaal.stderr

    archief = run(emo, "add", "archief", "--vertrouwelijk")
    assert archief.returncode == 0, archief.stderr
    archief_key = archief.stdout.strip()
    assert archief_key != portaal_key
    assert "(ook vertrouwelijke zaken)" in archief.stderr

    client = zaakzoeker.app.test_client()
    assert get(client, f"/api/zaken/{ZAAK_A1}", portaal_key) == 200
    assert get(client, f"/api/zaken/{ZAAK_G1}", portaal_key) == 404
    assert get(client, f"/api/zaken/{ZAAK_G1}", archief_key) == 200

    listed = run(emo, "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert [line.split("\t")[:3] for line in lines] == [
        ["archief", "met vertrouwelijke zaken", "actief"],
        ["portaal", "zonder vertrouwelijke zaken", "actief"],
    ]
    assert all(line.split("\t")[3].startswith("sinds 20") for line in lines)
    with zaakzoeker.engine.connect() as connection:
        hashes = connection.execute(api_clients_table.select()).mappings().all()
    for row in hashes:
        assert row["sleutel_hash"] not in listed.stdout
    assert portaal_key not in listed.stdout and archief_key not in listed.stdout

    revoked = run(emo, "revoke", "portaal")
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout == "applicatie portaal ingetrokken\n"
    assert get(client, f"/api/zaken/{ZAAK_A1}", portaal_key) == 401
    assert get(client, f"/api/zaken/{ZAAK_A1}", archief_key) == 200
    after = run(emo, "list").stdout.splitlines()
    assert after[1].split("\t")[:3] == [
        "portaal",
        "zonder vertrouwelijke zaken",
        "ingetrokken",
    ]


def test_refusals_are_plain(emo: list[str]) -> None:
    """A taken or empty name, an unknown one to revoke: exit 1 and one line
    saying why, no key printed and no traceback."""
    assert run(emo, "add", "portaal").returncode == 0
    for words, message in (
        (("add", "portaal"), "emo: er is al een applicatie met de naam 'portaal'\n"),
        (("add", "  "), "emo: de naam van een applicatie is 1 tot 200 tekens\n"),
        (("add", "x" * 201), "emo: de naam van een applicatie is 1 tot 200 tekens\n"),
        (("revoke", "niemand"), "emo: geen applicatie 'niemand'\n"),
    ):
        refused = run(emo, *words)
        assert refused.returncode == 1, words
        assert refused.stdout == ""
        assert refused.stderr == message
    usage = run(emo)
    assert usage.returncode == 2
    assert "{add,list,revoke}" in usage.stderr
    assert "Traceback" not in usage.stderr


def test_a_database_that_cannot_be_opened_is_named(tmp_path: Path) -> None:
    """Exit 2 and the database's URL, its password hidden."""
    config = tmp_path / "config"
    config.mkdir()
    # Port 1 on this machine: nothing listens, the connection is refused.
    url = "postgresql+psycopg://emo:geheim@127.0.0.1:1/zaken"
    (config / "emo.yaml").write_text(f"zaakzoeker:\n  database: '{url}'\n")
    failed = run(["--config", str(config), "--data", str(tmp_path)], "list")
    assert failed.returncode == 2
    assert failed.stderr.startswith(
        "emo: cannot open the zaakzoeker's database "
        "postgresql+psycopg://emo:***@127.0.0.1:1/zaken: "
    )
    assert "geheim" not in failed.stderr
    assert "Traceback" not in failed.stderr
