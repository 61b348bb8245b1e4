"""``emo run``: the broker in the foreground, logging to stdout."""

from __future__ import annotations

import atexit
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from twisted.internet import reactor
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import (
    ILogObserver,
    LogEvent,
    Logger,
    LogLevel,
    formatEvent,
    globalLogBeginner,
)
from zope.interface import implementer

from esb import control
from esb.app import BrokerService
from esb.config import Settings
from esb.errors import EmoError

log = Logger()


@implementer(ILogObserver)
class LineObserver:
    """Writes one line per event: time, namespace, level and the text.

    Does what ``FilteringLogObserver(textFileLogObserver(...))`` did at about
    a fifth of the cost (150 to 30 us per event on the 2-core benchmark
    machine): the level is compared directly, the text is made by
    ``str.format_map`` in C instead of Twisted's pure-Python Formatter, and
    the time stamp is formatted once per second, not per event.

    Lines logged in the reactor thread are written together at the end of
    the reactor's turn (one ``write`` for all the messages handled in it, where
    an unbuffered stdout, as under ``PYTHONUNBUFFERED`` or systemd, cost a
    system call per message); a warning or worse, and any line from another
    thread, is written at once, after what was waiting. So a line is out
    before the reactor looks for more work, and only a ``kill -9`` can lose
    the lines of the turn it struck.
    """

    def __init__(
        self, out: IO[str], level: LogLevel = LogLevel.info, *, reactor: Any = None
    ) -> None:
        self.out = out
        self.level = level
        self._second = -1
        self._stamp = ""
        self._reactor = reactor
        self._waiting: list[str] = []
        self._flush_due = False
        self._lock = threading.Lock()
        # The thread that runs the reactor: the one that makes the observer.
        self._reactor_thread = threading.get_ident()

    def __call__(self, event: LogEvent) -> None:
        level = event.get("log_level", LogLevel.info)
        if level < self.level:
            return
        when = event.get("log_time") or time.time()
        if int(when) != self._second:
            self._second = int(when)
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when))
        template = event.get("log_format")
        try:
            text = template.format_map(_Fields(event)) if template else ""
        except Exception:
            # Twisted's own syntax ({name()} calls, nested lookups): its
            # formatter knows it, and says so when a field is missing.
            text = formatEvent(event)
        failure = event.get("log_failure")
        if failure is not None:
            text += "\n" + failure.getTraceback()
        namespace = event.get("log_namespace", "-")
        line = f"{self._stamp} [{namespace}#{level.name}] {text}\n"
        with self._lock:
            self._waiting.append(line)
            if (
                self._reactor is not None
                and level < LogLevel.warn
                and threading.get_ident() == self._reactor_thread
                and len(self._waiting) < 1000
            ):
                if not self._flush_due:
                    self._flush_due = True
                    self._reactor.callLater(0, self.flush)
                return
            self._write()

    def flush(self) -> None:
        """Write the lines waiting for the end of the reactor's turn."""
        with self._lock:
            self._flush_due = False
            self._write()

    def _write(self) -> None:
        if self._waiting:
            lines, self._waiting = self._waiting, []
            self.out.write("".join(lines))


class _Fields(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _begin_logging() -> None:
    observer = LineObserver(sys.stdout, reactor=reactor)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    # What the last turn of the reactor logged is written when it stops, and
    # at exit whatever came after.
    reactor.addSystemEventTrigger("after", "shutdown", observer.flush)
    atexit.register(observer.flush)


def run(settings: Settings) -> int:
    """Start the broker and serve until SIGTERM or SIGINT."""
    pid = control.running_pid(settings)
    if pid is not None:
        print(f"emo: a broker already runs with this data folder (pid {pid})")
        return 1
    _begin_logging()
    from esb.dispatch import close_runtime, prepare_dispatcher

    service = BrokerService(settings, prepare_dispatcher, close_runtime)
    try:
        service.start()
    except EmoError as exc:
        log.critical("Cannot start: {error}", error=str(exc))
        return 2

    def reload() -> None:
        # The outcome is logged and shown in /healthz; a failure here is a bug.
        service.reload().addErrback(lambda why: log.failure("Reload failed", why))

    def on_hup(signum: int, frame: object) -> None:
        # A signal handler may run between any two bytecodes; callFromThread
        # is the reactor's one entry that is safe from there. The reload
        # then starts between messages, and the broker serves them while it
        # reads the routes (esb.app).
        IReactorFromThreads(reactor).callFromThread(reload)

    stopping: list[bool] = []

    def on_stop(signum: int, frame: object) -> None:
        # Twisted's own handler calls reactor.stop() for every signal and logs
        # a traceback on the second; an operator who presses Ctrl-C twice or
        # sends SIGTERM again while messages finish deserves a plain answer.
        if stopping:
            log.info("Already stopping; finishing messages in flight")
            return
        stopping.append(True)
        log.info("Received {signal}, stopping", signal=signal.Signals(signum).name)
        IReactorFromThreads(reactor).callFromThread(reactor.stop)

    def install_stop_handlers() -> None:
        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)

    signal.signal(signal.SIGHUP, on_hup)
    reactor.addSystemEventTrigger("before", "shutdown", service.stop)
    # After the reactor installed its own handlers, replace those for stop.
    reactor.callWhenRunning(install_stop_handlers)
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
