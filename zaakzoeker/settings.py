"""The ``zaakzoeker`` section of ``emo.yaml``, checked.

::

    zaakzoeker:
      database: null              # default: as the zaakregister adapter
                                  # (EMO_ZAAKREGISTER_URL, else
                                  # ./var/zaakregister.db)
      documents: null             # default: as the zaakregister adapter
      secret_key_file: zaakzoeker.key   # relative to the data folder
      session_minutes: 30         # idle time after which a session ends
      public_url: null            # e.g. https://zaken.gemeente.nl/zaakzoeker
      threads: 8                  # threads serving requests
      digid:                      # citizens; omitted: no citizen login
        sp_entity_id: https://zaken.gemeente.nl/zaakzoeker
        idp_metadata: digid-metadata.xml
        sp_key: sp.key
        sp_cert: sp.crt
        level: midden             # basis | midden | substantieel | hoog
        bsn_attribute: null       # else the BSN is read from the NameID
        binding: artifact         # artifact (as DigiD answers) | post
        tls_ca: null              # PEM file: the CAs of the IdP's artifact
                                  # resolution service (DigiD: PKIoverheid);
                                  # null: the system's
      medewerkers_saml:           # employees; omitted: local accounts only
        sp_entity_id: ...; idp_metadata: ...; sp_key: ...; sp_cert: ...
        level: null               # null: no DigiD level asked or checked
        rollen_attribuut: rollen  # values: medewerker, vertrouwelijk, beheerder
        binding: post             # post (most IdPs) | artifact
        tls_ca: null

``binding`` is how the IdP sends its answer back to the ACS. With
``artifact`` the browser comes back by a GET carrying only a reference
(SAMLart), and EMO fetches the answer from the IdP over SOAP, presenting
``sp_key``/``sp_cert`` as TLS client certificate; ``tls_ca`` then says whom
to trust at the other end. With ``post`` the browser posts the answer
itself, from the IdP's site: over HTTPS a second, ``SameSite=None`` cookie
makes that work (see :mod:`zaakzoeker.sessions`).

Relative file names are relative to the configuration folder (where
``emo.yaml`` is), except ``secret_key_file``, which lives in the data folder.
Every mistake raises :class:`esb.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import os
import secrets
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from esb.config import CONFIG_FILE, Settings
from esb.errors import ConfigError

LEVELS = ("basis", "midden", "substantieel", "hoog")
BINDINGS = ("artifact", "post")
ROLLEN = ("medewerker", "vertrouwelijk", "beheerder")

_KEYS = {
    "database",
    "documents",
    "secret_key_file",
    "session_minutes",
    "public_url",
    "threads",
    "digid",
    "medewerkers_saml",
}
_SAML_KEYS = {
    "sp_entity_id",
    "idp_metadata",
    "sp_key",
    "sp_cert",
    "level",
    "bsn_attribute",
    "rollen_attribuut",
    "binding",
    "tls_ca",
}
_SAML_REQUIRED = ("sp_entity_id", "idp_metadata", "sp_key", "sp_cert")


@dataclass(frozen=True, slots=True)
class SamlSectie:
    """One SAML service provider of the zaakzoeker (DigiD or employees)."""

    naam: str  # "digid" or "medewerkers_saml"
    pad: str  # the URL segment of its routes: "digid" or "saml"
    sp_entity_id: str
    idp_metadata: Path
    sp_key: Path
    sp_cert: Path
    level: str | None  # None: ask for and check no level (employees' IdP)
    binding: str  # how the IdP answers the ACS: "artifact" or "post"
    tls_ca: Path | None = None  # CAs of the artifact resolution service
    bsn_attribute: str | None = None
    rollen_attribuut: str | None = None

    def saml_settings(self, public_url: str) -> Any:
        """H3's :class:`zaakzoeker.saml.config.SamlSettings` for this section."""
        from zaakzoeker.saml.config import SamlSettings

        base = public_url.rstrip("/")
        return SamlSettings(
            sp_entity_id=self.sp_entity_id,
            acs_url=f"{base}/{self.pad}/acs",
            sls_url=f"{base}/{self.pad}/logout",
            sp_key_file=str(self.sp_key),
            sp_cert_file=str(self.sp_cert),
            idp_metadata_file=str(self.idp_metadata),
            bsn_attribute=self.bsn_attribute,
            required_level=self.level,
            bsn_required=self.naam == "digid",
            acs_binding=self.binding,
            tls_ca_file=None if self.tls_ca is None else str(self.tls_ca),
        )


@dataclass(frozen=True, slots=True)
class ZaakzoekerSettings:
    """Everything the zaakzoeker needs, with defaults filled in."""

    database_url: str
    documents: Path
    secret_key: bytes
    session_minutes: int = 30
    public_url: str = "http://127.0.0.1:8470/zaakzoeker"
    threads: int = 8
    digid: SamlSectie | None = None
    medewerkers_saml: SamlSectie | None = None

    @property
    def secure_cookies(self) -> bool:
        """Cookies carry Secure when the zaakzoeker is reached over HTTPS."""
        return self.public_url.startswith("https://")


def parse_settings(
    settings: Settings, environ: Mapping[str, str] | None = None
) -> ZaakzoekerSettings:
    """Check ``settings.zaakzoeker`` and fill in the defaults.

    An absent section (None) gives the defaults, so the account commands work
    before the section is written. Creates the secret key file when missing.
    """
    from esb.adapters.zaakregister import database_url, documents_folder

    env = os.environ if environ is None else environ
    where = f"{settings.config_dir / CONFIG_FILE}: zaakzoeker"
    section: Mapping[str, Any] = settings.zaakzoeker or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where} must be a mapping of settings")
    unknown = set(section) - _KEYS
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected some of: {', '.join(sorted(_KEYS))}"
        )

    # The zaakzoeker reads what the zaakregister adapter writes: without a
    # setting of its own, it takes the adapter's default database.
    url = _text(where, section, "database") or database_url({}, env)
    documents = _text(where, section, "documents")
    folder = (
        settings.config_dir / documents
        if documents is not None
        else documents_folder({}, url)
    )

    key_name = _text(where, section, "secret_key_file") or "zaakzoeker.key"
    secret_key = _secret_key(where, settings.data_dir / key_name)

    public_url = _text(where, section, "public_url")
    if public_url is None:
        public_url = f"http://{settings.host}:{settings.port}/zaakzoeker"
    parts = urlsplit(public_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{where}.public_url must be an http(s) URL such as "
            f"https://zaken.gemeente.nl/zaakzoeker, not {public_url!r}"
        )

    return ZaakzoekerSettings(
        database_url=url,
        documents=folder,
        secret_key=secret_key,
        session_minutes=_positive(where, section, "session_minutes", 30),
        public_url=public_url.rstrip("/"),
        threads=_positive(where, section, "threads", 8),
        digid=_saml(
            where,
            settings.config_dir,
            section,
            "digid",
            "digid",
            default_level="midden",
            default_binding="artifact",
        ),
        medewerkers_saml=_saml(
            where,
            settings.config_dir,
            section,
            "medewerkers_saml",
            "saml",
            default_level=None,
            default_binding="post",
        ),
    )


def _text(where: str, section: Mapping[str, Any], key: str) -> str | None:
    value = section.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"{where}.{key} must be text, not {value!r}")
    return value


def _positive(where: str, section: Mapping[str, Any], key: str, default: int) -> int:
    value = section.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"{where}.{key} must be a positive whole number")
    return value


def _saml(
    where: str,
    config_dir: Path,
    section: Mapping[str, Any],
    key: str,
    pad: str,
    *,
    default_level: str | None,
    default_binding: str,
) -> SamlSectie | None:
    value = section.get(key)
    if value is None:
        return None
    here = f"{where}.{key}"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{here} must be a mapping of settings")
    # Citizens have no roles: rollen_attribuut belongs to employees only.
    allowed = _SAML_KEYS - {"rollen_attribuut"} if key == "digid" else _SAML_KEYS
    unknown = set(value) - allowed
    if unknown:
        raise ConfigError(
            f"{here}: unknown setting(s) {', '.join(sorted(map(str, unknown)))}; "
            f"expected some of: {', '.join(sorted(allowed))}"
        )
    missing = [name for name in _SAML_REQUIRED if not value.get(name)]
    if missing:
        raise ConfigError(f"{here}: missing {', '.join(missing)}")
    texts = {name: _text(here, value, name) for name in _SAML_KEYS}
    files: dict[str, Path] = {}
    for name in ("idp_metadata", "sp_key", "sp_cert"):
        path = config_dir / str(texts[name])
        if not path.is_file():
            raise ConfigError(f"{here}.{name}: no such file: {path}")
        files[name] = path
    level = texts["level"] or default_level
    if level is not None and level not in LEVELS:
        raise ConfigError(
            f"{here}.level must be one of {', '.join(LEVELS)}, not {level!r}"
        )
    binding = texts["binding"] or default_binding
    if binding not in BINDINGS:
        raise ConfigError(
            f"{here}.binding must be one of {', '.join(BINDINGS)}, not {binding!r}"
        )
    tls_ca = _tls_ca(here, config_dir, texts["tls_ca"], binding)
    rollen = texts["rollen_attribuut"]
    if key == "medewerkers_saml" and rollen is None:
        rollen = "rollen"
    return SamlSectie(
        naam=key,
        pad=pad,
        sp_entity_id=str(texts["sp_entity_id"]),
        idp_metadata=files["idp_metadata"],
        sp_key=files["sp_key"],
        sp_cert=files["sp_cert"],
        level=level,
        binding=binding,
        tls_ca=tls_ca,
        bsn_attribute=texts["bsn_attribute"],
        rollen_attribuut=rollen,
    )


def _tls_ca(here: str, config_dir: Path, name: str | None, binding: str) -> Path | None:
    """The CA file for the artifact resolution's TLS, checked to hold at
    least one certificate that OpenSSL can read."""
    if name is None:
        return None
    if binding != "artifact":
        # Only the artifact binding opens a connection to the IdP; a CA file
        # that nothing reads would let an admin think it is in force.
        raise ConfigError(
            f"{here}.tls_ca is only used with binding: artifact "
            f"(this section has binding: {binding})"
        )
    path = config_dir / name
    if not path.is_file():
        raise ConfigError(f"{here}.tls_ca: no such file: {path}")
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ConfigError(
            f"{here}.tls_ca {path} holds no usable PEM certificate: {exc}"
        ) from exc
    return path


def _secret_key(where: str, path: Path) -> bytes:
    """The key that signs CSRF tokens: read, or made once (mode 0600)."""
    try:
        if path.is_file():
            key = path.read_bytes().strip()
            if len(key) < 32:
                raise ConfigError(
                    f"{where}.secret_key_file {path} holds {len(key)} bytes; "
                    "it needs at least 32 (delete it to have a new one made)"
                )
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(key + b"\n")
        return key
    except FileExistsError:
        # Another process made it between the check and the create.
        return path.read_bytes().strip()
    except OSError as exc:
        raise ConfigError(
            f"{where}.secret_key_file {path} cannot be read or made: {exc}"
        ) from exc
