"""Micro-benchmark of the journal: how many messages per second it stores.

Each message is the broker's write sequence: receive and route (one write, the
one the acknowledgement waits for), then the delivery's attempt and the answer
(a second write). Measured through the group-commit writer on SQLite in a
temporary directory and, when the server is reachable, on PostgreSQL in a
temporary schema:

- throughput: messages submitted as fast as possible, each delivered as soon
  as its receipt committed, until all are delivered;
- latency: receipts submitted at a fixed rate, each measured from submission
  to the commit that holds it (what an acknowledgement waits for), with the
  deliveries running alongside;
- for comparison, one transaction per message without group commit.

Run: ``.venv/bin/python bench/journal_bench.py [--messages N] [--rate R]``.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from esb.journal import (
    GroupCommitWriter,
    Journal,
    PlannedDelivery,
    ReceivedMessage,
    Transaction,
)
from esb.message import Party

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = (
    ROOT.parent / "shared" / "stuf" / "examples" / "haarlem" / "creeerzaakRequest.xml"
)
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class _NoReactor:
    """The writer's reactor, unused: the benchmark waits on futures."""

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kw: Any) -> None:
        f(*args, **kw)


def _received(raw: bytes, now: float) -> ReceivedMessage:
    return ReceivedMessage(
        id=uuid.uuid4().hex,
        received_at=now,
        source="soap",
        raw=raw,
        operation="creeerZaak",
        berichtcode="Lk01",
        zender=Party("0392", "bench"),
        ontvanger=Party("0392", "emo"),
        referentienummer=uuid.uuid4().hex,
        soap_action="http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01",
        entiteittype="ZAK",
        validation_mode="strict",
    )


def _store(message: ReceivedMessage) -> Callable[[Transaction], list[int]]:
    def store(tx: Transaction) -> list[int]:
        tx.record_received(message)
        planned = [
            PlannedDelivery("zaakregister", "request-reply", message.received_at)
        ]
        return tx.mark_routed(message.id, "zds", planned, now=message.received_at)

    return store


def _deliver(message_id: str, delivery_id: int) -> Callable[[Transaction], None]:
    def deliver(tx: Transaction) -> None:
        now = time.time()
        tx.record_attempt(
            delivery_id, started_at=now, ended_at=now, outcome="ok", answer=b"<Bv03/>"
        )
        tx.store_answer(message_id, b"<Bv03/>", now=now)

    return deliver


def _pipeline(
    writer: GroupCommitWriter, message: ReceivedMessage, done: Callable[[], None]
) -> Future[list[int]]:
    """Submit the receipt; once committed, submit the delivery."""
    receipt = writer.submit_future(_store(message))

    def delivered(_: Future[None]) -> None:
        done()

    def received(future: Future[list[int]]) -> None:
        ids = future.result()
        writer.submit_future(_deliver(message.id, ids[0])).add_done_callback(delivered)

    receipt.add_done_callback(received)
    return receipt


def throughput(journal: Journal, raw: bytes, count: int) -> tuple[float, str]:
    writer = GroupCommitWriter(journal, _NoReactor())  # type: ignore[arg-type]
    writer.start()
    finished = threading.Semaphore(0)
    started = time.perf_counter()
    for _ in range(count):
        _pipeline(writer, _received(raw, time.time()), finished.release)
    for _ in range(count):
        finished.acquire()
    elapsed = time.perf_counter() - started
    writer.stop_blocking(30)
    stats = writer.stats
    detail = f"{stats.batches} commits, {stats.writes / stats.batches:.1f} writes each"
    return count / elapsed, detail


def _took(latencies: list[float], submitted: float, _: Future[Any]) -> None:
    latencies.append((time.perf_counter() - submitted) * 1000)


def latency(journal: Journal, raw: bytes, rate: float, seconds: float) -> list[float]:
    """Acknowledgement latencies in ms at ``rate`` receipts per second."""
    writer = GroupCommitWriter(journal, _NoReactor())  # type: ignore[arg-type]
    writer.start()
    latencies: list[float] = []
    count = int(rate * seconds)
    finished = threading.Semaphore(0)
    start = time.perf_counter()
    for n in range(count):
        # Pace the submissions on a schedule, not by sleeping a fixed gap, so
        # a slow submission does not lower the rate.
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        submitted = time.perf_counter()
        receipt = _pipeline(writer, _received(raw, time.time()), finished.release)
        receipt.add_done_callback(functools.partial(_took, latencies, submitted))
    for _ in range(count):
        finished.acquire()
    writer.stop_blocking(30)
    return latencies


def reactor_latency(
    journal: Journal, raw: bytes, rate: float, seconds: float
) -> list[float]:
    """Like :func:`latency`, but the way the broker does it: submissions from
    the Twisted reactor's thread, answered by Deferreds fired in it."""
    from twisted.internet import reactor, task
    from twisted.internet.defer import Deferred

    writer = GroupCommitWriter(journal)
    writer.start()
    latencies: list[float] = []
    count = int(rate * seconds)
    sent = 0
    outstanding = 0
    start = time.perf_counter()

    def delivered(_: object) -> None:
        nonlocal outstanding
        outstanding -= 1
        if sent == count and outstanding == 0:
            ticker.stop()
            writer.stop().addCallback(lambda _: reactor.stop())

    def acknowledged(ids: list[int], message: ReceivedMessage, t: float) -> None:
        latencies.append((time.perf_counter() - t) * 1000)
        writer.submit(_deliver(message.id, ids[0])).addCallback(delivered)

    def tick() -> None:
        # Submit what the schedule says is due by now: requests arrive in
        # clumps between two turns of the reactor, as they would over HTTP.
        nonlocal sent, outstanding
        due = min(count, int((time.perf_counter() - start) * rate) + 1)
        while sent < due:
            message = _received(raw, time.time())
            receipt: Deferred[list[int]] = writer.submit(_store(message))
            receipt.addCallback(acknowledged, message, time.perf_counter())
            sent += 1
            outstanding += 1

    ticker = task.LoopingCall(tick)
    ticker.start(0.002)
    reactor.run()
    return latencies


def one_by_one(journal: Journal, raw: bytes, count: int) -> float:
    """Messages per second with a commit per write and no group commit."""
    started = time.perf_counter()
    for _ in range(count):
        message = _received(raw, time.time())
        ids = journal.write(_store(message))
        journal.write(_deliver(message.id, ids[0]))
    return count / (time.perf_counter() - started)


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(label: str, rate: float, how: str, latencies: list[float]) -> None:
    print(
        f"{label:<16} at {rate:.0f}/s ({how}): ack latency p50 "
        f"{statistics.median(latencies):.1f} ms, "
        f"p99 {_percentile(latencies, 0.99):.1f} ms, max {max(latencies):.1f} ms"
    )


def run(name: str, url: str, raw: bytes, args: argparse.Namespace) -> None:
    synchronous = args.synchronous
    journal = Journal.open(url, synchronous=synchronous)
    try:
        label = f"{name} ({synchronous})" if name == "sqlite" else name
        rate, detail = throughput(journal, raw, args.messages)
        print(f"{label:<16} group commit: {rate:8.0f} messages/s ({detail})")
        # Below saturation only: past it, latency measures the queue.
        paced = min(args.rate, round(rate * 0.6))
        _report(label, paced, "threads", latency(journal, raw, paced, args.seconds))
        single = one_by_one(journal, raw, min(args.messages, 500))
        print(f"{label:<16} commit per write: {single:8.0f} messages/s")
        if name == "sqlite":
            # The reactor runs once per process: measured last, on SQLite.
            lat = reactor_latency(journal, raw, args.rate, args.seconds)
            _report(label, args.rate, "reactor", lat)
    finally:
        journal.close()


@contextmanager
def postgres_schema() -> Iterator[str | None]:
    engine = sa.create_engine(POSTGRES_URL)
    schema = f"emo_bench_{uuid.uuid4().hex[:8]}"
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError:
        engine.dispose()
        yield None
        return
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--synchronous", choices=("FULL", "NORMAL"), default="FULL")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    raw = SAMPLE.read_bytes() if SAMPLE.is_file() else b"<x>" + b"z" * 4000 + b"</x>"
    print(f"message of {len(raw)} bytes, {args.messages} messages")

    with tempfile.TemporaryDirectory() as data_dir:
        run("sqlite", f"sqlite:///{data_dir}/journal.sqlite3", raw, args)
    if args.no_postgres:
        return
    with postgres_schema() as url:
        if url is None:
            print("postgresql: not reachable, skipped")
        else:
            run("postgresql", url, raw, args)


if __name__ == "__main__":
    main()
