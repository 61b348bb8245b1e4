"""Settings: emo.yaml, the environment and flags, in that order of strength."""

from __future__ import annotations

from pathlib import Path

import pytest

from esb.config import DEFAULT_PORT, load_settings
from esb.errors import ConfigError
from tests.conftest import ROOT


def test_the_shipped_configuration_gives_the_documented_defaults() -> None:
    settings = load_settings(ROOT / "config", environ={})

    assert settings.port == DEFAULT_PORT
    assert settings.host == "127.0.0.1"
    assert settings.data_dir.resolve() == (ROOT / "var").resolve()
    assert settings.schemas == ()
    assert settings.max_body_bytes == 100 * 1024 * 1024
    assert settings.system.applicatie == "EMO"
    assert (settings.keep_delivered_days, settings.keep_dead_days) == (30.0, 90.0)
    assert settings.journal_url.startswith("sqlite:///")
    assert settings.routes_path == ROOT / "config" / "routes.yaml"


def test_flags_and_environment_win_over_the_file(tmp_path: Path) -> None:
    (tmp_path / "emo.yaml").write_text("port: 9000\ndatabase_url: sqlite:///x.db\n")
    settings = load_settings(
        tmp_path,
        port=9100,
        data_dir=tmp_path / "data",
        schemas=[tmp_path / "zds"],
        routes=tmp_path / "other.yaml",
        environ={"EMO_DATABASE_URL": "postgresql+psycopg://db/emo"},
    )

    assert settings.port == 9100
    assert settings.journal_url == "postgresql+psycopg://db/emo"
    assert settings.schemas == (tmp_path / "zds",)
    assert settings.routes_path == tmp_path / "other.yaml"


def test_relative_paths_in_the_file_are_relative_to_its_folder(tmp_path: Path) -> None:
    (tmp_path / "emo.yaml").write_text("data: d\nschemas: [s1, s2]\nroutes: r.yaml\n")
    settings = load_settings(tmp_path, environ={})

    assert settings.data_dir == tmp_path / "d"
    assert settings.schemas == (tmp_path / "s1", tmp_path / "s2")
    assert settings.routes_path == tmp_path / "r.yaml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("prot: 1\n", "unknown setting(s) prot"),
        ("port: -1\n", "'port' must be a positive whole number"),
        ("port: true\n", "'port' must be a positive whole number"),
        ("schemas: zds\n", "'schemas' must be a list"),
        ("system: {organisatie: '1900'}\n", "'system' needs at least an 'applicatie'"),
        ("retention: {delivered: 3}\n", "'retention' takes delivered_days"),
        ("retention: {dead_days: soon}\n", "retention.dead_days must be a number"),
        ("- a list\n", "expected a mapping"),
        ("port: [\n", "cannot be read"),
    ],
)
def test_a_wrong_setting_is_named(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "emo.yaml").write_text(text)
    with pytest.raises(
        ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")
    ):
        load_settings(tmp_path, environ={})


def test_retention_may_keep_messages_for_ever(tmp_path: Path) -> None:
    (tmp_path / "emo.yaml").write_text("retention: {delivered_days: null}\n")
    settings = load_settings(tmp_path, environ={})
    assert settings.keep_delivered_days is None
    assert settings.keep_dead_days == 90.0
