"""Document content on disk: decoded in slices, written once, read back."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from esb.errors import StufFault
from registers.zaakregister import blobs
from registers.zaakregister.blobs import BlobStore

CONTENT = bytes(range(256)) * 10


def test_content_is_decoded_across_slices_and_line_breaks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Base64 with MIME line breaks, cut into slices that split both groups of
    four and line breaks, decodes to the exact bytes."""
    monkeypatch.setattr(blobs, "_SLICE", 7)
    store = BlobStore(tmp_path)
    key, size = store.write_base64(base64.encodebytes(CONTENT).decode())
    assert size == len(CONTENT)
    assert store.read(key) == CONTENT
    assert base64.b64decode(store.read_base64(key)) == CONTENT


def test_read_base64_encodes_in_slices(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(blobs, "_READ", 3 * 5)
    store = BlobStore(tmp_path)
    key, _ = store.write_base64(base64.b64encode(CONTENT).decode())
    assert store.read_base64(key) == base64.b64encode(CONTENT).decode()


@pytest.mark.parametrize("text", ["abc", "ab!d", "YWJj=YWJj"])
def test_text_that_is_not_base64_is_a_client_fault(tmp_path: Path, text: str) -> None:
    """Nothing is left behind, not even the temporary file."""
    store = BlobStore(tmp_path)
    with pytest.raises(StufFault) as raised:
        store.write_base64(text)
    assert (raised.value.code, raised.value.plek) == ("StUF055", "client")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_keys_never_leave_the_folder(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    for key in ("../etc/passwd", "/etc/passwd", "ab/../../x"):
        with pytest.raises(ValueError):
            store.read(key)


def test_delete_of_a_missing_blob_is_fine(tmp_path: Path) -> None:
    BlobStore(tmp_path).delete("ab/" + "ab" * 16)
    BlobStore(tmp_path).delete(None)
