"""One identity provider's login and logout, from the service provider's side.

Usage::

    login = SamlLogin(settings)
    url, request_id = login.begin()        # keep request_id in the session
    ...                                    # the browser visits the IdP
    identity = login.finish(saml_response, request_id)     # HTTP-POST ACS
    identity = login.finish_artifact(saml_art, request_id) # HTTP-Artifact ACS
    url = login.logout(identity)           # None: the IdP has no logout

What an answer must pass, besides the checks of
:mod:`zaakzoeker.saml.answer`: it answers the request this browser started,
and neither it nor that request was used before.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from saml2 import (  # type: ignore[import-untyped]
    BINDING_HTTP_ARTIFACT,
    BINDING_HTTP_POST,
    BINDING_HTTP_REDIRECT,
    SAMLError,
)
from saml2.client import Saml2Client  # type: ignore[import-untyped]
from saml2.saml import (  # type: ignore[import-untyped]
    NAMEID_FORMAT_UNSPECIFIED,
    AuthnContextClassRef,
    NameID,
)
from saml2.samlp import RequestedAuthnContext  # type: ignore[import-untyped]
from saml2.xmldsig import (  # type: ignore[import-untyped]
    DIGEST_SHA256,
    SIG_RSA_SHA256,
)
from twisted.logger import Logger

from zaakzoeker.saml import answer, artifact
from zaakzoeker.saml.answer import SamlIdentity
from zaakzoeker.saml.config import (
    BINDINGS,
    CLOCK_SKEW,
    LEVELS,
    SamlSettings,
    metadata_xml,
    sp_config,
)
from zaakzoeker.saml.errors import SamlInstellingFout, refuse
from zaakzoeker.saml.pysaml2_log import quiet_pysaml2

log = Logger(namespace="zaakzoeker.saml")


class SamlLogin:
    """The service provider's side of one IdP.

    Safe to share between threads: pysaml2's client keeps state, so calls
    into it take a lock (a login costs a few xmlsec1 runs, milliseconds).
    The replay guard lives in memory: a process restart forgets it, but
    also every request id handed out before, so an old answer still fails
    on InResponseTo as long as the caller keeps request ids in sessions.
    """

    def __init__(self, settings: SamlSettings) -> None:
        quiet_pysaml2()
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
            return metadata_xml(self._client.config)

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
                        response_binding=BINDINGS[self.settings.acs_binding],
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
        Raises :class:`~zaakzoeker.saml.errors.SamlFout` for every answer
        that is not to be trusted.
        """
        if not request_id:
            raise refuse("ongevraagd", "Er is geen inlogverzoek om op te antwoorden.")
        try:
            # Some IdPs wrap the base64 text in lines; that is allowed.
            xml = base64.b64decode("".join(saml_response.split()), validate=True)
        except ValueError as exc:
            raise refuse("ongeldig", "Het antwoord is geen SAML-bericht.") from exc
        if not xml.strip():
            raise refuse("ongeldig", "Er is geen antwoord ontvangen.")
        if self.settings.acs_binding != "post":
            raise refuse("ongeldig", "Deze dienst verwacht een artefact.")
        if self._seen.used_request(request_id):
            raise refuse("herhaald", "Op dit inlogverzoek is al geantwoord.")

        return self._accept(xml, request_id, BINDING_HTTP_POST)

    def finish_artifact(self, saml_art: str, request_id: str) -> SamlIdentity:
        """Resolve a SAMLart with the IdP, then check the answer as finish().

        For ``acs_binding="artifact"``: the IdP sends the browser back with
        only a reference (SAMLart, in the query or a form); EMO fetches the
        Response from the IdP (:mod:`zaakzoeker.saml.artifact`).
        """
        if not request_id:
            raise refuse("ongevraagd", "Er is geen inlogverzoek om op te antwoorden.")
        if self.settings.acs_binding != "artifact":
            raise refuse("ongeldig", "Deze dienst verwacht geen artefact.")
        if self._seen.used_request(request_id):
            raise refuse("herhaald", "Op dit inlogverzoek is al geantwoord.")
        xml = artifact.resolve(
            self._client, self._lock, self.idp_entity_id, "".join(saml_art.split())
        )
        return self._accept(xml, request_id, BINDING_HTTP_ARTIFACT)

    def _accept(self, xml: bytes, request_id: str, binding: str) -> SamlIdentity:
        encoded = base64.b64encode(xml).decode("ascii")
        with self._lock:
            response = answer.parse_response(self._client, encoded, request_id, binding)
            name_id = response.name_id
            # pysaml2's client caches every identity it read, BSN included,
            # for its own logout bookkeeping; EMO keeps none of that.
            if name_id is not None:
                self._client.users.remove_person(name_id)

        expires = max(response.not_on_or_after or 0, time.time()) + CLOCK_SKEW
        ids = [f"r:{response.response.id}", f"a:{response.assertion.id}"]
        if not self._seen.claim(request_id, ids, expires):
            raise refuse("herhaald", "Dit antwoord is al eens gebruikt.")

        level = answer.checked_level(response, self.settings.required_level)
        identity = answer.identity_of(response, level, self.settings)
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
