"""The file-drop examples in config/examples, run as an operator runs them.

``file-drop.yaml`` is exercised hard by test_file_drop_crash.py; here
``file-drop-amqp.yaml`` runs in a real ``emo run`` against the real
RabbitMQ: each accepted file is written to the outbox and published to the
exchange named in ``EMO_EXCHANGE``.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pika
import pytest

from esb.routes import load_routes
from esb.sources.folder import DONE, ERROR
from tests.conftest import ROOT
from tests.esb.sources.conftest import kennisgeving, referentienummer_of
from tests.esb.sources.reactor_thread import wait_for
from tests.esb.sources.test_file_drop_crash import Broker, visible

EXAMPLES = ROOT / "config" / "examples"


@pytest.mark.parametrize("name", ["file-drop.yaml", "file-drop-amqp.yaml"])
def test_the_examples_load_with_their_variables_set(name: str) -> None:
    """Each example is a routes file that loads, reading one inbox."""
    environ = {"EMO_INBOX": "/in", "EMO_OUTBOX": "/out", "EMO_EXCHANGE": "stuf"}

    table = load_routes(EXAMPLES / name, environ)

    assert set(table.source_definitions) == {"file:inbox"}
    assert table.sources() == {"file:inbox"}


def test_emo_routes_check_names_the_variable_that_is_missing() -> None:
    """Without EMO_EXCHANGE, the AMQP example does not load, and says why."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EMO_")}
    env.update(EMO_INBOX="/in", EMO_OUTBOX="/out")

    emo = ROOT / ".venv" / "bin" / "emo"
    done = subprocess.run(
        [str(emo), "routes", "check", str(EXAMPLES / "file-drop-amqp.yaml")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
    )

    assert done.returncode == 1
    assert "environment variable 'EMO_EXCHANGE' is not set" in done.stdout


@pytest.mark.rabbitmq
def test_dropped_files_reach_the_outbox_and_the_exchange(
    tmp_path: Path, rabbitmq_host: str
) -> None:
    """Two good files and a broken one: two messages in the outbox and on
    the exchange (routing key operation.berichtcode), one file in error/."""
    url = f"amqp://guest:guest@{rabbitmq_host}:5672/%2F"
    exchange = f"emo-test-{uuid.uuid4().hex[:10]}"
    connection = pika.BlockingConnection(pika.URLParameters(url))
    channel = connection.channel()
    channel.exchange_declare(exchange, "topic", durable=True)
    queue = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(queue, exchange, routing_key="#")
    inbox, outbox = tmp_path / "inbox", tmp_path / "outbox"
    inbox.mkdir()
    broker = Broker(tmp_path, inbox, outbox)
    broker.env.update(EMO_EXCHANGE=exchange, EMO_AMQP_URL=url)
    broker.routes = EXAMPLES / "file-drop-amqp.yaml"
    try:
        broker.start()
        (inbox / "a.xml").write_bytes(kennisgeving("ref-amqp-a"))
        (inbox / "b.xml").write_bytes(kennisgeving("ref-amqp-b"))
        (inbox / "c.xml").write_bytes(b"<kapot")

        wait_for(lambda: len(visible(outbox)) == 2, 60, "two outbox files")
        wait_for(lambda: len(visible(inbox / ERROR)) == 2, 60, "c.xml in error/")
        published = []
        for _ in range(2):
            method, properties, body = wait_for(
                lambda: (got := channel.basic_get(queue, auto_ack=True))[0] and got,
                30,
                "a published message",
            )
            published.append(
                (
                    method.routing_key,
                    properties.delivery_mode,
                    referentienummer_of(body),
                )
            )
    finally:
        broker.stop()
        channel.exchange_delete(exchange)
        connection.close()

    assert sorted(published) == [
        ("creeerZaak.Lk01", 2, "ref-amqp-a"),
        ("creeerZaak.Lk01", 2, "ref-amqp-b"),
    ]
    assert sorted(visible(inbox / DONE)) == ["a.xml", "b.xml"]
