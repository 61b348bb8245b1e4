"""Reading the IdP's answer: pysaml2's checks first, then EMO's own.

pysaml2 checks, in this order: the Response's status, destination and
signature if any; then the assertion's signature (required), conditions
(time, audience), subject confirmation (recipient, InResponseTo against
the outstanding request). EMO then checks the DigiD level and reads who
logged in, with a BSN that must pass the 11-test.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from saml2.response import StatusError  # type: ignore[import-untyped]

from registers.klantregister import nummers
from zaakzoeker.saml.config import LEVELS, SamlSettings
from zaakzoeker.saml.errors import refusal_for, refuse, status_refusal

# DigiD names the citizen as "s00000000:<BSN>": the sector code of the BSN,
# a colon, the number.
BSN_SECTOR = "s00000000:"

_RANK = {name: rank for rank, name in enumerate(LEVELS)}
_LEVEL_OF = {ref: name for name, ref in LEVELS.items()}


@dataclass(frozen=True)
class SamlIdentity:
    """Who logged in, as the IdP vouched for it.

    ``name_id`` is the NameID as sent; for DigiD it holds the BSN
    ("s00000000:<BSN>"), so it is as secret as ``bsn``: keep it in the
    session row only, never in a URL, a cookie or a log line.
    ``level`` is the DigiD level name when the context class is one of
    :data:`~zaakzoeker.saml.config.LEVELS`, otherwise the class reference
    itself ("" when absent).
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


def parse_response(
    client: Any, saml_response: str, request_id: str, binding: str
) -> Any:
    """pysaml2's reading of a Response (base64) to the request
    ``request_id``, arrived by ``binding``; every failed check a refusal.

    The caller holds the lock on ``client``.
    """
    try:
        # For an artifact, pysaml2 unpacks base64 just as for POST; the
        # binding tells it which ACS address the Destination must name.
        response = client.parse_authn_request_response(
            saml_response, binding, outstanding={request_id: "/"}
        )
    except StatusError as exc:
        raise status_refusal(exc) from exc
    except Exception as exc:
        raise refusal_for(exc) from exc
    if response is None:
        # pysaml2 answers None for a Destination that is not this ACS,
        # an InResponseTo on the Response that differs from the one in
        # the assertion, or a message it could not unpack.
        raise refuse("ongeldig", "Het antwoord is niet voor deze dienst bedoeld.")
    if response.assertion is None:
        raise refuse("ongeldig", "Het antwoord bevat geen verklaring.")
    if response.in_response_to != request_id:
        raise refuse("onbekend-verzoek", "Het antwoord hoort bij een ander verzoek.")
    return response


def checked_level(response: Any, required: str | None) -> str:
    """The level the answer claims; refused below ``required``."""
    infos = response.authn_info()
    refs = [ref for ref, _authorities, _instant in infos]
    ref = refs[0] if len(refs) == 1 else ""
    claimed = _LEVEL_OF.get(ref, ref)
    if required is None:
        return claimed
    if claimed not in _RANK:
        raise refuse("niveau", "Het betrouwbaarheidsniveau van de inlog is onbekend.")
    if _RANK[claimed] < _RANK[required]:
        raise refuse(
            "niveau",
            f"Inloggen op niveau {claimed} is niet genoeg; niveau {required} is nodig.",
        )
    return claimed


def identity_of(response: Any, level: str, settings: SamlSettings) -> SamlIdentity:
    """Who the answer names: the BSN from DigiD's NameID or the configured
    attribute, refused when required and missing, or not a valid BSN."""
    name_id = response.name_id
    text = (name_id.text or "").strip() if name_id is not None else ""
    attributes = {
        str(name): [str(v) for v in values]
        for name, values in (response.ava or {}).items()
    }

    candidate: str | None = None
    if text.startswith(BSN_SECTOR):
        candidate = text[len(BSN_SECTOR) :]
    elif settings.bsn_attribute:
        values = attributes.get(settings.bsn_attribute, [])
        if len(values) > 1:
            raise refuse("ongeldig-bsn", "Het antwoord bevat meer dan één BSN.")
        if values:
            candidate = values[0].strip().removeprefix(BSN_SECTOR)
    bsn: str | None = None
    if candidate is not None:
        try:
            bsn = nummers.bsn(candidate)
        except nummers.InvalidValue as exc:
            raise refuse(
                "ongeldig-bsn", "Het BSN in het antwoord is geen geldig BSN."
            ) from exc
    elif settings.bsn_required:
        raise refuse("geen-bsn", "Het antwoord bevat geen BSN.")
    if not text:
        raise refuse("ongeldig", "Het antwoord noemt niemand (geen NameID).")

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
