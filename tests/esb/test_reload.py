"""Route reloads under load: a broken file changes nothing, a good one takes
effect for the next message, and no acknowledged message is lost."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.esb.processes import EMO, ROUTES, Broker, Sink, wait_for

BROKEN = """\
version: 1
routes:
  - id: kennisgevingen
    from: soap:/stuf/zds
    publish: [nowhere]
destinations:
  forward: {type: http, url: http://127.0.0.1:1/}
"""


def reload(broker: Broker) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EMO), "reload", "--data", str(broker.data)],
        capture_output=True,
        text=True,
        timeout=60,
        env=broker.env,
    )


@pytest.mark.slow
def test_reloads_under_load_lose_nothing(tmp_path: Path) -> None:
    first, second = Sink(), Sink()
    routes = tmp_path / "routes.yaml"
    routes.write_text(ROUTES.read_text())
    broker = Broker(tmp_path, f"http://127.0.0.1:{first.port}/stuf", routes)
    broker.start()
    acknowledged: list[tuple[float, str]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            reference = str(uuid.uuid4())
            sent = time.monotonic()
            if broker.send(reference):
                with lock:
                    acknowledged.append((sent, reference))

    senders = [threading.Thread(target=load) for _ in range(4)]
    try:
        for sender in senders:
            sender.start()
        time.sleep(1)

        # A broken file: refused, with the reason, and the old routes stay.
        routes.write_text(BROKEN)
        refused = reload(broker)
        assert refused.returncode == 1, refused.stdout
        assert "nowhere" in refused.stdout
        time.sleep(1)

        # A good file sending to the second sink: in force for what follows.
        routes.write_text(
            ROUTES.read_text().replace(
                "${FORWARD_URL}", f"http://127.0.0.1:{second.port}/stuf"
            )
        )
        accepted = reload(broker)
        reloaded_at = time.monotonic()
        assert accepted.returncode == 0, accepted.stdout
        assert "routes reloaded" in accepted.stdout
        time.sleep(1)
    finally:
        stop.set()
        for sender in senders:
            sender.join()

    try:
        everything = {reference for _, reference in acknowledged}
        wait_for(
            lambda: not (everything - set(first.received) - set(second.received)), 60
        )
    finally:
        broker.stop()
        first.close()
        second.close()

    after = {reference for sent, reference in acknowledged if sent > reloaded_at}
    assert len(everything) > 100
    assert after, "no message was sent after the reload"
    assert everything - set(first.received) - set(second.received) == set()
    assert after <= set(second.received)
    assert not after & set(first.received)
