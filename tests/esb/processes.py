"""Real processes for end-to-end tests: an HTTP sink and a broker that
forwards to it (``config/examples/forward-http.yaml`` by default)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT, ZDS_12

EMO = ROOT / ".venv" / "bin" / "emo"
ROUTES = ROOT / "config" / "examples" / "forward-http.yaml"
MESSAGE = (EXAMPLES / "haarlem" / "creeerzaakRequest.xml").read_bytes()
ACTION = "http://www.stufstandaarden.nl/koppelvlak/zds0120/creeerZaak_ZakLk01"
REF = re.compile(rb"<stuf:referentienummer>([^<]*)</stuf:referentienummer>")


def kennisgeving(referentienummer: str) -> bytes:
    return REF.sub(
        b"<stuf:referentienummer>"
        + referentienummer.encode()
        + b"</stuf:referentienummer>",
        MESSAGE,
        count=1,
    )


class Sink:
    """An HTTP server that counts the referentienummers POSTed to it."""

    def __init__(self, port: int = 0) -> None:
        self.received: Counter[str] = Counter()
        self.lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                found = REF.search(body)
                with sink.lock:
                    sink.received[found.group(1).decode() if found else "?"] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def missing(self, expected: set[str]) -> set[str]:
        with self.lock:
            return expected - set(self.received)


class Broker:
    """``emo run`` with the forward-http routes, restartable."""

    def __init__(
        self, base: Path, forward_url: str, routes: Path | None = None
    ) -> None:
        self.routes = routes or ROUTES
        self.data = base / "data"
        self.log = base / "emo.log"
        self.env = {
            **{k: v for k, v in os.environ.items() if k != "EMO_DATABASE_URL"},
            "FORWARD_URL": forward_url,
            "EMO_DATA": str(self.data),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0

    def start(self) -> None:
        command = [
            str(EMO),
            "run",
            "--data",
            str(self.data),
            "--port",
            str(self.port),
            "--routes",
            str(self.routes),
            "--schemas",
            str(ZDS_12),
        ]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                state = json.loads((self.data / "emo.state.json").read_text())
            except (OSError, ValueError):
                state = {}
            if state.get("pid") == self.process.pid:
                self.port = int(state["port"])
                return
            time.sleep(0.05)
        pytest.fail("broker did not start:\n" + self.log.read_text())

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()

    def send(self, referentienummer: str) -> bool:
        """Send one kennisgeving; True when the broker answered Bv03."""
        try:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            connection.request(
                "POST",
                "/stuf/zds",
                kennisgeving(referentienummer),
                {"Content-Type": "text/xml", "SOAPAction": ACTION},
            )
            response = connection.getresponse()
            body = response.read()
            connection.close()
        except OSError:
            return False
        return response.status == 200 and b"Bv03" in body


def wait_for(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
