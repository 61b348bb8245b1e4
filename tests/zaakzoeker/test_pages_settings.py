"""The ``zaakzoeker:`` section of emo.yaml and the account commands.

Every mistake in the section is a ConfigError naming the key; the secret
key is made once, readable by its owner only; ``emo zaakzoeker account``
adds, lists and disables accounts, and refuses what it cannot do with a
plain message.
"""

from __future__ import annotations

import io
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from esb import cli
from esb.config import Settings, load_settings
from esb.errors import ConfigError
from tests.zaakzoeker.idp import make_keys
from zaakzoeker import accounts
from zaakzoeker.database import open_engine
from zaakzoeker.settings import SamlSectie, parse_settings


def settings_with(tmp_path: Path, section: Any) -> Settings:
    (tmp_path / "config").mkdir(exist_ok=True)
    return Settings(
        config_dir=tmp_path / "config", data_dir=tmp_path / "data", zaakzoeker=section
    )


def test_defaults_follow_the_zaakregister_adapter(tmp_path: Path) -> None:
    """Without settings: the adapter's database and documents, 30 minutes,
    a public URL from the broker's address, a new secret key (0600)."""
    found = parse_settings(settings_with(tmp_path, {}), environ={})
    assert found.database_url == "sqlite:///./var/zaakregister.db"
    assert found.documents == Path("var/zaakregister-documenten")
    assert found.session_minutes == 30
    assert found.public_url == "http://127.0.0.1:8470/zaakzoeker"
    assert not found.secure_cookies
    key_file = tmp_path / "data" / "zaakzoeker.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(found.secret_key) == 64
    again = parse_settings(settings_with(tmp_path, {}), environ={})
    assert again.secret_key == found.secret_key
    from_env = parse_settings(
        settings_with(tmp_path, None),
        environ={"EMO_ZAAKREGISTER_URL": "sqlite:////srv/emo/zr.db"},
    )
    assert from_env.database_url == "sqlite:////srv/emo/zr.db"
    assert from_env.documents == Path("/srv/emo/zaakregister-documenten")


def test_https_public_url_makes_cookies_secure(tmp_path: Path) -> None:
    found = parse_settings(
        settings_with(tmp_path, {"public_url": "https://zaken.example.nl/zaakzoeker/"}),
        environ={},
    )
    assert found.public_url == "https://zaken.example.nl/zaakzoeker"
    assert found.secure_cookies


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"sessie_minuten": 5}, "unknown setting(s) sessie_minuten"),
        ({"session_minutes": 0}, "zaakzoeker.session_minutes must be a positive"),
        ({"session_minutes": "30"}, "zaakzoeker.session_minutes must be a positive"),
        ({"threads": True}, "zaakzoeker.threads must be a positive"),
        ({"database": 5}, "zaakzoeker.database must be text"),
        ({"public_url": "zaken.example.nl"}, "zaakzoeker.public_url must be an http"),
        ({"digid": "ja"}, "zaakzoeker.digid must be a mapping"),
        ({"digid": {"sp_entity_id": "x"}}, "digid: missing idp_metadata, sp_key"),
        (
            {
                "digid": {
                    "sp_entity_id": "x",
                    "idp_metadata": "geen.xml",
                    "sp_key": "k",
                    "sp_cert": "c",
                }
            },
            "zaakzoeker.digid.idp_metadata: no such file",
        ),
        (
            {"digid": {"rollen_attribuut": "rollen"}},
            "zaakzoeker.digid: unknown setting(s) rollen_attribuut",
        ),
    ],
)
def test_mistakes_name_their_key(
    tmp_path: Path, section: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings(settings_with(tmp_path, section), environ={})
    assert message in str(raised.value)
    assert str(tmp_path / "config" / "emo.yaml") in str(raised.value)


def test_a_bad_level_is_named(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    for name in ("idp.xml", "sp.key", "sp.crt"):
        (config / name).write_text("x")
    section = {
        "digid": {
            "sp_entity_id": "https://zaken.example.nl/zaakzoeker/digid/metadata",
            "idp_metadata": "idp.xml",
            "sp_key": "sp.key",
            "sp_cert": "sp.crt",
            "level": "midden-hoog",
        }
    }
    with pytest.raises(ConfigError, match=r"digid\.level must be one of basis, midden"):
        parse_settings(settings_with(tmp_path, section), environ={})
    section["digid"]["level"] = "hoog"
    found = parse_settings(settings_with(tmp_path, section), environ={})
    assert found.digid is not None and found.digid.level == "hoog"
    assert found.digid.idp_metadata == config / "idp.xml"


def test_a_short_secret_key_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "zaakzoeker.key").write_text("kort\n")
    with pytest.raises(ConfigError, match="holds 4 bytes; it needs at least 32"):
        parse_settings(settings_with(tmp_path, {}), environ={})


def digid_uit(config: Path, digid: dict[str, Any]) -> SamlSectie:
    settings = Settings(
        config_dir=config, data_dir=config.parent / "data", zaakzoeker={"digid": digid}
    )
    sectie = parse_settings(settings, environ={}).digid
    assert sectie is not None
    return sectie


def test_binding_and_tls_ca(tmp_path: Path) -> None:
    """DigiD answers by artifact unless told otherwise, employees' IdPs post;
    tls_ca becomes the CA file of the artifact resolution. A binding that
    does not exist, a CA file that is missing or holds no certificate, or
    one given where no artifact is resolved: a ConfigError naming the key."""
    config = tmp_path / "config"
    config.mkdir()
    keys = make_keys(config, "sp")
    (config / "idp.xml").write_text("<x/>")
    (config / "leeg.pem").write_text("geen certificaat\n")
    base = {
        "sp_entity_id": "https://zaken.example.nl/digid",
        "idp_metadata": "idp.xml",
        "sp_key": str(keys.key_file),
        "sp_cert": str(keys.cert_file),
    }
    assert digid_uit(config, base).binding == "artifact"
    with_ca = digid_uit(config, {**base, "tls_ca": str(keys.cert_file)})
    assert with_ca.tls_ca == keys.cert_file
    saml = with_ca.saml_settings("https://zaken.example.nl/zaakzoeker")
    assert (saml.acs_binding, saml.tls_ca_file) == ("artifact", str(keys.cert_file))

    for extra, message in (
        ({"binding": "redirect"}, "digid.binding must be one of artifact, post"),
        ({"binding": 1}, "digid.binding must be text"),
        ({"tls_ca": "weg.pem"}, "digid.tls_ca: no such file"),
        ({"tls_ca": "leeg.pem"}, "holds no usable PEM certificate"),
        (
            {"binding": "post", "tls_ca": "leeg.pem"},
            "digid.tls_ca is only used with binding: artifact",
        ),
    ):
        with pytest.raises(ConfigError) as raised:
            digid_uit(config, {**base, **extra})
        assert message in str(raised.value), extra

    employees = parse_settings(
        Settings(
            config_dir=config,
            data_dir=tmp_path / "data",
            zaakzoeker={"medewerkers_saml": base},
        ),
        environ={},
    ).medewerkers_saml
    assert employees is not None and employees.binding == "post"


def test_the_section_is_read_from_emo_yaml(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "emo.yaml").write_text("zaakzoeker:\n  session_minutes: 10\n")
    found = parse_settings(
        load_settings(config, data_dir=tmp_path / "data"), environ={}
    )
    assert found.session_minutes == 10


# Accounts ------------------------------------------------------------------------


@pytest.fixture
def emo_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A configuration whose zaakzoeker uses a SQLite file in tmp_path."""
    config = tmp_path / "config"
    config.mkdir()
    url = f"sqlite:///{tmp_path / 'zaakregister.db'}"
    (config / "emo.yaml").write_text(f"zaakzoeker:\n  database: '{url}'\n")
    return ["--config", str(config), "--data", str(tmp_path / "data")]


def test_account_commands(
    emo_config: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """add (password from stdin), list, disable; the password works for
    login until the account is disabled."""
    monkeypatch.setattr("sys.stdin", io.StringIO("een heel lang wachtwoord\n"))
    code = cli.main(
        [
            "zaakzoeker",
            "account",
            "add",
            "jansen",
            "--rol",
            "vertrouwelijk",
            "--password-stdin",
            *emo_config,
        ]
    )
    assert code == 0
    assert "account jansen (vertrouwelijk) aangemaakt" in capsys.readouterr().out

    assert cli.main(["zaakzoeker", "account", "list", *emo_config]) == 0
    listed = capsys.readouterr().out
    assert listed.startswith("jansen\tvertrouwelijk\tactief\tsinds ")
    assert "wachtwoord" not in listed and "argon2" not in listed

    engine = open_engine(f"sqlite:///{tmp_path / 'zaakregister.db'}")
    try:
        found = accounts.verify(engine, "jansen", "een heel lang wachtwoord")
        assert found is not None and found.rol == "vertrouwelijk"
        assert accounts.verify(engine, "jansen", "een ander wachtwoord!") is None
        assert (
            cli.main(["zaakzoeker", "account", "disable", "jansen", *emo_config]) == 0
        )
        assert accounts.verify(engine, "jansen", "een heel lang wachtwoord") is None
        with engine.connect() as connection:
            stored = connection.exec_driver_sql(
                "SELECT wachtwoord_hash FROM zzk_accounts"
            ).scalar_one()
        assert stored.startswith("$argon2id$")
    finally:
        engine.dispose()


def test_account_refusals_are_plain(
    emo_config: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    def add(name: str, password: str) -> int:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        return cli.main(
            [
                "zaakzoeker",
                "account",
                "add",
                name,
                "--rol",
                "medewerker",
                "--password-stdin",
                *emo_config,
            ]
        )

    assert add("kort", "te kort") == 1
    assert "te kort: minstens 12 tekens" in capsys.readouterr().err
    assert add("piet", "lang genoeg wachtwoord") == 0
    assert add("piet", "lang genoeg wachtwoord") == 1
    assert "er is al een account 'piet'" in capsys.readouterr().err
    assert add("met spatie", "lang genoeg wachtwoord") == 1
    assert "zonder spaties" in capsys.readouterr().err
    assert cli.main(["zaakzoeker", "account", "disable", "niemand", *emo_config]) == 1
    assert "geen account 'niemand'" in capsys.readouterr().err


def test_account_password_from_the_prompt_must_match(tmp_path: Path) -> None:
    import argparse

    engine = open_engine(f"sqlite:///{tmp_path / 'zaakregister.db'}")
    try:
        answers = iter(["een lang wachtwoord 1", "een lang wachtwoord 2"])
        args = argparse.Namespace(
            account_command="add", name="klaas", rol="medewerker", password_stdin=False
        )
        assert accounts.run(engine, args, read_password=lambda _: next(answers)) == 1
        assert accounts.accounts(engine) == []
        same = iter(["een lang wachtwoord 1"] * 2)
        assert accounts.run(engine, args, read_password=lambda _: next(same)) == 0
        assert [a.naam for a in accounts.accounts(engine)] == ["klaas"]
    finally:
        engine.dispose()


def test_a_broken_section_stops_the_broker_with_its_reason(tmp_path: Path) -> None:
    """``emo run`` with a wrong zaakzoeker section does not start, and says
    which key is wrong."""
    from tests.esb.conftest import EMO, emo_environment

    config = tmp_path / "config"
    config.mkdir()
    (config / "emo.yaml").write_text("zaakzoeker:\n  session_minutes: -5\n")
    data = tmp_path / "data"
    finished = subprocess.run(
        [str(EMO), "run", "--config", str(config), "--data", str(data), "--port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=emo_environment(),
        timeout=120,
    )
    assert finished.returncode == 2
    assert "zaakzoeker.session_minutes must be a positive whole number" in (
        finished.stdout + finished.stderr
    )
