"""Guaranteed delivery, end to end: a real broker process, a real HTTP sink.

The broker runs ``config/examples/forward-http.yaml``: every kennisgeving at
/stuf/zds is answered with a Bv03 once journaled and then POSTed to the sink.
Whatever happens to the broker (SIGKILL) or the sink (down for a while),
every message that got a Bv03 must reach the sink.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
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

    def __init__(self, base: Path, forward_url: str) -> None:
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
            str(ROUTES),
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


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.close()


def wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.1)


@pytest.mark.slow
def test_every_acknowledged_message_survives_sigkill(
    tmp_path: Path, sink: Sink
) -> None:
    """Messages answered with Bv03 reach the sink although the broker is
    killed with SIGKILL three times while taking them, at concurrency 32."""
    broker = Broker(tmp_path, f"http://127.0.0.1:{sink.port}/stuf")
    broker.start()
    acknowledged: set[str] = set()
    lock = threading.Lock()
    try:
        references = [str(uuid.uuid4()) for _ in range(1500)]

        def send(reference: str) -> None:
            if broker.send(reference):
                with lock:
                    acknowledged.add(reference)

        with ThreadPoolExecutor(32) as pool:
            batches = [references[i::4] for i in range(4)]
            for number, batch in enumerate(batches):
                futures = [pool.submit(send, reference) for reference in batch]
                if number < 3:
                    # Kill in the middle of a batch, while requests are open.
                    third = len(batch) // 3
                    wait_for(
                        lambda fs=futures, n=third: sum(f.done() for f in fs) > n, 60
                    )
                    broker.kill()
                    for future in futures:
                        future.result()
                    broker.start()
                else:
                    for future in futures:
                        future.result()

        wait_for(lambda: not sink.missing(acknowledged), 90)
    finally:
        broker.stop()

    assert len(acknowledged) > 700, "too few messages were acknowledged to prove much"
    assert sink.missing(acknowledged) == set()


@pytest.mark.slow
def test_messages_wait_for_a_sink_that_is_down(tmp_path: Path) -> None:
    """With the sink down, messages are still acknowledged, retried, and
    delivered once it is back."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    broker = Broker(tmp_path, f"http://127.0.0.1:{port}/stuf")
    broker.start()
    sink: Sink | None = None
    try:
        references = [str(uuid.uuid4()) for _ in range(100)]
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(broker.send, references))
        assert all(answers)
        time.sleep(3)  # the sink stays down for a while: real time, real retries
        sink = Sink(port)
        wait_for(lambda: not sink.missing(set(references)), 60)
        assert sink.missing(set(references)) == set()
    finally:
        broker.stop()
        if sink is not None:
            sink.close()


def test_a_repeated_referentienummer_gets_the_same_answer_and_no_second_delivery(
    tmp_path: Path, sink: Sink
) -> None:
    """Same zender and referentienummer: the original Bv03, delivered once."""
    broker = Broker(tmp_path, f"http://127.0.0.1:{sink.port}/stuf")
    broker.start()
    try:
        reference = str(uuid.uuid4())
        answers = []
        for _ in range(3):
            connection = http.client.HTTPConnection(
                "127.0.0.1", broker.port, timeout=30
            )
            connection.request(
                "POST",
                "/stuf/zds",
                kennisgeving(reference),
                {"Content-Type": "text/xml", "SOAPAction": ACTION},
            )
            answers.append(connection.getresponse().read())
            connection.close()
        wait_for(lambda: not sink.missing({reference}), 30)
        time.sleep(1)
    finally:
        broker.stop()

    assert answers[0] == answers[1] == answers[2]
    assert b"Bv03" in answers[0]
    assert sink.received[reference] == 1
