"""``emo messages``: listing, showing, retrying and replaying journaled messages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from esb.cli import main
from esb.config import load_settings
from esb.errors import Violation
from esb.journal import Journal, PlannedDelivery, ReceivedMessage, Transaction
from esb.message import Party
from tests.conftest import ROOT


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    settings = load_settings(ROOT / "config", data_dir=tmp_path, environ={})
    opened = Journal.open(settings.journal_url)
    now = time.time()
    message = ReceivedMessage(
        id="a" * 32,
        received_at=now,
        source="soap:/stuf/zds",
        raw=b"<zakLk01/>",
        operation="creeerZaak",
        berichtcode="Lk01",
        zender=Party("1900", "GISVG"),
        ontvanger=Party("1900", "ZDS"),
        referentienummer="ref-1",
        validation_mode="report",
        violations=(Violation(7, "/zakLk01/object", "not expected"),),
    )

    def store(tx: Transaction) -> None:
        [delivery] = tx.record_routed(
            message, "forward", [PlannedDelivery("backoffice", "publish", now)], now=now
        )
        tx.record_attempt(
            delivery,
            started_at=now,
            ended_at=now + 0.01,
            outcome="dead",
            error="backoffice answered HTTP 400",
        )

    opened.write(store)
    return opened


def run(tmp_path: Path, *words: str) -> int:
    return main(
        ["messages", *words, "--config", str(ROOT / "config"), "--data", str(tmp_path)]
    )


def test_list_shows_the_message_with_its_state(
    tmp_path: Path, journal: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "list", "--state", "dead") == 0
    out = capsys.readouterr().out
    assert "a" * 32 in out and "dead" in out and "creeerZaak" in out
    assert "1900/GISVG" in out and "(1 message(s))" in out


def test_list_filters_on_zender(
    tmp_path: Path, journal: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "list", "--zender", "OTHER") == 0
    assert "(0 message(s))" in capsys.readouterr().out


def test_show_names_violations_deliveries_and_attempts(
    tmp_path: Path, journal: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "show", "a" * 32) == 0
    out = capsys.readouterr().out
    assert "line 7, /zakLk01/object: not expected" in out
    assert "delivery" in out and "backoffice" in out and "dead after 1 attempt" in out
    assert "backoffice answered HTTP 400" in out


def test_show_of_an_unknown_message_fails(tmp_path: Path, journal: Journal) -> None:
    assert run(tmp_path, "show", "b" * 32) == 1


def test_retry_makes_the_dead_delivery_due_again(
    tmp_path: Path, journal: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "retry", "--dead") == 0
    assert "1 delivery(ies) will be tried again" in capsys.readouterr().out
    entry = journal.get_message("a" * 32)
    assert entry is not None
    assert [d.state for d in entry.deliveries] == ["retrying"]


def test_replay_journals_a_new_message_for_the_same_destinations(
    tmp_path: Path, journal: Journal, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(tmp_path, "replay", "a" * 32) == 0
    out = capsys.readouterr().out
    copy_id = out.split(" as ")[1].split(";")[0]
    copy = journal.get_message(copy_id)
    assert copy is not None
    assert copy.source == f"replay:{'a' * 32}"
    assert copy.raw == b"<zakLk01/>"
    assert copy.referentienummer is None
    assert [(d.destination, d.state) for d in copy.deliveries] == [
        ("backoffice", "pending")
    ]
