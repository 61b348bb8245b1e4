"""EMO's settings: ``config/emo.yaml``, the environment and the command line.

Precedence, strongest first: command-line flags, environment variables
(``EMO_DATABASE_URL``), ``emo.yaml`` in the configuration folder, defaults.
Relative paths in ``emo.yaml`` are relative to the folder the file is in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from esb.errors import ConfigError
from esb.message import Party

DEFAULT_PORT = 8470
DEFAULT_HOST = "127.0.0.1"
# ZDS documents travel base64-encoded inside the message, so a 75 MB document
# makes a 100 MB request.
DEFAULT_MAX_BODY = 100 * 1024 * 1024
DEFAULT_MAX_DEPTH = 100
CONFIG_FILE = "emo.yaml"
ROUTES_FILE = "routes.yaml"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the daemon needs to start."""

    config_dir: Path = Path("config")
    data_dir: Path = Path("var")
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    schemas: tuple[Path, ...] = ()
    database_url: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_depth: int = DEFAULT_MAX_DEPTH
    system: Party = field(default_factory=lambda: Party(applicatie="EMO"))
    routes_file: Path | None = None
    # Days finished messages stay in the journal; None keeps them for ever.
    keep_delivered_days: float | None = 30.0
    keep_dead_days: float | None = 90.0
    # The ``zaakzoeker`` section of emo.yaml as written (None: no zaakzoeker);
    # zaakzoeker.settings checks it, with paths relative to config_dir.
    zaakzoeker: Mapping[str, Any] | None = None
    # SQLite journal durability: FULL survives a power cut, NORMAL a crash of
    # the process only (see esb/journal/store.py).
    journal_synchronous: Literal["FULL", "NORMAL"] = "FULL"

    @property
    def routes_path(self) -> Path:
        return self.routes_file or self.config_dir / ROUTES_FILE

    @property
    def journal_url(self) -> str:
        """The journal's database: EMO_DATABASE_URL, else SQLite in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'emo.db').resolve()}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "emo.pid"

    @property
    def state_file(self) -> Path:
        """Written by a running broker: when it started, on which port."""
        return self.data_dir / "emo.state.json"


def load_settings(
    config_dir: Path | None = None,
    *,
    data_dir: Path | None = None,
    port: int | None = None,
    schemas: Sequence[Path] | None = None,
    routes: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read ``emo.yaml`` from ``config_dir`` and apply the overrides."""
    env = os.environ if environ is None else environ
    folder = config_dir or Path("config")
    settings = Settings(config_dir=folder)
    path = folder / CONFIG_FILE
    if path.is_file():
        settings = _apply_file(settings, path)
    if env.get("EMO_DATABASE_URL"):
        settings = replace(settings, database_url=env["EMO_DATABASE_URL"])
    if data_dir is not None:
        settings = replace(settings, data_dir=data_dir)
    if port is not None:
        settings = replace(settings, port=port)
    if schemas:
        settings = replace(settings, schemas=tuple(schemas))
    if routes is not None:
        settings = replace(settings, routes_file=routes)
    return settings


_KEYS = {
    "host",
    "port",
    "data",
    "schemas",
    "database_url",
    "max_body_bytes",
    "max_depth",
    "system",
    "routes",
    "retention",
    "zaakzoeker",
    "journal_synchronous",
}


def _apply_file(settings: Settings, path: Path) -> Settings:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top")
    unknown = set(document) - _KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown setting(s) {', '.join(sorted(unknown))}; "
            f"expected some of: {', '.join(sorted(_KEYS))}"
        )
    base = path.parent
    changes: dict[str, Any] = {}
    if "host" in document:
        changes["host"] = str(document["host"])
    for key in ("port", "max_body_bytes", "max_depth"):
        if key in document:
            changes[key] = _positive_int(path, key, document[key])
    if "data" in document:
        changes["data_dir"] = base / str(document["data"])
    if "routes" in document:
        changes["routes_file"] = base / str(document["routes"])
    if document.get("database_url"):
        changes["database_url"] = str(document["database_url"])
    if "schemas" in document:
        entries = document["schemas"] or []
        if not isinstance(entries, list):
            raise ConfigError(f"{path}: 'schemas' must be a list of folders or zips")
        changes["schemas"] = tuple(base / str(entry) for entry in entries)
    if "retention" in document:
        changes.update(_retention(path, document["retention"]))
    if "journal_synchronous" in document:
        level = str(document["journal_synchronous"]).upper()
        if level not in ("FULL", "NORMAL"):
            raise ConfigError(
                f"{path}: 'journal_synchronous' is full or normal, not "
                f"{document['journal_synchronous']!r}"
            )
        changes["journal_synchronous"] = level
    if "zaakzoeker" in document:
        section = document["zaakzoeker"]
        if section is not None and not isinstance(section, dict):
            raise ConfigError(f"{path}: 'zaakzoeker' must be a mapping of settings")
        changes["zaakzoeker"] = section
    if "system" in document:
        system = document["system"] or {}
        if not isinstance(system, dict) or not system.get("applicatie"):
            raise ConfigError(f"{path}: 'system' needs at least an 'applicatie'")
        changes["system"] = Party(
            organisatie=_opt(system.get("organisatie")),
            applicatie=str(system["applicatie"]),
            administratie=_opt(system.get("administratie")),
        )
    return replace(settings, **changes)


def _retention(path: Path, value: object) -> dict[str, float | None]:
    if not isinstance(value, dict) or set(value) - {"delivered_days", "dead_days"}:
        raise ConfigError(
            f"{path}: 'retention' takes delivered_days and dead_days (numbers of "
            "days, or null to keep for ever)"
        )
    found: dict[str, float | None] = {}
    for key, name in (
        ("delivered_days", "keep_delivered_days"),
        ("dead_days", "keep_dead_days"),
    ):
        if key not in value:
            continue
        days = value[key]
        if days is not None and (
            isinstance(days, bool) or not isinstance(days, int | float) or days < 0
        ):
            raise ConfigError(f"{path}: retention.{key} must be a number of days")
        found[name] = None if days is None else float(days)
    return found


def _positive_int(path: Path, key: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{path}: '{key}' must be a positive whole number")
    return value


def _opt(value: object) -> str | None:
    return None if value in (None, "") else str(value)
