"""A destination that does not answer holds at most 64 attempts of the broker
at a time; further deliveries wait in the journal, due, and follow as soon
as it answers again. A real broker process with
``config/examples/forward-http.yaml`` and an HTTP sink that holds every
request until told to answer.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from esb.delivery import MAX_IN_FLIGHT
from tests.esb.processes import REF, Broker, wait_for

MESSAGES = 300


class HoldingSink(http.server.ThreadingHTTPServer):
    """Counts the referentienummers POSTed to it, answering none until
    :attr:`let_go` is set."""

    daemon_threads = True

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self.waiting = 0
        self.lock = threading.Lock()
        self.let_go = threading.Event()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with sink.lock:
                    sink.waiting += 1
                sink.let_go.wait(30)
                found = REF.search(body)
                with sink.lock:
                    sink.waiting -= 1
                    sink.received[found.group(1).decode() if found else "?"] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def missing(self, expected: set[str]) -> set[str]:
        with self.lock:
            return expected - set(self.received)


@pytest.fixture
def sink() -> Iterator[HoldingSink]:
    server = HoldingSink()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.let_go.set()
    server.shutdown()
    server.server_close()


def _in_flight(broker: Broker) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{broker.port}/healthz") as answer:
        counts: dict[str, int] = json.loads(answer.read())["deliveries_in_flight"]
    return counts.get("forward", 0)


def test_a_destination_that_does_not_answer_holds_a_bounded_number_of_attempts(
    tmp_path: Path, sink: HoldingSink
) -> None:
    broker = Broker(tmp_path, f"http://127.0.0.1:{sink.server_address[1]}/stuf")
    broker.start()
    try:
        references = {str(uuid.uuid4()) for _ in range(MESSAGES)}
        with ThreadPoolExecutor(32) as pool:
            answered = list(pool.map(broker.send, sorted(references)))
        assert all(answered), "every kennisgeving is acknowledged at once"

        # The sink holds what reached it: the broker has exactly its room of
        # attempts under way, and the other deliveries wait in the journal.
        wait_for(lambda: _in_flight(broker) == MAX_IN_FLIGHT, 30)
        assert _in_flight(broker) == MAX_IN_FLIGHT

        sink.let_go.set()
        wait_for(lambda: not sink.missing(references), 60)
        assert sink.missing(references) == set()
        wait_for(lambda: _in_flight(broker) == 0, 30)
        assert _in_flight(broker) == 0
    finally:
        broker.stop()
