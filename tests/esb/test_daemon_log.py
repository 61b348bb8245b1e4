"""The broker's log lines: one per event, written at the end of the
reactor's turn, warnings and other threads' lines at once."""

from __future__ import annotations

import io
import threading

from twisted.internet import task
from twisted.logger import Logger, LogLevel, LogPublisher

from esb.daemon import LineObserver


class CountingOut(io.StringIO):
    """A stdout that counts its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def _logger(observer: LineObserver) -> Logger:
    return Logger(namespace="emo.test", observer=LogPublisher(observer))


def test_lines_of_one_turn_are_written_together_at_its_end() -> None:
    """Three info lines in one turn: nothing written until the turn ends,
    then all three, in order, in one write."""
    clock, out = task.Clock(), CountingOut()
    log = _logger(LineObserver(out, reactor=clock))

    for number in range(3):
        log.info("Message {n} handled", n=number)
    assert out.getvalue() == ""

    clock.advance(0)
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "Message 0 handled",
        "Message 1 handled",
        "Message 2 handled",
    ]
    assert all("[emo.test#info]" in line for line in lines)
    assert out.writes == 1


def test_a_warning_is_written_at_once_after_what_waited() -> None:
    clock, out = task.Clock(), CountingOut()
    log = _logger(LineObserver(out, reactor=clock))

    log.info("first")
    log.warn("then {what}", what="trouble")

    assert [line.split("] ", 1)[1] for line in out.getvalue().splitlines()] == [
        "first",
        "then trouble",
    ]
    clock.advance(0)
    assert out.writes == 1


def test_a_line_from_another_thread_is_written_at_once() -> None:
    """Threads other than the reactor's (the journal writer, the zaakzoeker's
    WSGI threads) have no turn to wait for."""
    clock, out = task.Clock(), CountingOut()
    log = _logger(LineObserver(out, reactor=clock))

    thread = threading.Thread(target=lambda: log.info("from {name}", name="a thread"))
    thread.start()
    thread.join()

    assert out.getvalue().endswith("] from a thread\n")


def test_lines_below_the_level_are_dropped_and_without_a_reactor_none_wait() -> None:
    out = CountingOut()
    log = _logger(LineObserver(out, LogLevel.warn))

    log.info("not shown")
    log.error("shown")

    assert out.getvalue().endswith("] shown\n")
    assert "not shown" not in out.getvalue()
