"""The service provider: its settings, pysaml2's configuration, its metadata.

Logius wants a DigiD connection's SP metadata before it hands out DigiD's,
so :func:`sp_metadata` needs only the SP's own key and certificate.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from saml2 import (  # type: ignore[import-untyped]
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    SAMLError,
)
from saml2.config import SPConfig  # type: ignore[import-untyped]
from saml2.metadata import entity_descriptor  # type: ignore[import-untyped]
from saml2.xmldsig import (  # type: ignore[import-untyped]
    DIGEST_SHA256,
    SIG_RSA_SHA256,
)

from zaakzoeker.saml.errors import SamlInstellingFout

# The DigiD levels, weakest first, with the AuthnContextClassRef that DigiD
# puts in the assertion for each (Logius, "DigiD SAML koppelvlak":
# basis = username and password, midden = the app or SMS as a second
# factor, substantieel = the app with an identity document checked,
# hoog = the identity card's chip).
LEVELS: dict[str, str] = {
    "basis": "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
    "midden": "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract",
    "substantieel": "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard",
    "hoog": "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI",
}

# Clock difference allowed between EMO and the IdP, in seconds.
CLOCK_SKEW = 60
# Seconds to wait for the IdP's artifact resolution service.
ARTIFACT_TIMEOUT = 10

# SamlSettings.acs_binding: pysaml2's name for each.
BINDINGS = {"post": BINDING_HTTP_POST, "artifact": BINDING_HTTP_ARTIFACT}


@dataclass(frozen=True)
class SamlSettings:
    """One service provider facing one identity provider.

    Paths may be relative to the working directory; the caller resolves
    them against emo.yaml's folder first.

    ``required_level``: a key of :data:`LEVELS`; the AuthnRequest asks for
    it (comparison "minimum") and the answer is refused with less.
    None asks for nothing and checks nothing (an employee IdP with its own
    context classes).

    ``bsn_attribute``: the attribute that carries the BSN when the NameID
    does not (DigiD puts it in the NameID, so None is right there).

    ``bsn_required``: refuse an answer without a BSN. True for DigiD;
    False for an employee IdP.

    ``acs_binding``: how the IdP returns its answer to ``acs_url``:
    "post" (the SAMLResponse in a form; most IdPs) or "artifact" (a
    SAMLart reference that EMO resolves over SOAP with the IdP; what DigiD
    demands). See :meth:`zaakzoeker.saml.login.SamlLogin.finish_artifact`.

    ``tls_ca_file``: the CA certificates (PEM) that the IdP's artifact
    resolution service must be signed by; None uses the system's. DigiD
    uses PKIoverheid, whose private root is not in the usual bundles.
    """

    sp_entity_id: str
    acs_url: str
    sls_url: str | None
    sp_key_file: Path | str
    sp_cert_file: Path | str
    idp_metadata_file: Path | str
    bsn_attribute: str | None = None
    required_level: str | None = "midden"
    xmlsec_binary: str = "/usr/bin/xmlsec1"
    bsn_required: bool = True
    acs_binding: str = "post"
    tls_ca_file: Path | str | None = None


def sp_config(settings: SamlSettings, *, with_idp: bool = True) -> Any:
    """The pysaml2 configuration of the service provider.

    ``with_idp=False`` leaves the IdP's metadata out, so the SP's own
    metadata can be made before the IdP is known (Logius wants the SP
    metadata first).
    """
    for what, path in (
        ("de sleutel", settings.sp_key_file),
        ("het certificaat", settings.sp_cert_file),
    ):
        if not Path(path).is_file():
            raise SamlInstellingFout(f"SAML: {what} {path} bestaat niet")
    if not Path(settings.xmlsec_binary).is_file():
        raise SamlInstellingFout(
            f"SAML: xmlsec1 niet gevonden: {settings.xmlsec_binary}"
        )
    if settings.required_level is not None and settings.required_level not in LEVELS:
        raise SamlInstellingFout(
            f"SAML: onbekend niveau {settings.required_level!r}; "
            f"kies uit {', '.join(LEVELS)}"
        )

    if settings.acs_binding not in BINDINGS:
        raise SamlInstellingFout(
            f"SAML: onbekende binding {settings.acs_binding!r}; kies post of artifact"
        )
    endpoints: dict[str, list[tuple[str, str]]] = {
        "assertion_consumer_service": [
            (settings.acs_url, BINDINGS[settings.acs_binding])
        ],
    }
    if settings.sls_url:
        endpoints["single_logout_service"] = [(settings.sls_url, BINDING_HTTP_REDIRECT)]
    sp: dict[str, Any] = {
        "endpoints": endpoints,
        "allow_unsolicited": False,
        "authn_requests_signed": True,
        "logout_requests_signed": True,
        # The assertion carries the identity, so its own signature is what
        # counts; a signature on the Response too is checked when present.
        "want_assertions_signed": True,
        "want_response_signed": False,
        "name_id_format_allow_create": False,
    }
    raw: dict[str, Any] = {
        "entityid": settings.sp_entity_id,
        "xmlsec_binary": settings.xmlsec_binary,
        "key_file": str(settings.sp_key_file),
        "cert_file": str(settings.sp_cert_file),
        "service": {"sp": sp},
        "accepted_time_diff": CLOCK_SKEW,
        # The artifact resolution goes over TLS with the SP's key and
        # certificate as client certificate (DigiD demands two-way TLS) and
        # checks the IdP's server certificate against the system's CAs.
        "verify_ssl_cert": True,
        "ca_certs": str(settings.tls_ca_file) if settings.tls_ca_file else None,
        "http_client_timeout": ARTIFACT_TIMEOUT,
        "allow_unknown_attributes": True,
        "signing_algorithm": SIG_RSA_SHA256,
        "digest_algorithm": DIGEST_SHA256,
    }
    if with_idp:
        if not Path(settings.idp_metadata_file).is_file():
            raise SamlInstellingFout(
                f"SAML: de metadata van de IdP {settings.idp_metadata_file} "
                "bestaat niet"
            )
        raw["metadata"] = {"local": [str(settings.idp_metadata_file)]}
    try:
        return SPConfig().load(raw)
    except (SAMLError, OSError, ValueError) as exc:
        raise SamlInstellingFout(
            f"SAML: de instellingen zijn onbruikbaar: {exc}"
        ) from exc


def sp_metadata(settings: SamlSettings) -> bytes:
    """The SP's metadata XML, without needing the IdP's metadata."""
    return metadata_xml(sp_config(settings, with_idp=False))


def metadata_xml(config: Any) -> bytes:
    """The SP's metadata XML for a pysaml2 configuration."""
    descriptor = entity_descriptor(config)
    # pysaml2 lists every algorithm xmlsec1 knows (md5 and sha1 among them)
    # in an algsupport extension; the list is optional (SAML V2.0 Metadata
    # Profile for Algorithm Support) and this one would invite weak ones.
    descriptor.extensions = None
    return str(descriptor).encode("utf-8")
