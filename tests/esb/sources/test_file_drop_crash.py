"""File drop survives SIGKILL: a real ``emo run`` with the example routes.

The broker runs ``config/examples/file-drop.yaml`` with the official ZDS 1.2
schemas: files dropped in ``EMO_INBOX`` are validated strictly, journaled
and written to ``EMO_OUTBOX``. While 1,000 files are dropped the broker is
killed with SIGKILL twice and started again. In the end every file is either
in ``done/`` with its message in the outbox exactly once, or in ``error/``
with a reason; none is lost, none left behind, none handled twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from esb.sources.folder import DONE, ERROR, WORK
from tests.conftest import ROOT, ZDS_12
from tests.esb.sources.conftest import kennisgeving, referentienummer_of
from tests.esb.sources.reactor_thread import wait_for

EMO = ROOT / ".venv" / "bin" / "emo"
ROUTES = ROOT / "config" / "examples" / "file-drop.yaml"
FILES = 1000


def broken_files() -> dict[str, bytes]:
    """A few files each refused for what it is (plek client)."""
    good = kennisgeving("ref-broken")
    files: dict[str, bytes] = {}
    for number in range(8):
        files[f"broken-{number:02}-not-xml.xml"] = b"dit is geen xml"
        files[f"broken-{number:02}-schema.xml"] = kennisgeving(
            f"ref-schema-{number}"
        ).replace(
            b"<zkn:omschrijving>Test 4</zkn:omschrijving>",
            b"<zkn:omschrijvingg>Test 4</zkn:omschrijvingg>",
        )
        files[f"broken-{number:02}-cut.xml"] = good[: len(good) // 2]
    return files


class Broker:
    """``emo run`` with the file-drop example, restartable and killable."""

    def __init__(self, base: Path, inbox: Path, outbox: Path) -> None:
        self.data = base / "data"
        self.log = base / "emo.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "EMO_DATABASE_URL"},
            "EMO_INBOX": str(inbox),
            "EMO_OUTBOX": str(outbox),
            "PYTHONUNBUFFERED": "1",
        }
        self.routes = ROUTES
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(EMO),
            "run",
            "--data",
            str(self.data),
            "--port",
            "0",
            "--routes",
            str(self.routes),
            "--schemas",
            str(ZDS_12),
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, cwd=ROOT
            )
        process = self.process

        def listening() -> bool:
            assert process.poll() is None, self.log.read_text()
            try:
                state = json.loads((self.data / "emo.state.json").read_text())
            except (OSError, ValueError):
                return False
            return bool(state.get("pid") == process.pid)

        wait_for(listening, 60, "the broker to start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()


def visible(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return [
        entry.name
        for entry in os.scandir(folder)
        if not entry.name.startswith(".") and entry.is_file()
    ]


@pytest.mark.slow
def test_no_dropped_file_is_lost_or_handled_twice_across_two_sigkills(
    tmp_path: Path,
) -> None:
    """1,000 files dropped while the broker is killed twice: each ends in
    done/ (its message in the outbox once) or in error/ with a reason."""
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    broken = broken_files()
    good = {
        f"zaak-{number:04}.xml": kennisgeving(f"ref-{number:04}")
        for number in range(FILES - len(broken))
    }
    files = {**good, **broken}
    order = sorted(files)

    def drop_all() -> None:
        # As a careful producer: written under a dot-name, renamed when done.
        for number, name in enumerate(order):
            temporary = inbox / f".{name}.part"
            temporary.write_bytes(files[name])
            temporary.rename(inbox / name)
            if number % 50 == 49:
                time.sleep(0.1)

    def done_count() -> int:
        return len(visible(inbox / DONE))

    broker = Broker(tmp_path, inbox, outbox)
    dropper = threading.Thread(target=drop_all)
    began = time.monotonic()
    try:
        broker.start()
        dropper.start()
        # Kill in the middle of the work, twice, and start again each time.
        wait_for(lambda: done_count() >= 150, 120, "150 files done")
        broker.kill()
        broker.start()
        wait_for(lambda: done_count() >= 500, 120, "500 files done")
        broker.kill()
        broker.start()
        dropper.join()

        def finished() -> bool:
            handled = len(visible(inbox / DONE)) + len(visible(inbox / ERROR)) // 2
            return (
                handled == FILES
                and not visible(inbox)
                and not visible(inbox / WORK)
                and len(visible(outbox)) == len(good)
            )

        wait_for(finished, 300, "every file handled and every message written")
        seconds = time.monotonic() - began
    finally:
        dropper.join()
        broker.stop()

    done = sorted(visible(inbox / DONE))
    assert done == sorted(good), "a file in done/ twice, or a good file missing"
    errors = set(visible(inbox / ERROR))
    assert errors == set(broken) | {name + ".reason" for name in broken}
    for name in broken:
        reason = (inbox / ERROR / (name + ".reason")).read_text()
        assert f"file: {name}" in reason
        assert "code: StUF055" in reason and "plek: client" in reason, reason
    written = Counter(
        referentienummer_of((outbox / name).read_bytes()) for name in visible(outbox)
    )
    assert written == Counter(referentienummer_of(data) for data in good.values())
    assert set(written.values()) == {1}
    log = broker.log.read_text()
    assert log.count("listening on") == 3, "started three times"
    assert "Traceback" not in log
    assert "#error]" not in log, "an error logged while everything went well"
    print(f"\n{FILES} files with 2 SIGKILLs handled in {seconds:.1f} s")
