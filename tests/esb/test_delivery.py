"""Guaranteed delivery, end to end: a real broker process, a real HTTP sink.

The broker runs ``config/examples/forward-http.yaml``: every kennisgeving at
/stuf/zds is answered with a Bv03 once journaled and then POSTed to the sink.
Whatever happens to the broker (SIGKILL) or the sink (down for a while),
every message that got a Bv03 must reach the sink.
"""

from __future__ import annotations

import http.client
import random
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.esb.processes import ACTION, Broker, Sink, kennisgeving, wait_for

# The figures: 5,000 kennisgevingen at concurrency 32.
MESSAGES = 5000
CONCURRENCY = 32


@pytest.fixture
def sink() -> Iterator[Sink]:
    server = Sink()
    yield server
    server.close()


@pytest.mark.slow
def test_every_acknowledged_message_survives_sigkill(
    tmp_path: Path, sink: Sink
) -> None:
    """Messages answered with Bv03 reach the sink although the broker is
    killed with SIGKILL three times, at random moments while taking them, at
    concurrency 32."""
    broker = Broker(tmp_path, f"http://127.0.0.1:{sink.port}/stuf")
    broker.start()
    acknowledged: set[str] = set()
    lock = threading.Lock()
    try:
        references = [str(uuid.uuid4()) for _ in range(MESSAGES)]

        def send(reference: str) -> None:
            if broker.send(reference):
                with lock:
                    acknowledged.add(reference)

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            batches = [references[i::4] for i in range(4)]
            for number, batch in enumerate(batches):
                futures = [pool.submit(send, reference) for reference in batch]
                if number < 3:
                    # Kill somewhere in the batch, while requests are open.
                    moment = int(len(batch) * random.uniform(0.1, 0.9))
                    wait_for(
                        lambda fs=futures, n=moment: sum(f.done() for f in fs) > n,
                        120,
                    )
                    broker.kill()
                    for future in futures:
                        future.result()
                    broker.start()
                else:
                    for future in futures:
                        future.result()

        wait_for(lambda: not sink.missing(acknowledged), 180)
    finally:
        broker.stop()

    # Requests sent while the broker is down fail and are not retried; what
    # counts is that every acknowledged one arrives, and that there are many.
    assert len(acknowledged) > MESSAGES // 5, "too few acknowledged to prove much"
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
        references = [str(uuid.uuid4()) for _ in range(MESSAGES)]
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            answers = list(pool.map(broker.send, references))
        assert all(answers)
        time.sleep(3)  # the sink stays down for a while: real time, real retries
        sink = Sink(port)
        wait_for(lambda: not sink.missing(set(references)), 300)
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
