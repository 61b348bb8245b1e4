"""Login through SAML 2.0: DigiD for citizens, the municipality's IdP for staff.

EMO is the service provider; pysaml2 builds and reads the messages and
xmlsec1 checks every signature. One :class:`SamlLogin` serves one identity
provider, described by its metadata file::

    login = SamlLogin(settings)
    url, request_id = login.begin()        # keep request_id in the session
    ...                                    # the browser visits the IdP
    identity = login.finish(saml_response, request_id)     # HTTP-POST ACS
    identity = login.finish_artifact(saml_art, request_id) # HTTP-Artifact ACS
    url = login.logout(identity)           # None: the IdP has no logout

DigiD answers with an artifact (``acs_binding="artifact"``): the browser
brings a SAMLart to the ACS, by GET, and EMO fetches the assertion from
DigiD over SOAP with two-way TLS. Employee IdPs (ADFS, Entra ID, Keycloak)
mostly POST the Response itself (``acs_binding="post"``).

What :meth:`SamlLogin.finish` demands of an answer: a valid signature on the
assertion by a key in the IdP's metadata, this service provider in the
audience, the time window not passed, InResponseTo naming the request this
browser started, an answer not seen before, the configured DigiD level or
higher, and (for DigiD) a BSN that passes the 11-test.

Errors::

    SamlFout                    the login cannot go on; str() may be shown
    ├── SamlInstellingFout      the settings or the files they name are unusable
    └── (a refusal)             SamlFout.reden says which check failed

No message of this module contains a BSN, and pysaml2's own log lines
(which quote assertions) are kept out of the logs except for warnings and
errors, with long digit runs blotted out.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree
from saml2 import (  # type: ignore[import-untyped]
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    SAMLError,
)
from saml2.client import Saml2Client  # type: ignore[import-untyped]
from saml2.config import SPConfig  # type: ignore[import-untyped]
from saml2.metadata import entity_descriptor  # type: ignore[import-untyped]
from saml2.response import (  # type: ignore[import-untyped]
    IncorrectlySigned,
    StatusAuthnFailed,
    StatusError,
    StatusNoAuthnContext,
    StatusRequestDenied,
    UnsolicitedResponse,
)
from saml2.s_utils import sid  # type: ignore[import-untyped]
from saml2.saml import (  # type: ignore[import-untyped]
    NAMEID_FORMAT_UNSPECIFIED,
    AuthnContextClassRef,
    NameID,
)
from saml2.samlp import (  # type: ignore[import-untyped]
    STATUS_SUCCESS,
    RequestedAuthnContext,
)
from saml2.sigver import SignatureError  # type: ignore[import-untyped]
from saml2.validate import (  # type: ignore[import-untyped]
    ResponseLifetimeExceed,
    ToEarly,
)
from saml2.xmldsig import (  # type: ignore[import-untyped]
    DIGEST_SHA256,
    SIG_RSA_SHA256,
)
from twisted.logger import Logger

from registers.klantregister import nummers

log = Logger()

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
_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_LEVEL_OF = {ref: name for name, ref in LEVELS.items()}

# DigiD names the citizen as "s00000000:<BSN>": the sector code of the BSN,
# a colon, the number.
BSN_SECTOR = "s00000000:"

# Clock difference allowed between EMO and the IdP, in seconds.
CLOCK_SKEW = 60
# Seconds to wait for the IdP's artifact resolution service.
ARTIFACT_TIMEOUT = 10

_BINDINGS = {"post": BINDING_HTTP_POST, "artifact": BINDING_HTTP_ARTIFACT}
_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"


@dataclass(frozen=True)
class SamlSettings:
    """One service provider facing one identity provider.

    Paths may be relative to the working directory; the caller resolves
    them against emo.yaml's folder first.

    ``required_level``: a key of :data:`LEVELS`; the AuthnRequest asks for
    it (comparison "minimum") and :meth:`SamlLogin.finish` refuses less.
    None asks for nothing and checks nothing (an employee IdP with its own
    context classes).

    ``bsn_attribute``: the attribute that carries the BSN when the NameID
    does not (DigiD puts it in the NameID, so None is right there).

    ``bsn_required``: refuse an answer without a BSN. True for DigiD;
    False for an employee IdP.

    ``acs_binding``: how the IdP returns its answer to ``acs_url``:
    "post" (the SAMLResponse in a form; most IdPs) or "artifact" (a
    SAMLart reference that EMO resolves over SOAP with the IdP; what DigiD
    demands). See :meth:`SamlLogin.finish_artifact`.

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


@dataclass(frozen=True)
class SamlIdentity:
    """Who logged in, as the IdP vouched for it.

    ``name_id`` is the NameID as sent; for DigiD it holds the BSN
    ("s00000000:<BSN>"), so it is as secret as ``bsn``: keep it in the
    session row only, never in a URL, a cookie or a log line.
    ``level`` is the DigiD level name when the context class is one of
    :data:`LEVELS`, otherwise the class reference itself ("" when absent).
    ``attributes`` are the assertion's attributes by name, for instance an
    employee IdP's roles. ``name_id_format`` is kept for the LogoutRequest,
    which must name the subject exactly as the assertion did.
    """

    name_id: str
    bsn: str | None
    level: str
    attributes: Mapping[str, list[str]]
    session_index: str | None
    name_id_format: str | None = None


class SamlFout(Exception):
    """The login cannot go on; the text is safe to show and never holds a BSN.

    ``reden`` names the failed check for logs and tests: "instelling",
    "ongeldig", "artefact" (the IdP did not resolve an artifact),
    "handtekening", "publiek", "verlopen", "ongevraagd", "onbekend-verzoek",
    "herhaald", "status", "geannuleerd", "niveau", "geen-bsn",
    "ongeldig-bsn".
    """

    def __init__(self, reden: str, message: str) -> None:
        super().__init__(message)
        self.reden = reden


class SamlInstellingFout(SamlFout):
    """The settings, or a file they name, cannot be used."""

    def __init__(self, message: str) -> None:
        super().__init__("instelling", message)


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

    if settings.acs_binding not in _BINDINGS:
        raise SamlInstellingFout(
            f"SAML: onbekende binding {settings.acs_binding!r}; kies post of artifact"
        )
    endpoints: dict[str, list[tuple[str, str]]] = {
        "assertion_consumer_service": [
            (settings.acs_url, _BINDINGS[settings.acs_binding])
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
    return _metadata_xml(sp_config(settings, with_idp=False))


class SamlLogin:
    """The service provider's side of one IdP.

    Safe to share between threads: pysaml2's client keeps state, so calls
    into it take a lock (a login costs a few xmlsec1 runs, milliseconds).
    The replay guard lives in memory: a process restart forgets it, but
    also every request id handed out before, so an old answer still fails
    on InResponseTo as long as the caller keeps request ids in sessions.
    """

    def __init__(self, settings: SamlSettings) -> None:
        _quiet_pysaml2()
        self.settings = settings
        config = sp_config(settings)
        try:
            self._client = Saml2Client(config)
        except (SAMLError, OSError, ValueError) as exc:
            raise SamlInstellingFout(
                f"SAML: de IdP-metadata is onbruikbaar: {exc}"
            ) from exc
        idps = list(self._client.metadata.identity_providers())
        if len(idps) != 1:
            raise SamlInstellingFout(
                f"SAML: {settings.idp_metadata_file} beschrijft {len(idps)} "
                "identity providers; er moet precies één in staan"
            )
        self.idp_entity_id: str = idps[0]
        if self._idp_endpoint("single_sign_on_service") is None:
            raise SamlInstellingFout(
                f"SAML: {settings.idp_metadata_file} noemt geen "
                "SingleSignOnService voor HTTP-Redirect"
            )
        self._slo_url = self._idp_endpoint("single_logout_service")
        self._lock = threading.Lock()
        self._seen = _SeenIds()

    def metadata(self) -> bytes:
        """The SP's metadata XML, to hand to the IdP (for DigiD: Logius)."""
        with self._lock:
            return _metadata_xml(self._client.config)

    def begin(self) -> tuple[str, str]:
        """A redirect URL carrying a signed AuthnRequest, and its id.

        The caller stores the id in the browser's session and hands it back
        to :meth:`finish`; an answer to any other request is refused.
        """
        kwargs: dict[str, Any] = {}
        if self.settings.required_level is not None:
            # SAML core 3.3.2.2.1: "minimum" lets the IdP use this level or a
            # stronger one.
            kwargs["requested_authn_context"] = RequestedAuthnContext(
                authn_context_class_ref=[
                    AuthnContextClassRef(text=LEVELS[self.settings.required_level])
                ],
                comparison="minimum",
            )
        with self._lock:
            try:
                request_id, _binding, http_info = (
                    self._client.prepare_for_negotiated_authenticate(
                        entityid=self.idp_entity_id,
                        binding=BINDING_HTTP_REDIRECT,
                        response_binding=_BINDINGS[self.settings.acs_binding],
                        sign=True,
                        sigalg=SIG_RSA_SHA256,
                        digest_alg=DIGEST_SHA256,
                        **kwargs,
                    )
                )
            except SAMLError as exc:
                raise SamlInstellingFout(
                    f"SAML: het AuthnRequest kon niet worden gemaakt: {exc}"
                ) from exc
        return _location(http_info), str(request_id)

    def finish(self, saml_response: str, request_id: str) -> SamlIdentity:
        """Check the IdP's answer (the SAMLResponse form field) and read it.

        ``request_id`` is what :meth:`begin` returned for this browser.
        Raises :class:`SamlFout` for every answer that is not to be trusted.
        """
        if not request_id:
            raise _refuse("ongevraagd", "Er is geen inlogverzoek om op te antwoorden.")
        try:
            # Some IdPs wrap the base64 text in lines; that is allowed.
            xml = base64.b64decode("".join(saml_response.split()), validate=True)
        except ValueError as exc:
            raise _refuse("ongeldig", "Het antwoord is geen SAML-bericht.") from exc
        if not xml.strip():
            raise _refuse("ongeldig", "Er is geen antwoord ontvangen.")
        if self.settings.acs_binding != "post":
            raise _refuse("ongeldig", "Deze dienst verwacht een artefact.")
        if self._seen.used_request(request_id):
            raise _refuse("herhaald", "Op dit inlogverzoek is al geantwoord.")

        return self._accept(xml, request_id, BINDING_HTTP_POST)

    def finish_artifact(self, saml_art: str, request_id: str) -> SamlIdentity:
        """Resolve a SAMLart with the IdP, then check the answer as finish().

        For ``acs_binding="artifact"``: the IdP sends the browser back with
        only a reference (SAMLart, in the query or a form); EMO fetches the
        Response over SOAP (SAML bindings 3.6: ArtifactResolve, answered by
        a signed ArtifactResponse) from the IdP's ArtifactResolutionService
        in its metadata. The personal data never passes the browser.
        """
        if not request_id:
            raise _refuse("ongevraagd", "Er is geen inlogverzoek om op te antwoorden.")
        if self.settings.acs_binding != "artifact":
            raise _refuse("ongeldig", "Deze dienst verwacht geen artefact.")
        if self._seen.used_request(request_id):
            raise _refuse("herhaald", "Op dit inlogverzoek is al geantwoord.")
        xml = self._resolve("".join(saml_art.split()))
        return self._accept(xml, request_id, BINDING_HTTP_ARTIFACT)

    def _accept(self, xml: bytes, request_id: str, binding: str) -> SamlIdentity:
        encoded = base64.b64encode(xml).decode("ascii")
        with self._lock:
            response = self._parse(encoded, request_id, binding)
            name_id = response.name_id
            # pysaml2's client caches every identity it read, BSN included,
            # for its own logout bookkeeping; EMO keeps none of that.
            if name_id is not None:
                self._client.users.remove_person(name_id)

        expires = max(response.not_on_or_after or 0, time.time()) + CLOCK_SKEW
        ids = [f"r:{response.response.id}", f"a:{response.assertion.id}"]
        if not self._seen.claim(request_id, ids, expires):
            raise _refuse("herhaald", "Dit antwoord is al eens gebruikt.")

        level = self._level(response)
        identity = self._identity(response, level)
        log.info("SAML login accepted, level {niveau}", niveau=level)
        return identity

    def logout(self, identity: SamlIdentity) -> str | None:
        """A redirect URL with a signed LogoutRequest, or None.

        None when the IdP's metadata names no SingleLogoutService for
        HTTP-Redirect: then only EMO's own session ends.
        """
        destination = self._slo_url
        if destination is None:
            return None
        with self._lock:
            name_id = NameID(
                text=identity.name_id,
                format=identity.name_id_format or NAMEID_FORMAT_UNSPECIFIED,
            )
            _id, request = self._client.create_logout_request(
                destination,
                self.idp_entity_id,
                name_id=name_id,
                session_indexes=(
                    [identity.session_index] if identity.session_index else None
                ),
                sign=False,
            )
            http_info = self._client.apply_binding(
                BINDING_HTTP_REDIRECT,
                str(request),
                destination,
                relay_state="",
                sign=True,
                sigalg=SIG_RSA_SHA256,
            )
        return _location(http_info)

    def _idp_endpoint(self, service: str) -> str | None:
        """The IdP's first endpoint of a kind for HTTP-Redirect, if any."""
        entity = self._client.metadata[self.idp_entity_id]
        for descriptor in entity.get("idpsso_descriptor", []):
            for endpoint in descriptor.get(service, []):
                if endpoint.get("binding") == BINDING_HTTP_REDIRECT:
                    return str(endpoint["location"])
        return None

    # -- the checks ---------------------------------------------------------

    def _resolve(self, saml_art: str) -> bytes:
        """The samlp:Response that an artifact stands for, as sent."""
        with self._lock:
            try:
                destination = self._client.artifact2destination(saml_art, "idpsso")
            except (ValueError, KeyError, TypeError) as exc:
                raise _refuse("ongeldig", "Het artefact is ongeldig.") from exc
            if not destination:
                raise _refuse("ongeldig", "Het artefact is ongeldig.")
            resolve_id, resolve = self._client.create_artifact_resolve(
                saml_art,
                destination,
                sid(),
                sign=True,
                sign_alg=SIG_RSA_SHA256,
                digest_alg=DIGEST_SHA256,
            )
        envelope = (
            f'<soap:Envelope xmlns:soap="{_SOAP}"><soap:Body>'
            f"{_without_declaration(str(resolve))}</soap:Body></soap:Envelope>"
        )
        try:
            answer = self._client.send(
                destination,
                "POST",
                data=envelope.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8"},
            )
        except Exception as exc:  # requests' and pysaml2's connection errors
            raise _refuse(
                "artefact",
                "De identity provider is niet bereikbaar; probeer het later.",
            ) from exc
        if answer.status_code != 200:
            raise _refuse("artefact", "De identity provider gaf het antwoord niet.")

        # The ArtifactResponse, signed as a whole by the IdP, holds the
        # Response; both signatures are checked, the inner one by _parse.
        try:
            body = etree.fromstring(answer.content, _SAFE_XML)
            (artifact_response,) = body.findall(
                f"{{{_SOAP}}}Body/{{{_SAMLP}}}ArtifactResponse"
            )
            (inner,) = artifact_response.findall(f"{{{_SAMLP}}}Response")
        except (etree.XMLSyntaxError, ValueError) as exc:
            raise _refuse(
                "ongeldig", "Het antwoord op het artefact is ongeldig."
            ) from exc
        outer = etree.tostring(artifact_response)
        with self._lock:
            try:
                self._client.sec.correctly_signed_artifact_response(
                    outer.decode("utf-8"), must=True
                )
            except Exception as exc:  # pysaml2 raises several kinds here
                raise _refuse("handtekening", _TEXTS["handtekening"]) from exc
        status = artifact_response.find(f"{{{_SAMLP}}}Status/{{{_SAMLP}}}StatusCode")
        issuer = artifact_response.findtext(f"{{{_SAML}}}Issuer", "").strip()
        if (
            issuer != self.idp_entity_id
            or artifact_response.get("InResponseTo") != resolve_id
            or status is None
            or status.get("Value") != STATUS_SUCCESS
        ):
            raise _refuse("ongeldig", "Het antwoord op het artefact is ongeldig.")
        return etree.tostring(inner)

    def _parse(self, saml_response: str, request_id: str, binding: str) -> Any:
        # pysaml2 checks, in this order: the Response's status, destination
        # and signature if any; then the assertion's signature (required),
        # conditions (time, audience), subject confirmation (recipient,
        # InResponseTo against the outstanding request). Its exceptions
        # are of many kinds, some of them bare Exception; each is sorted
        # into a reason here, anything unknown becomes "ongeldig".
        try:
            # For an artifact, pysaml2 unpacks base64 just as for POST; the
            # binding tells it which ACS address the Destination must name.
            response = self._client.parse_authn_request_response(
                saml_response, binding, outstanding={request_id: "/"}
            )
        except StatusError as exc:
            raise _status_refusal(exc) from exc
        except Exception as exc:
            raise _refusal_for(exc) from exc
        if response is None:
            # pysaml2 answers None for a Destination that is not this ACS,
            # an InResponseTo on the Response that differs from the one in
            # the assertion, or a message it could not unpack.
            raise _refuse("ongeldig", "Het antwoord is niet voor deze dienst bedoeld.")
        if response.assertion is None:
            raise _refuse("ongeldig", "Het antwoord bevat geen verklaring.")
        if response.in_response_to != request_id:
            raise _refuse(
                "onbekend-verzoek", "Het antwoord hoort bij een ander verzoek."
            )
        return response

    def _level(self, response: Any) -> str:
        infos = response.authn_info()
        refs = [ref for ref, _authorities, _instant in infos]
        ref = refs[0] if len(refs) == 1 else ""
        level = _LEVEL_OF.get(ref, ref)
        required = self.settings.required_level
        if required is None:
            return level
        if level not in _RANK:
            raise _refuse(
                "niveau", "Het betrouwbaarheidsniveau van de inlog is onbekend."
            )
        if _RANK[level] < _RANK[required]:
            raise _refuse(
                "niveau",
                f"Inloggen op niveau {level} is niet genoeg; "
                f"niveau {required} is nodig.",
            )
        return level

    def _identity(self, response: Any, level: str) -> SamlIdentity:
        name_id = response.name_id
        text = (name_id.text or "").strip() if name_id is not None else ""
        attributes = {
            str(name): [str(v) for v in values]
            for name, values in (response.ava or {}).items()
        }

        candidate: str | None = None
        if text.startswith(BSN_SECTOR):
            candidate = text[len(BSN_SECTOR) :]
        elif self.settings.bsn_attribute:
            values = attributes.get(self.settings.bsn_attribute, [])
            if len(values) > 1:
                raise _refuse("ongeldig-bsn", "Het antwoord bevat meer dan één BSN.")
            if values:
                candidate = values[0].strip().removeprefix(BSN_SECTOR)
        bsn: str | None = None
        if candidate is not None:
            try:
                bsn = nummers.bsn(candidate)
            except nummers.InvalidValue as exc:
                raise _refuse(
                    "ongeldig-bsn", "Het BSN in het antwoord is geen geldig BSN."
                ) from exc
        elif self.settings.bsn_required:
            raise _refuse("geen-bsn", "Het antwoord bevat geen BSN.")
        if not text:
            raise _refuse("ongeldig", "Het antwoord noemt niemand (geen NameID).")

        statements = response.assertion.authn_statement
        session_index = statements[0].session_index if statements else None
        return SamlIdentity(
            name_id=text,
            bsn=bsn,
            level=level,
            attributes=attributes,
            session_index=session_index,
            name_id_format=name_id.format,
        )


# -- refusals ----------------------------------------------------------------


def _refuse(reden: str, message: str) -> SamlFout:
    log.warn("SAML login refused ({reden})", reden=reden)
    return SamlFout(reden, message)


def _status_refusal(exc: StatusError) -> SamlFout:
    if isinstance(exc, StatusAuthnFailed | StatusRequestDenied):
        return _refuse("geannuleerd", "Het inloggen is afgebroken of mislukt.")
    if isinstance(exc, StatusNoAuthnContext):
        return _refuse("niveau", "Inloggen op het gevraagde niveau is niet gelukt.")
    return _refuse("status", "De identity provider meldt een fout.")


# Texts of pysaml2's bare exceptions (saml2/response.py), by reason.
_MESSAGES = (
    ("AudienceRestrictions", "publiek"),
    ("I don't recall", "onbekend-verzoek"),
    ("Came from", "onbekend-verzoek"),
    ("No valid recipient", "ongeldig"),
)
_TEXTS = {
    "handtekening": "De handtekening onder het antwoord klopt niet.",
    "publiek": "Het antwoord is voor een andere dienst bedoeld.",
    "verlopen": "Het antwoord is verlopen; log opnieuw in.",
    "ongevraagd": "Er is om dit antwoord niet gevraagd.",
    "onbekend-verzoek": "Het antwoord hoort bij een ander verzoek.",
    "ongeldig": "Het antwoord is ongeldig.",
}


def _refusal_for(exc: Exception) -> SamlFout:
    reden = "ongeldig"
    if isinstance(exc, IncorrectlySigned | SignatureError):
        reden = "handtekening"
    elif isinstance(exc, ResponseLifetimeExceed | ToEarly):
        reden = "verlopen"
    elif isinstance(exc, UnsolicitedResponse):
        # pysaml2 says "Unsolicited response: <InResponseTo>", which is
        # None when the answer names no request at all.
        reden = "ongevraagd" if str(exc).endswith(": None") else "onbekend-verzoek"
    else:
        text = str(exc)
        for fragment, why in _MESSAGES:
            if fragment in text:
                reden = why
                break
    return _refuse(reden, _TEXTS[reden])


# -- small parts -------------------------------------------------------------


# No DTDs, no entities, no network: the XML comes from outside.
_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def _without_declaration(xml: str) -> str:
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", xml)


def _metadata_xml(config: Any) -> bytes:
    descriptor = entity_descriptor(config)
    # pysaml2 lists every algorithm xmlsec1 knows (md5 and sha1 among them)
    # in an algsupport extension; the list is optional (SAML V2.0 Metadata
    # Profile for Algorithm Support) and this one would invite weak ones.
    descriptor.extensions = None
    return str(descriptor).encode("utf-8")


def _location(http_info: Mapping[str, Any]) -> str:
    for name, value in http_info.get("headers", []):
        if name.lower() == "location":
            url = str(value)
            if urlsplit(url).scheme in ("http", "https"):
                return url
    raise SamlInstellingFout("SAML: pysaml2 gaf geen doorstuuradres")


@dataclass
class _SeenIds:
    """Request, Response and Assertion ids already used, until they expire."""

    _until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def used_request(self, request_id: str) -> bool:
        with self._lock:
            self._forget_old()
            return f"q:{request_id}" in self._until

    def claim(self, request_id: str, ids: list[str], until: float) -> bool:
        """Record the ids; False when any was recorded before."""
        keys = [f"q:{request_id}", *ids]
        with self._lock:
            self._forget_old()
            if any(key in self._until for key in keys):
                return False
            for key in keys:
                self._until[key] = until
            return True

    def _forget_old(self) -> None:
        now = time.time()
        for key in [k for k, until in self._until.items() if until < now]:
            del self._until[key]


# -- pysaml2's logging ---------------------------------------------------------

_DIGITS = re.compile(r"[0-9]{9,}")
_quieted = False


class _ToTwisted(logging.Handler):
    """pysaml2's warnings and errors as EMO log events, BSN-like runs blotted."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = _DIGITS.sub("#########", record.getMessage())[:500]
        except Exception:  # a bad format string in pysaml2 must not break a login
            self.handleError(record)
            return
        if record.levelno >= logging.ERROR:
            _pysaml2_log.error("{text}", text=text)
        else:
            _pysaml2_log.warn("{text}", text=text)


_pysaml2_log = Logger(namespace="saml2")


def _quiet_pysaml2() -> None:
    """Keep pysaml2's chatter, which quotes assertions and NameIDs, out.

    Its info lines name the subject (response.py: "Subject NameID: ...") and
    one error line prints a whole assertion. Warnings and errors go on to
    EMO's log, with digit runs as long as a BSN blotted out, cut short.
    """
    global _quieted
    if _quieted:
        return
    _quieted = True
    logger = logging.getLogger("saml2")
    logger.setLevel(logging.WARNING)
    # A filter on a logger only sees records logged on that very logger, not
    # those of saml2.response and friends, so all of them go through a
    # handler of our own instead of propagating to the root.
    logger.addHandler(_ToTwisted())
    logger.propagate = False
