"""HTTP-Artifact: the Response an artifact stands for, fetched from the IdP.

SAML bindings 3.6: the IdP sends the browser back with only a reference
(SAMLart); EMO sends a signed ArtifactResolve over SOAP to the IdP's
ArtifactResolutionService, named in its metadata, and gets a signed
ArtifactResponse with the Response inside. The personal data never passes
the browser. DigiD demands this, over two-way TLS (the SP's key and
certificate, see :func:`zaakzoeker.saml.config.sp_config`).
"""

from __future__ import annotations

import re
import threading
from typing import Any

from lxml import etree
from saml2.s_utils import sid  # type: ignore[import-untyped]
from saml2.samlp import STATUS_SUCCESS  # type: ignore[import-untyped]
from saml2.xmldsig import (  # type: ignore[import-untyped]
    DIGEST_SHA256,
    SIG_RSA_SHA256,
)

from zaakzoeker.saml import signature
from zaakzoeker.saml.errors import refuse

_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
_SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
_SAML = "urn:oasis:names:tc:SAML:2.0:assertion"

# No DTDs, no entities, no network: the XML comes from outside.
_SAFE_XML = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def resolve(
    client: Any, lock: threading.Lock, idp_entity_id: str, saml_art: str
) -> bytes:
    """The samlp:Response that ``saml_art`` stands for, as sent.

    ``client`` is the SP's pysaml2 client, taken under ``lock``; the IdP
    must be ``idp_entity_id``. Raises :class:`~zaakzoeker.saml.errors.SamlFout`
    for an artifact or an answer that is not to be trusted, or an IdP that
    cannot be reached.
    """
    with lock:
        try:
            destination = client.artifact2destination(saml_art, "idpsso")
        except (ValueError, KeyError, TypeError) as exc:
            raise refuse("ongeldig", "Het artefact is ongeldig.") from exc
        if not destination:
            raise refuse("ongeldig", "Het artefact is ongeldig.")
        resolve_id, artifact_resolve = client.create_artifact_resolve(
            saml_art,
            destination,
            sid(),
            sign=True,
            sign_alg=SIG_RSA_SHA256,
            digest_alg=DIGEST_SHA256,
        )
    envelope = (
        f'<soap:Envelope xmlns:soap="{_SOAP}"><soap:Body>'
        f"{_without_declaration(str(artifact_resolve))}</soap:Body></soap:Envelope>"
    )
    try:
        answer = client.send(
            destination,
            "POST",
            data=envelope.encode("utf-8"),
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
    except Exception as exc:  # requests' and pysaml2's connection errors
        raise refuse(
            "artefact",
            "De identity provider is niet bereikbaar; probeer het later.",
        ) from exc
    if answer.status_code != 200:
        raise refuse("artefact", "De identity provider gaf het antwoord niet.")

    # The ArtifactResponse, signed as a whole by the IdP, holds the
    # Response; both signatures are checked, the inner one with the rest of
    # the answer (zaakzoeker.saml.answer). SOAP 1.1 section 3 forbids a
    # DTD, and without one lxml and xmlsec1 read the same elements.
    try:
        body = etree.fromstring(answer.content, _SAFE_XML)
        if body.getroottree().docinfo.internalDTD is not None:
            raise ValueError("a DTD in a SOAP message")
        (artifact_response,) = body.findall(
            f"{{{_SOAP}}}Body/{{{_SAMLP}}}ArtifactResponse"
        )
        (inner,) = artifact_response.findall(f"{{{_SAMLP}}}Response")
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise refuse("ongeldig", "Het antwoord op het artefact is ongeldig.") from exc
    issuer = artifact_response.findtext(f"{{{_SAML}}}Issuer", "").strip()
    if issuer != idp_entity_id:
        raise refuse("ongeldig", "Het antwoord op het artefact is ongeldig.")
    with lock:
        signature.check_signed_by(client, answer.content, artifact_response, issuer)

    status = artifact_response.find(f"{{{_SAMLP}}}Status/{{{_SAMLP}}}StatusCode")
    if (
        artifact_response.get("InResponseTo") != resolve_id
        or status is None
        or status.get("Value") != STATUS_SUCCESS
    ):
        raise refuse("ongeldig", "Het antwoord op het artefact is ongeldig.")
    return etree.tostring(inner)


def _without_declaration(xml: str) -> str:
    return re.sub(r"^\s*<\?xml[^>]*\?>", "", xml)
