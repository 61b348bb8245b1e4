"""Blocking work of the in-process adapters on worker threads."""

from __future__ import annotations

import threading

import pytest
from twisted.internet import defer

from esb.adapters.blocking import run_blocking
from tests.esb.adapters.conftest import ReactorThread


def test_the_work_runs_on_a_worker_and_its_result_reaches_the_reactor(
    reactor_thread: ReactorThread,
) -> None:
    ran_on: list[str] = []
    fired_on: list[str] = []

    def work(a: int, b: int) -> int:
        ran_on.append(threading.current_thread().name)
        return a + b

    def start() -> defer.Deferred[int]:
        deferred = run_blocking(work, 2, 3)

        def note(result: int) -> int:
            fired_on.append(threading.current_thread().name)
            return result

        return deferred.addCallback(note)

    assert reactor_thread.call(start) == 5
    assert ran_on[0].startswith("emo-register")
    assert fired_on == [reactor_thread.call(lambda: threading.current_thread().name)]


def test_what_the_work_raises_fails_the_deferred(
    reactor_thread: ReactorThread,
) -> None:
    def work() -> None:
        raise LookupError("no such zaak")

    with pytest.raises(LookupError, match="no such zaak"):
        reactor_thread.call(lambda: run_blocking(work))
