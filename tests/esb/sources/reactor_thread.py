"""Twisted's reactor in a background thread, for tests of Twisted code.

The sources, the AMQP adapter and the broker service are Twisted code that
talks to real folders, a real RabbitMQ and a real journal. The reactor runs
once per test session in a daemon thread; a test calls into it with
:func:`in_reactor`, which waits for the result (a Deferred's too), and waits
for something to happen outside with :func:`wait_for`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from twisted.internet import reactor
from twisted.internet.threads import blockingCallFromThread

T = TypeVar("T")

_lock = threading.Lock()
_thread: threading.Thread | None = None


def start_reactor() -> None:
    """Run the global reactor in a daemon thread, once per process."""
    global _thread
    with _lock:
        # Another fixture (tests/esb/adapters/conftest.py) may run it already.
        if _thread is not None or reactor.running:  # type: ignore[attr-defined]
            return
        _thread = threading.Thread(
            target=reactor.run,
            kwargs={"installSignalHandlers": False},
            name="reactor",
            daemon=True,
        )
        _thread.start()
    # The reactor runs once it has called this; from then on it takes calls.
    ready = threading.Event()
    reactor.callFromThread(ready.set)  # type: ignore[attr-defined]
    if not ready.wait(10):
        raise RuntimeError("the reactor did not start")


def in_reactor(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``function`` in the reactor thread; its result, waited for if it
    is a Deferred. Exceptions are raised here."""
    start_reactor()
    return blockingCallFromThread(reactor, function, *args, **kwargs)


def wait_for(
    condition: Callable[[], T], seconds: float = 30.0, what: str = "condition"
) -> T:
    """Wait until ``condition()`` is true (checked every 20 ms); its value.

    For what happens in other threads and processes (a file moved, a message
    in a queue); fails the test with ``what`` when it takes too long.
    """
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds:g} s waiting for {what}")
        time.sleep(0.02)
