"""``emo messages``: what happened to a message, and doing it again.

    emo messages list [--state S] [--route R] [--operation O] [--zender APP]
                      [--since T] [--until T] [--limit N]
    emo messages show ID
    emo messages retry ID | --dead
    emo messages replay ID

These commands work on the journal directly, whether the broker runs or not:
a retried or replayed delivery is due at once, and the running broker's
poller (or the next one to start) takes it up within a second. ``retry``
gives a dead message's dead deliveries another round of attempts; ``replay``
journals a copy of a message as a new message (``source`` says
``replay:<ID>``) and delivers it again to the destinations of the original, all
published: no sender waits for a replay's answer. The copy carries no
referentienummer in the journal, so duplicate detection does not swallow it.
"""

from __future__ import annotations

import argparse
import time
import uuid
from collections.abc import Sequence
from datetime import datetime

from esb.config import Settings
from esb.journal import (
    MESSAGE_STATES,
    Journal,
    JournalEntry,
    MessageSummary,
    PlannedDelivery,
    ReceivedMessage,
    Transaction,
)
from esb.message import Party


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    messages = commands.add_parser("messages", help="look at and redo messages")
    verbs = messages.add_subparsers(dest="messages_command", required=True)
    listing = verbs.add_parser("list", help="list journaled messages, newest first")
    listing.add_argument("--state", choices=MESSAGE_STATES)
    listing.add_argument("--route")
    listing.add_argument("--operation")
    listing.add_argument("--zender", help="zender applicatie (ORG/APP for both)")
    listing.add_argument("--since", help="received at or after (ISO 8601, local)")
    listing.add_argument("--until", help="received before (ISO 8601, local)")
    listing.add_argument("--limit", type=int, default=50)
    show = verbs.add_parser("show", help="everything about one message")
    show.add_argument("id")
    retry = verbs.add_parser("retry", help="try a dead message's deliveries again")
    target = retry.add_mutually_exclusive_group(required=True)
    target.add_argument("id", nargs="?")
    target.add_argument("--dead", action="store_true", help="every dead message")
    replay = verbs.add_parser("replay", help="deliver a message again as a new one")
    replay.add_argument("id")
    for parser in (listing, show, retry, replay):
        parser.add_argument("--config", default="config")
        parser.add_argument("--data")


def run(settings: Settings, args: argparse.Namespace) -> int:
    journal = Journal.open(settings.journal_url)
    try:
        command = args.messages_command
        if command == "list":
            return _list(journal, args)
        if command == "show":
            return _show(journal, args.id)
        if command == "retry":
            return _retry(journal, args.id, args.dead)
        return _replay(journal, args.id)
    finally:
        journal.close()


def _when(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError as exc:
        raise SystemExit(f"emo: '{text}' is not a time like 2026-12-03T09:30") from exc


def _stamp(moment: float | None) -> str:
    if moment is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(moment))


def _zender(text: str | None) -> Party | None:
    if not text:
        return None
    organisatie, _, applicatie = text.rpartition("/")
    return Party(organisatie=organisatie or None, applicatie=applicatie)


def _list(journal: Journal, args: argparse.Namespace) -> int:
    found = journal.list_messages(
        state=args.state,
        route=args.route,
        operation=args.operation,
        zender=_zender(args.zender),
        since=_when(args.since),
        until=_when(args.until),
        limit=args.limit,
    )
    print(_row("ID", "RECEIVED", "STATE", "OPERATION", "ZENDER", "ROUTE"))
    for summary in found:
        print(_summary_row(summary))
    print(f"({len(found)} message(s))")
    return 0


def _row(*cells: str) -> str:
    widths = (32, 19, 9, 30, 20, 20)
    return "  ".join(
        cell[:width].ljust(width) for cell, width in zip(cells, widths, strict=True)
    )


def _summary_row(summary: MessageSummary) -> str:
    return _row(
        summary.id,
        _stamp(summary.received_at),
        summary.state,
        summary.operation or "-",
        summary.zender.describe(),
        summary.route or "-",
    ).rstrip()


def _show(journal: Journal, message_id: str) -> int:
    entry = journal.get_message(message_id)
    if entry is None:
        print(f"No message {message_id} in the journal.")
        return 1
    for line in describe(entry):
        print(line)
    return 0


def describe(entry: JournalEntry) -> list[str]:
    """The operator's view of one message, line by line."""
    lines = [
        f"message          {entry.id}",
        f"state            {entry.state}"
        + (f" ({entry.error})" if entry.error else ""),
        f"received         {_stamp(entry.received_at)} on {entry.source}",
        f"operation        {entry.operation or '-'} ({entry.berichtcode or '-'})",
        f"zender           {entry.zender.describe()}",
        f"ontvanger        {entry.ontvanger.describe()}",
        f"referentienummer {entry.referentienummer or '-'}",
        f"soapaction       {entry.soap_action or '-'}",
        f"route            {entry.route or '-'}",
        f"size             {len(entry.raw)} bytes",
        f"validation       {entry.validation_mode or '-'}, "
        f"{len(entry.violations)} violation(s)",
    ]
    lines += [f"  - {violation}" for violation in entry.violations]
    lines.append(
        f"answered         {_stamp(entry.answered_at)}"
        + (f", {len(entry.answer)} bytes" if entry.answer else "")
    )
    for delivery in entry.deliveries:
        due = (
            f", next attempt {_stamp(delivery.next_attempt_at)}"
            if delivery.next_attempt_at
            else ""
        )
        lines.append(
            f"delivery {delivery.id} to {delivery.destination} ({delivery.mode}): "
            f"{delivery.state} after {delivery.attempts} attempt(s){due}"
        )
        for attempt in delivery.history:
            took = (attempt.ended_at - attempt.started_at) * 1000
            error = f": {attempt.error}" if attempt.error else ""
            lines.append(
                f"  {_stamp(attempt.started_at)}  {attempt.outcome:5}  "
                f"{took:7.1f} ms{error}"
            )
    return lines


def _retry(journal: Journal, message_id: str | None, every_dead: bool) -> int:
    ids: Sequence[str]
    if every_dead:
        ids = [summary.id for summary in journal.dead_messages(limit=100_000)]
    else:
        assert message_id is not None
        ids = [message_id]
    total = 0
    for identifier in ids:
        count = journal.reset_for_retry(identifier)
        total += count
        print(f"{identifier}: {count} delivery(ies) will be tried again")
    if not ids:
        print("No dead messages.")
    return 0 if total or not ids else 1


def _replay(journal: Journal, message_id: str) -> int:
    entry = journal.get_message(message_id)
    if entry is None:
        print(f"No message {message_id} in the journal.")
        return 1
    if not entry.deliveries or entry.route is None:
        print(f"Message {message_id} was never routed; nothing to replay.")
        return 1
    now = time.time()
    copy_id = uuid.uuid4().hex
    received = ReceivedMessage(
        id=copy_id,
        received_at=now,
        source=f"replay:{entry.id}",
        raw=entry.raw,
        operation=entry.operation,
        berichtcode=entry.berichtcode,
        zender=entry.zender,
        ontvanger=entry.ontvanger,
        referentienummer=None,
        soap_action=entry.soap_action,
        entiteittype=entry.entiteittype,
        validation_mode=entry.validation_mode,
        violations=entry.violations,
    )
    planned = [
        PlannedDelivery(delivery.destination, "publish", now)
        for delivery in entry.deliveries
    ]
    route = entry.route

    def store(tx: Transaction) -> list[int]:
        return tx.record_routed(received, route, planned, now=now)

    journal.write(store)
    names = ", ".join(p.destination for p in planned)
    print(f"Replayed {entry.id} as {copy_id}; delivering to {names}")
    return 0


__all__ = ["add_parser", "describe", "run"]
