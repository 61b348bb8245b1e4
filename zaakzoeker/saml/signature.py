"""The ArtifactResponse's signature, checked on the XML as the IdP sent it.

pysaml2's own check (``SecurityContext.correctly_signed_artifact_response``)
validates the schema of its re-serialisation of the message. There the
Response inside is an extension element, and it loses the namespace
declarations it only uses in attribute values: a typed attribute value
(``xsi:type="xs:string"``) then names an unknown type, and every login by
artifact that carries one fails (issue 7). So EMO does the same checks
itself, on the tree and the bytes received:

1. the schema of the ArtifactResponse (pysaml2's ``saml2.xml.schema``);
2. SAML core 5.4, the XML Signature profile: one enveloped signature whose
   single Reference points at the ArtifactResponse, exclusive c14n, no
   other transforms, no ds:Object;
3. no other element with its ID, so that no signature wrapping can make
   xmlsec1 check one element while EMO reads another;
4. xmlsec1, through pysaml2's crypto backend, with each signing certificate
   the IdP's metadata holds for the issuer. A certificate in the message
   itself is never used.
"""

from __future__ import annotations

import tempfile
from typing import Any

from lxml import etree
from saml2.sigver import SigverError, pem_format  # type: ignore[import-untyped]
from saml2.xml import schema  # type: ignore[import-untyped]
from saml2.xmldsig import (  # type: ignore[import-untyped]
    ALLOWED_CANONICALIZATIONS,
    ALLOWED_TRANSFORMS,
    TRANSFORM_ENVELOPED,
)

from zaakzoeker.saml.errors import TEXTS, refuse

_DS = "http://www.w3.org/2000/09/xmldsig#"
# What xmlsec1 takes the ID attribute of (--id-attr:ID <node>), in
# pysaml2's spelling of an element's class: namespace, colon, name.
ARTIFACT_RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:ArtifactResponse"


class _NotTrusted(Exception):
    """Why the signature is not trusted; the cause of the refusal."""


def check_signed_by(
    client: Any, received: bytes, artifact_response: etree._Element, issuer: str
) -> None:
    """Refuse ``artifact_response`` unless ``issuer`` signed it.

    ``received`` is the document as it came from the IdP and
    ``artifact_response`` the element of it that is read; ``issuer`` is
    the IdP the caller has checked it claims to come from. ``client`` is
    the SP's pysaml2 client, whose lock the caller holds. Raises
    :class:`~zaakzoeker.saml.errors.SamlFout`: "ongeldig" for a message
    against the schema, "handtekening" for a signature not to be trusted.
    """
    try:
        schema.validate(artifact_response)
    except schema.XMLSchemaError as exc:
        raise refuse("ongeldig", "Het antwoord op het artefact is ongeldig.") from exc

    try:
        _check_profile(artifact_response)
        _verify(client, received, artifact_response.get("ID", ""), issuer)
    except _NotTrusted as exc:
        raise refuse("handtekening", TEXTS["handtekening"]) from exc


def _check_profile(element: etree._Element) -> None:
    """SAML core 5.4's demands on the signature of ``element``, and its ID
    unique in the document."""
    element_id = element.get("ID")
    if not element_id:
        raise _NotTrusted("the signed element has no ID")
    signatures = element.findall(f"{{{_DS}}}Signature")
    if len(signatures) != 1:
        raise _NotTrusted("not one ds:Signature in the element itself")
    (signature,) = signatures
    # xmlsec1 verifies the first Signature it meets below the element.
    if next(element.iter(f"{{{_DS}}}Signature")) is not signature:
        raise _NotTrusted("another ds:Signature comes first")

    references = signature.findall(f"{{{_DS}}}SignedInfo/{{{_DS}}}Reference")
    if len(references) != 1:
        raise _NotTrusted("not one Reference")
    if references[0].get("URI") != f"#{element_id}":
        raise _NotTrusted("the Reference is not to the element")
    c14n = signature.find(f"{{{_DS}}}SignedInfo/{{{_DS}}}CanonicalizationMethod")
    if c14n is None or c14n.get("Algorithm") not in ALLOWED_CANONICALIZATIONS:
        raise _NotTrusted("not exclusive canonicalisation")
    transforms = [
        transform.get("Algorithm")
        for transform in references[0].iterfind(
            f"{{{_DS}}}Transforms/{{{_DS}}}Transform"
        )
    ]
    if (
        not 1 <= len(transforms) <= 2
        or not set(transforms) <= ALLOWED_TRANSFORMS
        or TRANSFORM_ENVELOPED not in transforms
    ):
        raise _NotTrusted("transforms other than enveloped and exclusive c14n")
    # SAML core 5.4.6: a ds:Object could carry data the signature covers
    # while the message says something else.
    if signature.find(f"{{{_DS}}}Object") is not None:
        raise _NotTrusted("a ds:Object in the signature")

    # Signature wrapping puts the signed element elsewhere in the document
    # and a forged one, with the same ID, where the reader looks.
    same_id = element.getroottree().xpath(
        "//@*[local-name() = 'ID' or local-name() = 'Id' or local-name() = 'id']"
        "[. = $id]",
        id=element_id,
    )
    if not isinstance(same_id, list) or len(same_id) != 1:
        raise _NotTrusted("the ID occurs more than once")


def _verify(client: Any, received: bytes, element_id: str, issuer: str) -> None:
    """xmlsec1's verdict on ``received``, with the certificates of
    ``issuer`` from the metadata; the first that verifies will do (an IdP
    rolling its key over publishes both)."""
    try:
        certs = [
            cert for _name, cert in client.metadata.certs(issuer, "any", "signing")
        ]
    except KeyError as exc:
        raise _NotTrusted("the IdP's metadata has no signing certificate") from exc
    for cert in certs:
        with tempfile.NamedTemporaryFile(suffix=".pem") as pem:
            pem.write(pem_format(cert))
            pem.flush()
            try:
                verified = client.sec.verify_signature(
                    received,
                    pem.name,
                    node_name=ARTIFACT_RESPONSE,
                    node_id=element_id,
                )
            except (SigverError, OSError, ValueError):
                # xmlsec1 answers FAIL for another key, by an exit status.
                continue
            # As pysaml2 does: the certificate itself checked too, when the
            # configuration asks for that (validate_certificate).
            if verified and client.sec.cert_handler.verify_cert(pem.name):
                return
    raise _NotTrusted("no signing certificate of the IdP verifies the signature")
