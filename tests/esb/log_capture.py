"""What EMO logs while a block of a test runs, as an operator reads it.

EMO logs with ``twisted.logger``; the events reach every observer of the
global publisher, whichever thread emits them (the reactor's, here).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from twisted.logger import ILogObserver, LogEvent, formatEvent, globalLogPublisher
from zope.interface import provider


@contextmanager
def log_lines() -> Iterator[list[str]]:
    """Every log event emitted inside the block, formatted; the list grows
    while the block runs."""
    lines: list[str] = []

    @provider(ILogObserver)
    def observe(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    try:
        yield lines
    finally:
        globalLogPublisher.removeObserver(observe)
