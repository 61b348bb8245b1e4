"""Why a SAML login cannot go on, and pysaml2's errors put in those terms.

The exceptions::

    SamlFout                    the login cannot go on; str() may be shown
    ├── SamlInstellingFout      the settings or the files they name are unusable
    └── (a refusal)             SamlFout.reden says which check failed

pysaml2 raises many kinds of exception while it checks an answer, some of
them bare ``Exception``: :func:`refusal_for` and :func:`status_refusal` sort
each into a reden, anything unknown becoming "ongeldig". Every refusal is
logged by its reden; no text here holds a BSN.
"""

from __future__ import annotations

from saml2.response import (  # type: ignore[import-untyped]
    IncorrectlySigned,
    StatusAuthnFailed,
    StatusError,
    StatusNoAuthnContext,
    StatusRequestDenied,
    UnsolicitedResponse,
)
from saml2.sigver import SignatureError  # type: ignore[import-untyped]
from saml2.validate import (  # type: ignore[import-untyped]
    ResponseLifetimeExceed,
    ToEarly,
)
from twisted.logger import Logger

log = Logger(namespace="zaakzoeker.saml")


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


def refuse(reden: str, message: str) -> SamlFout:
    """A refusal to raise, logged by its reden."""
    log.warn("SAML login refused ({reden})", reden=reden)
    return SamlFout(reden, message)


def status_refusal(exc: StatusError) -> SamlFout:
    """The refusal for an answer whose status is not Success."""
    if isinstance(exc, StatusAuthnFailed | StatusRequestDenied):
        return refuse("geannuleerd", "Het inloggen is afgebroken of mislukt.")
    if isinstance(exc, StatusNoAuthnContext):
        return refuse("niveau", "Inloggen op het gevraagde niveau is niet gelukt.")
    return refuse("status", "De identity provider meldt een fout.")


# Texts of pysaml2's bare exceptions (saml2/response.py), by reason.
_MESSAGES = (
    ("AudienceRestrictions", "publiek"),
    ("I don't recall", "onbekend-verzoek"),
    ("Came from", "onbekend-verzoek"),
    ("No valid recipient", "ongeldig"),
)
TEXTS = {
    "handtekening": "De handtekening onder het antwoord klopt niet.",
    "publiek": "Het antwoord is voor een andere dienst bedoeld.",
    "verlopen": "Het antwoord is verlopen; log opnieuw in.",
    "ongevraagd": "Er is om dit antwoord niet gevraagd.",
    "onbekend-verzoek": "Het antwoord hoort bij een ander verzoek.",
    "ongeldig": "Het antwoord is ongeldig.",
}


def refusal_for(exc: Exception) -> SamlFout:
    """The refusal for anything else pysaml2 raised while checking."""
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
    return refuse(reden, TEXTS[reden])
