"""Blocking work of the in-process adapters, on threads of their own.

The registers (zaakregister, klantregister) run in the broker's process and
block on their databases, so each delivery to them runs on a worker thread.
Twisted's ``deferToThread`` costs about 30 us of the reactor thread's time
per call (its thread pool's context and coordinator); on the busiest path,
two such calls per creeerZaak (the register and the klantregister's wiretap),
that was a fifth of the reactor's work. A standard-library executor, whose
result is handed to the reactor with one ``callFromThread``, costs about a
third of that.

At interpreter exit the executor finishes the work it has taken, so a
transaction under way is not cut off halfway (SQLite would roll it back, but
its sender would have waited for nothing).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from twisted.internet import defer, reactor
from twisted.internet.interfaces import IReactorFromThreads
from twisted.python.failure import Failure

T = TypeVar("T")

# As many as the registers' connection pools hold (pool_size, default 8).
WORKERS = 8

_executor = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="emo-register")


def run_blocking(work: Callable[..., T], *args: object) -> defer.Deferred[T]:
    """Run ``work(*args)`` on a worker thread; the Deferred fires in the
    reactor thread with its result, or fails with what it raised."""
    deferred: defer.Deferred[T] = defer.Deferred()
    future = _executor.submit(work, *args)
    future.add_done_callback(lambda done: _hand_over(done, deferred))
    return deferred


def _hand_over(done: Future[T], deferred: defer.Deferred[T]) -> None:
    to_reactor = IReactorFromThreads(reactor).callFromThread
    error = done.exception()
    if error is None:
        to_reactor(deferred.callback, done.result())
    else:
        to_reactor(deferred.errback, Failure(error))
