"""Large document content, kept out of memory on its way in and out.

A document's ``inhoud`` is base64 text inside the message: 25 MB of content
is 33 MB of text. Held as an lxml text node and then as a Python string it
costs twice that again, and an answer built the same way costs more. So:

In
    :func:`parse` reads a request with a parser target that builds the tree
    as usual, except that the text of every ``inhoud`` element is decoded
    piece by piece (libxml2 hands it over in pieces of a few kB) straight
    into a new blob. The element stays in the tree, empty, with the blob's
    key and size as attributes in EMO's namespace (:data:`BLOB`,
    :data:`SIZE`), which :mod:`registers.zaakregister.documenten` takes
    instead of decoding the text itself.

Out
    An operation that answers with content (geefZaakdocumentLezen,
    geefZaakdocumentBewerken) puts a placeholder in ``inhoud`` when the
    request carries a :class:`Later`; the caller serialises the answer (in
    its SOAP envelope), and :func:`splice` writes the bytes before the
    placeholder, the blob as base64 slice by slice, and the bytes after it
    into one buffer, which grows in place: the answer is in memory once.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from esb.errors import StufFault
from registers.zaakregister.blobs import BlobStore, BlobWriter

NS_EMO = "urn:emo:zaakregister"
BLOB = f"{{{NS_EMO}}}blob"
SIZE = f"{{{NS_EMO}}}grootte"
# Set by the operation that took the blob: the caller keeps it.
TAKEN = f"{{{NS_EMO}}}genomen"


class _Target:
    """A parser target: lxml's TreeBuilder, with inhoud text sent to blobs."""

    def __init__(self, blobs: BlobStore) -> None:
        # lxml-stubs 0.5 types TreeBuilder.start and end as returning None;
        # lxml returns the element.
        self.builder: Any = etree.TreeBuilder()
        self.blobs = blobs
        self.writer: BlobWriter | None = None
        self.element: etree._Element | None = None
        self.written: list[str] = []
        self.error: StufFault | None = None

    def start(self, tag: str | bytes, attrib: Any, nsmap: Any = None) -> None:
        element = self.builder.start(tag, attrib, nsmap)
        if etree.QName(tag).localname == "inhoud" and self.error is None:
            self.writer = self.blobs.writer()
            self.element = element

    def data(self, data: str | bytes) -> None:
        if self.writer is None:
            self.builder.data(data)
            return
        try:
            self.writer.write(data if isinstance(data, str) else data.decode())
        except StufFault as fault:
            # Raised after the parse: an exception out of a target callback
            # would leave lxml's parser in the middle of the document.
            self.error = fault
            self.writer.abort()
            self.writer = None

    def end(self, tag: str | bytes) -> None:
        if self.writer is not None and self.element is not None:
            writer, self.writer = self.writer, None
            try:
                key, size = writer.finish()
            except StufFault as fault:
                self.error = fault
            else:
                self.written.append(key)
                self.element.set(BLOB, key)
                self.element.set(SIZE, str(size))
        self.builder.end(tag)

    def doctype(self, *args: Any) -> None:
        self.error = StufFault(
            "StUF055",
            "Een DOCTYPE is in een SOAP-bericht niet toegestaan",
            plek="client",
        )

    def comment(self, text: str | bytes) -> None:
        pass

    def pi(self, target: str | bytes, data: str | bytes | None = None) -> None:
        pass

    def close(self) -> etree._Element:
        if self.writer is not None:
            self.writer.abort()
            self.writer = None
        root: etree._Element = self.builder.close()
        return root


def parse(payload: bytes, blobs: BlobStore) -> tuple[etree._Element, list[str]]:
    """The tree of ``payload`` and the keys of the blobs its inhoud became.

    The caller owns the blobs: those an operation does not take must be
    deleted. A fault (bad base64, a DOCTYPE, XML that is not well-formed)
    deletes them before it is raised.
    """
    target = _Target(blobs)
    parser = etree.XMLParser(
        target=target,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        remove_comments=True,
        remove_pis=True,
    )
    try:
        root: etree._Element = etree.fromstring(payload, parser)
    except etree.XMLSyntaxError as exc:
        target.error = target.error or StufFault(
            "StUF055",
            "Bericht is geen welgevormde XML",
            plek="client",
            details=str(exc),
        )
        root = etree.Element("leeg")
    if target.error is not None:
        for key in target.written:
            blobs.delete(key)
        raise target.error
    return root, target.written


def stored(element: etree._Element) -> tuple[str, int] | None:
    """The blob :func:`parse` made of an inhoud element: (key, size)."""
    key = element.get(BLOB)
    if key is None:
        return None
    return key, int(element.get(SIZE) or 0)


@dataclass
class Later:
    """Content an answer gets after it is serialised: placeholder -> blob key."""

    keys: dict[str, str] = field(default_factory=dict)

    def placeholder(self, key: str) -> str:
        token = f"EMO-INHOUD-{uuid.uuid4().hex}"
        self.keys[token] = key
        return token


def splice(
    answer: etree._Element,
    serialise: Callable[[etree._Element], bytes],
    later: Later,
    blobs: BlobStore,
) -> bytes:
    """The serialised answer, each placeholder replaced by its blob as base64."""
    data = serialise(answer)
    if not later.keys:
        return data
    buffer = io.BytesIO()
    position = 0
    # Placeholders in the order they appear; each appears once.
    found = sorted((data.index(token.encode()), token) for token in later.keys)
    for start, token in found:
        buffer.write(data[position:start])
        blobs.copy_base64(later.keys[token], buffer)
        position = start + len(token)
    buffer.write(data[position:])
    del data
    # getvalue() hands over the buffer's own bytes object (no copy) once
    # nothing else refers to it.
    return buffer.getvalue()
