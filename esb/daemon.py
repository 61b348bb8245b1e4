"""``emo run``: the broker in the foreground, logging to stdout."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from esb import control
from esb.app import BrokerService
from esb.config import Settings
from esb.errors import EmoError

log = Logger()


def _begin_logging() -> None:
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    observer = FilteringLogObserver(textFileLogObserver(sys.stdout), [predicate])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run(settings: Settings) -> int:
    """Start the broker and serve until SIGTERM or SIGINT."""
    pid = control.running_pid(settings)
    if pid is not None:
        print(f"emo: a broker already runs with this data folder (pid {pid})")
        return 1
    _begin_logging()
    from esb.dispatch import close_runtime, routed_dispatcher

    service = BrokerService(settings, routed_dispatcher, close_runtime)
    try:
        service.start()
    except EmoError as exc:
        log.critical("Cannot start: {error}", error=str(exc))
        return 2

    def on_hup(signum: int, frame: object) -> None:
        # A signal handler may run between any two bytecodes; callFromThread
        # is the reactor's one entry that is safe from there, and the reload
        # then runs between messages.
        IReactorFromThreads(reactor).callFromThread(service.reload)

    signal.signal(signal.SIGHUP, on_hup)
    reactor.addSystemEventTrigger("before", "shutdown", service.stop)
    reactor.run()
    return 0


def check_routes_command(path: Path) -> int:
    """``emo routes check``: print every problem with its line."""
    from esb.routes import check_routes

    problems = check_routes(path)
    if problems:
        for problem in problems:
            print(problem)
        print(f"{path}: {len(problems)} problem(s)")
        return 1
    from esb.routes import load_routes

    table = load_routes(path)
    sources = len(table.source_definitions)
    print(
        f"{path}: OK, {len(table.routes)} route(s), "
        f"{len(table.destinations)} destination(s)"
        + (f", {sources} source(s)" if sources else "")
    )
    return 0
