"""Where document content lives: files on disk, written once, never changed.

A document's ``inhoud`` arrives base64-encoded inside the message. It is
decoded in slices straight into a temporary file, flushed to disk, and
renamed into place; the database row then names the file by its key. A new
version of a document gets a new file; the old one is deleted after the
database has committed to the new one. So the decoded content is never held
in memory whole, and a reader never sees half a file.

Keys are random (``ab/ab12...ef``): nothing a sender says ends up in a path.

Known shortcoming: a crash between writing a file and committing the row
leaves an orphan file behind (never a row without its file). Nothing cleans
orphans up yet.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from esb.errors import StufFault

# Base64 decodes in groups of 4 characters; a slice of 4 MiB of text is
# 3 MiB of content.
_SLICE = 4 * 1024 * 1024
_READ = 3 * 1024 * 1024  # a multiple of 3: each slice encodes without padding
_KEY = re.compile(r"[0-9a-f]{2}/[0-9a-f]{32}")


class BlobStore:
    """Document content in files under one folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, key: str) -> Path:
        # Keys are made here, but a key read from the database is still
        # checked before it becomes a path.
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a blob key: {key!r}")
        return self.folder / key

    def write_base64(self, encoded: str) -> tuple[str, int]:
        """Decode base64 text into a new blob; returns (key, size in bytes).

        Whitespace in the text (line breaks every 76 characters are common)
        is skipped. Raises a StUF fault with plek client when the text is not
        base64.
        """
        writer = self.writer()
        try:
            for part in _slices(encoded):
                writer.write(part)
            return writer.finish()
        except BaseException:
            writer.abort()
            raise

    def writer(self) -> BlobWriter:
        """A new blob, written base64 text piece by piece (see BlobWriter)."""
        name = uuid.uuid4().hex
        key = f"{name[:2]}/{name}"
        target = self._path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return BlobWriter(key, target)

    def write_empty(self) -> tuple[str, int]:
        """A new, empty blob (a document made without content)."""
        return self.write_base64("")

    def read_base64(self, key: str) -> str:
        """The blob's content as base64 text, encoded slice by slice."""
        parts: list[str] = []
        with open(self._path(key), "rb") as stream:
            while data := stream.read(_READ):
                parts.append(base64.b64encode(data).decode("ascii"))
        return "".join(parts)

    def copy_base64(self, key: str, target: BinaryIO) -> None:
        """Write the blob's content as base64 to ``target``, slice by slice:
        never more than a slice of it in memory."""
        with open(self._path(key), "rb") as stream:
            while data := stream.read(_READ):
                target.write(base64.b64encode(data))

    def open(self, key: str) -> BinaryIO:
        """The blob's content as a binary file to stream (the caller closes
        it); FileNotFoundError when the blob is missing."""
        return open(self._path(key), "rb")

    def read(self, key: str) -> bytes:
        """The blob's content (for tests and small documents)."""
        return self._path(key).read_bytes()

    def delete(self, key: str | None) -> None:
        """Remove a blob that no row names any more; missing is fine."""
        if key:
            self._path(key).unlink(missing_ok=True)


class BlobWriter:
    """One new blob, its base64 text given in pieces of any size.

    Decodes as it goes, into a temporary file beside the blob; ``finish``
    checks that nothing is left over, flushes to disk and renames the file
    into place. ``abort`` removes what was written. Whitespace is skipped;
    anything else outside the base64 alphabet is a StUF055 fault.
    """

    def __init__(self, key: str, target: Path) -> None:
        self.key = key
        self.target = target
        self.temporary = target.with_name(f".{target.name}.tmp")
        self.size = 0
        self._pending = ""
        self._stream: BinaryIO | None = open(self.temporary, "wb")

    def write(self, text: str) -> None:
        assert self._stream is not None, "blob already finished"
        chunk = self._pending + "".join(text.split())
        usable = len(chunk) - len(chunk) % 4
        self._pending = chunk[usable:]
        if usable:
            data = _decoded(chunk[:usable])
            self._stream.write(data)
            self.size += len(data)

    def finish(self) -> tuple[str, int]:
        """Put the blob in place; (key, size in bytes)."""
        assert self._stream is not None, "blob already finished"
        try:
            if self._pending:
                raise _invalid(
                    binascii.Error(
                        f"length is not a multiple of 4 ({len(self._pending)} "
                        "characters left over)"
                    )
                )
            self._stream.flush()
            os.fsync(self._stream.fileno())
            self._stream.close()
            self._stream = None
            os.replace(self.temporary, self.target)
        except BaseException:
            self.abort()
            raise
        return self.key, self.size

    def abort(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self.temporary.unlink(missing_ok=True)


def _decoded(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise _invalid(exc) from exc


def _invalid(exc: binascii.Error) -> StufFault:
    return StufFault(
        "StUF055",
        "Inhoud van het document is geen geldige base64",
        plek="client",
        details=f"inhoud kon niet worden gedecodeerd: {exc}",
    )


def _slices(text: str) -> Iterator[str]:
    for start in range(0, len(text), _SLICE):
        yield text[start : start + _SLICE]
