"""File destination: write each message as a file, atomically.

Settings in the routes file::

    type: file
    path: /srv/emo/outbox                     # required; created if missing
    name: "{time}-{referentienummer}-{operation}.xml"   # optional pattern

The pattern may use ``{referentienummer}``, ``{operation}``, ``{berichtcode}``,
``{zender}``, ``{id}`` (EMO's message id) and ``{time}``
(yyyymmddThhmmss.ffffff, UTC). Values are made safe for file names.

A file appears complete or not at all: it is written under a temporary name
starting with a dot, flushed to disk, then renamed, and the folder is synced
so the rename itself survives a crash. A reader must ignore dot-files.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from twisted.internet import defer, threads

from esb.adapters.base import Delivered, DeliveryError, Outbound, setting

DEFAULT_NAME = "{time}-{referentienummer}-{operation}.xml"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FileAdapter:
    def __init__(self, name: str, folder: Path, pattern: str = DEFAULT_NAME) -> None:
        self.name = name
        self.folder = folder
        self.pattern = pattern

    @classmethod
    def from_settings(
        cls, name: str, settings: Mapping[str, Any], timeout: float
    ) -> FileAdapter:
        folder = Path(str(setting(settings, "path", name)))
        return cls(name, folder, str(settings.get("name", DEFAULT_NAME)))

    def file_name(self, outbound: Outbound, now: float | None = None) -> str:
        identification = outbound.identification
        moment = time.time() if now is None else now
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(moment))
        values = {
            "id": outbound.message_id,
            "time": f"{stamp}.{int(moment % 1 * 1_000_000):06d}",
            "referentienummer": "",
            "operation": "",
            "berichtcode": "",
            "zender": "",
        }
        if identification is not None:
            sg = identification.stuurgegevens
            values.update(
                referentienummer=sg.referentienummer or outbound.message_id,
                operation=identification.operation,
                berichtcode=sg.berichtcode,
                zender=sg.zender.applicatie or "",
            )
        safe = {key: _UNSAFE.sub("_", value)[:80] for key, value in values.items()}
        return self.pattern.format(**safe)

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        return threads.deferToThread(self._write, outbound)

    def _write(self, outbound: Outbound) -> Delivered:
        target = self.folder / self.file_name(outbound)
        temporary = self.folder / f".{target.name}.{outbound.message_id}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            with open(temporary, "wb") as handle:
                handle.write(outbound.payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            directory = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            # A full disk or a missing mount may pass; a permission error
            # will not, but an admin can fix it while the retries run.
            reason = f"{target}: {exc.strerror or exc}"
            raise DeliveryError(reason, retryable=True) from exc
        return Delivered(note=str(target))

    def close(self) -> None:
        return None
