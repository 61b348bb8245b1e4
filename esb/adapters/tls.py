"""TLS and basic authentication for the destinations reached over HTTP.

The ``http``, ``stuf`` and ``soap`` adapters share these settings (the
``amqp`` destination and source take the same ``tls`` for ``amqps://``)::

    tls:
      ca: /etc/emo/backoffice-ca.pem   # CAs to trust, PEM (default: the system's)
      cert: /etc/emo/emo-client.pem    # client certificate, PEM; its chain may follow
      key: /etc/emo/emo-client.key     # its private key, PEM (default: inside cert)
      verify: true                     # false: accept any server certificate
    auth:
      username: emo
      password: ${BACKOFFICE_PASSWORD}

Files are read and checked when the adapter is built, at start-up or reload: a
missing file, a certificate that is not PEM or a key that does not belong to
the certificate is a ConfigError then, not a failed delivery at night.
Relative paths are taken from the broker's working directory.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import crypto
from twisted.internet import ssl
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.web.iweb import IPolicyForHTTPS
from zope.interface import implementer

from esb.errors import ConfigError

TLS_KEYS = ("ca", "cert", "key", "verify")
AUTH_KEYS = ("username", "password")


def check_keys(
    destination: str,
    what: str,
    settings: Mapping[str, Any],
    known: tuple[str, ...],
    *,
    owner: str = "destination",
) -> None:
    """ConfigError when ``settings`` holds a key that is not in ``known``.

    ``owner`` says what ``destination`` names, in the message: a destination,
    or a source (the AMQP source shares the ``tls`` section).
    """
    unknown = sorted(str(key) for key in settings if key not in known)
    if unknown:
        raise ConfigError(
            f"{owner} '{destination}': unknown {what} setting "
            f"{', '.join(repr(key) for key in unknown)}; expected one of: "
            + ", ".join(known)
        )


def _section(
    destination: str, name: str, value: object, owner: str = "destination"
) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"{owner} '{destination}': '{name}' must be a mapping of settings"
        )
    return value


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The ``tls`` section of a destination, as given."""

    ca: Path | None = None
    cert: Path | None = None
    key: Path | None = None
    verify: bool = True

    @classmethod
    def from_settings(
        cls, destination: str, value: object, *, owner: str = "destination"
    ) -> TlsSettings:
        section = _section(destination, "tls", value, owner)
        check_keys(destination, "tls", section, TLS_KEYS, owner=owner)
        verify = section.get("verify", True)
        if not isinstance(verify, bool):
            raise ConfigError(
                f"{owner} '{destination}': tls.verify must be true or false"
            )

        def path(key: str) -> Path | None:
            given = section.get(key)
            if given in (None, ""):
                return None
            found = Path(str(given))
            if not found.is_file():
                raise ConfigError(
                    f"{owner} '{destination}': tls.{key} {found} is not a file"
                )
            return found

        tls = cls(path("ca"), path("cert"), path("key"), verify)
        if tls.key is not None and tls.cert is None:
            raise ConfigError(
                f"{owner} '{destination}': tls.key needs tls.cert, the "
                "client certificate it belongs to"
            )
        return tls


@dataclass(frozen=True, slots=True)
class BasicAuth:
    """HTTP basic authentication (RFC 7617) with one user name and password."""

    username: str
    password: str = field(repr=False)

    @classmethod
    def from_settings(cls, destination: str, value: object) -> BasicAuth:
        section = _section(destination, "auth", value)
        check_keys(destination, "auth", section, AUTH_KEYS)
        username = section.get("username")
        password = section.get("password")
        if not username or password is None:
            raise ConfigError(
                f"destination '{destination}': auth needs a username and a password"
            )
        if ":" in str(username):
            # RFC 7617 section 2: the user-id cannot contain a colon.
            raise ConfigError(
                f"destination '{destination}': auth.username may not contain ':'"
            )
        return cls(str(username), str(password))

    @property
    def header(self) -> str:
        """The value of the Authorization header."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")


def _read(who: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{who}: cannot read {path}: {exc.strerror}") from exc


def _certificates(who: str, path: Path) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(_read(who, path))
    except ValueError as exc:
        raise ConfigError(f"{who}: {path} holds no PEM certificate") from exc


def _private_key(who: str, path: Path) -> Any:
    try:
        return serialization.load_pem_private_key(_read(who, path), password=None)
    except (ValueError, TypeError) as exc:
        # TypeError: the key is encrypted; EMO reads keys that are protected
        # by file permissions, as services do.
        raise ConfigError(
            f"{who}: {path} holds no unencrypted PEM private key ({exc})"
        ) from exc


def _public_der(key: Any) -> bytes:
    der: bytes = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return der


@implementer(IPolicyForHTTPS)
class TlsPolicy:
    """How the destination's TLS connections are made (HTTPS, or amqps://).

    With ``verify`` on, the server's certificate must chain to ``ca`` (or to
    the system's CAs) and name the host of the URL; with it off, any server
    certificate is taken, which only makes sense against a test system.
    """

    def __init__(
        self, destination: str, tls: TlsSettings, *, owner: str = "destination"
    ) -> None:
        self.tls = tls
        self._trust: Any = None
        who = f"{owner} '{destination}'"  # what each error message starts with
        if tls.ca is not None:
            self._trust = ssl.trustRootFromCertificates(
                [
                    ssl.Certificate(crypto.X509.from_cryptography(cert))
                    for cert in _certificates(who, tls.ca)
                ]
            )
        self._client: dict[str, Any] = {}
        if tls.cert is not None:
            chain = _certificates(who, tls.cert)
            key = _private_key(who, tls.key or tls.cert)
            if _public_der(key.public_key()) != _public_der(chain[0].public_key()):
                raise ConfigError(
                    f"{who}: the private key in "
                    f"{tls.key or tls.cert} does not belong to the certificate "
                    f"in {tls.cert}"
                )
            # pyOpenSSL takes cryptography's objects as they are.
            self._client = {"certificate": chain[0], "privateKey": key}
            if len(chain) > 1:
                # Intermediates after the leaf go out with it, so the server
                # can build the path to the CA it trusts.
                self._client["extraCertChain"] = chain[1:]
        # One creator per host: each holds an OpenSSL context, built once.
        self._creators: dict[bytes, IOpenSSLClientConnectionCreator] = {}

    def creatorForNetloc(
        self, hostname: bytes, port: int
    ) -> IOpenSSLClientConnectionCreator:
        creator = self._creators.get(hostname)
        if creator is None:
            if self.tls.verify:
                creator = ssl.optionsForClientTLS(
                    hostname.decode("ascii"),
                    trustRoot=self._trust,
                    extraCertificateOptions=dict(self._client),
                )
            else:
                creator = ssl.CertificateOptions(verify=False, **self._client)
            self._creators[hostname] = creator
        return creator
