"""The running broker: start-up, reload and graceful shutdown.

Start-up computes everything once (schemas compiled, routes loaded), then
listens and starts the sources the routes file declares (watched folders,
AMQP queues). A reload builds a complete new dispatcher from the routes file
first and swaps it in one assignment, so a message uses either the old routes
or the new ones, never a mix; a broken file changes nothing. Then the
sources are brought in line with the new file. A stop stops the sources
first, so nothing new comes in while the messages in flight finish.

A reload reads the routes file, compiles its stylesheets and fetches the
WSDLs of its ``soap`` destinations in a thread of the reactor's pool, so the
broker goes on answering messages meanwhile, however slow a WSDL's server
is. What the reactor owns (the adapters' connection pools, the sources) is
made in the reactor thread once that succeeded, and the swap happens there
too. Reloads take turns: one asked for while another is being built waits
for it, then reads the file itself and gets its own answer. Start-up does
both steps in the reactor thread, before the broker listens.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor, task, threads
from twisted.internet.interfaces import IListeningPort
from twisted.logger import Logger

from esb import metrics
from esb.broker import Broker, Dispatcher, NoRoutes
from esb.config import Settings
from esb.errors import ConfigError, EmoError
from esb.ingress import IngressFactory
from esb.routes.model import SourceDefinition
from esb.schemaset import SchemaRegistry
from esb.sources import SourceManager
from esb.web import make_site

log = Logger()

VERSION = "0.1.0"
# How long a stop waits for messages in flight before it closes anyway.
DRAIN_SECONDS = 30.0
FLUSH_SECONDS = 0.2


@dataclass(frozen=True, slots=True)
class ReloadResult:
    ok: bool
    text: str


DispatcherPreparer = Callable[[Settings, SchemaRegistry], Callable[[], Dispatcher]]
"""Reads the routes and what they name, in any thread (a reload's is not the
reactor's), and returns the step that makes the dispatcher in the reactor
thread (:func:`esb.dispatch.prepare_dispatcher`). Either raises EmoError
when the routes cannot be used."""


def no_routes(settings: Settings, schemas: SchemaRegistry) -> Callable[[], Dispatcher]:
    return NoRoutes


class BrokerService:
    """One broker process: its schemas, its current dispatcher, its port."""

    def __init__(
        self,
        settings: Settings,
        prepare_dispatcher: DispatcherPreparer = no_routes,
        closer: Callable[[], defer.Deferred[Any]] | None = None,
    ) -> None:
        self.settings = settings
        self.started = time.time()
        self._prepare_dispatcher = prepare_dispatcher
        self._closer = closer
        self.schemas = SchemaRegistry.empty()
        self.broker: Broker | None = None
        self.port: IListeningPort | None = None
        self.site: Any = None
        self.admin_token = secrets.token_urlsafe(24)
        self.last_reload: ReloadResult | None = None
        self._reloads = defer.DeferredLock()
        self._stopping = False
        self.sources = SourceManager(
            self.current_broker, max_bytes=settings.max_body_bytes
        )

    # Start-up --------------------------------------------------------------

    def load_schemas(self) -> None:
        if not self.settings.schemas:
            log.warn(
                "No StUF schema set configured: message bodies are NOT validated; "
                "only the stuurgegevens are checked. Name distributions with "
                "--schemas or 'schemas' in emo.yaml."
            )
            return
        began = time.perf_counter()
        self.schemas = SchemaRegistry.load(self.settings.schemas)
        metrics.SCHEMA_SETS.set(len(self.schemas.sets))
        log.info(
            "Compiled {count} schema set(s) in {seconds:.2f} s: {names}",
            count=len(self.schemas.sets),
            seconds=time.perf_counter() - began,
            names=", ".join(info.name for info in self.schemas.sets),
        )

    def prepare(self) -> Callable[[], Broker]:
        """Read the routes file and what it names; returns the step that
        makes the broker for them.

        This step blocks (a WSDL fetch may take up to its destination's
        time-out) and may run in any thread; the step returned makes what
        the reactor owns and runs in the reactor thread. Either raises
        EmoError when the routes cannot be used.
        """
        make_dispatcher = self._prepare_dispatcher(self.settings, self.schemas)
        return lambda: Broker(
            self.schemas,
            make_dispatcher(),
            system=self.settings.system,
            max_depth=self.settings.max_depth,
        )

    def build(self) -> Broker:
        """Both steps of :meth:`prepare` in this thread: for start-up."""
        return self.prepare()()

    def start(self) -> IListeningPort:
        """Load everything, then listen. Raises EmoError when it cannot."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.load_schemas()
        self.broker = self.build()
        site = self.site = make_site(
            self.current_broker,
            self.status,
            max_body_bytes=self.settings.max_body_bytes,
            admin=self.admin,
            mounts=self._mounts(),
        )
        from twisted.internet.error import CannotListenError

        try:
            # SOAP POSTs are read by the fast ingress, the rest by the site.
            self.port = reactor.listenTCP(
                self.settings.port, IngressFactory(site), interface=self.settings.host
            )
        except CannotListenError as exc:
            raise ConfigError(
                f"cannot listen on {self.settings.host}:{self.settings.port}: "
                f"{exc.socketError}"
            ) from exc
        actual: int = getattr(self.port.getHost(), "port", self.settings.port)
        self._write_state(actual)
        log.info(
            "EMO {version} listening on http://{host}:{port}/",
            version=VERSION,
            host=self.settings.host,
            port=actual,
        )
        self._apply_sources(self.broker)
        return self.port

    def _mounts(self) -> dict[bytes, Any]:
        """Applications served beside the broker: the zaakzoeker, when
        emo.yaml has a ``zaakzoeker`` section."""
        if self.settings.zaakzoeker is None:
            return {}
        from zaakzoeker.wsgi import mount

        return {b"zaakzoeker": mount(self.settings)}

    def current_broker(self) -> Broker:
        assert self.broker is not None
        return self.broker

    # Reload and status -----------------------------------------------------

    def reload(self) -> defer.Deferred[ReloadResult]:
        """Build a new broker from the routes file and swap it in; keep the
        old one when the file or a destination is broken.

        Call it in the reactor thread. The Deferred fires once this reload
        is done (after any reload still under way), with what it did; it
        fails only on a bug. Messages are answered meanwhile, by the routes
        in force.
        """
        return self._reloads.run(self._reload)

    @defer.inlineCallbacks
    def _reload(self) -> Generator[defer.Deferred[Any], Any, ReloadResult]:
        try:
            if self._stopping:
                raise EmoError("the broker is stopping")
            # The blocking part, in a thread: YAML, stylesheets, WSDLs.
            make_broker = yield threads.deferToThread(self.prepare)
            # Back in the reactor thread: adapters, then the swap.
            broker = make_broker()
        except EmoError as exc:
            result = ReloadResult(False, f"reload refused, routes unchanged:\n{exc}")
            log.error("Route reload refused: {error}", error=str(exc))
        else:
            self.broker = broker
            result = ReloadResult(True, "routes reloaded")
            log.info("Routes reloaded from {path}", path=str(self.settings.routes_path))
            self._apply_sources(broker)
        self.last_reload = result
        return result

    def _apply_sources(self, broker: Broker) -> defer.Deferred[None]:
        """Start, restart or stop sources to match ``broker``'s routes."""
        table = getattr(broker.dispatcher, "table", None)
        definitions: dict[str, SourceDefinition] = {}
        route_sources: set[str] = set()
        if table is not None:
            definitions = dict(table.source_definitions)
            route_sources = table.sources()
        return self.sources.apply(definitions, route_sources)

    def admin(self, command: str, token: str | None) -> defer.Deferred[tuple[int, str]]:
        """Administrative commands over HTTP, for ``emo reload``: the HTTP
        status and text, once the command is done."""
        if not token or not secrets.compare_digest(token, self.admin_token):
            return defer.succeed((403, "admin token missing or wrong\n"))
        if command == "reload":
            return self.reload().addCallback(
                lambda result: ((200 if result.ok else 409), result.text + "\n")
            )
        return defer.succeed((404, f"unknown admin command {command!r}\n"))

    def status(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "version": VERSION,
            "pid": os.getpid(),
            "started": self.started,
            "uptime_seconds": round(time.time() - self.started, 1),
            "schema_sets": self.schemas.describe(),
            "validating": bool(self.schemas),
            "routes": str(self.settings.routes_path),
            "sources": self.sources.describe(),
            "deliveries_in_flight": self._deliveries_in_flight(),
            "last_reload": None
            if self.last_reload is None
            else {"ok": self.last_reload.ok, "text": self.last_reload.text},
        }

    def _deliveries_in_flight(self) -> dict[str, int]:
        """Attempts under way, per destination (deliveries beyond the
        engine's room per destination wait in the journal)."""
        runtime = getattr(getattr(self.broker, "dispatcher", None), "runtime", None)
        if runtime is None:
            return {}
        return {
            name: count for name, count in runtime.engine.in_flight.items() if count
        }

    def _write_state(self, port: int) -> None:
        state = {
            "pid": os.getpid(),
            "started": self.started,
            "host": self.settings.host,
            "port": port,
            "admin_token": self.admin_token,
        }
        path = self.settings.state_file
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.chmod(temporary, 0o600)
        temporary.replace(path)
        self.settings.pid_file.write_text(f"{os.getpid()}\n")

    # Shutdown --------------------------------------------------------------

    def _busy(self) -> bool:
        """Requests still arriving or being answered."""
        uploading = getattr(self.site, "requests_open", 0)
        return bool(uploading or (self.broker and self.broker.in_flight))

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop the sources and listening, let messages in flight finish,
        remove the pid file."""
        log.info("Stopping: no new messages, finishing messages in flight")
        # A reload being built finishes first (a thread cannot be stopped),
        # so that what it installs is stopped with the rest; reloads asked
        # for from now on are refused.
        self._stopping = True
        yield self._reloads.run(lambda: None)
        yield self.sources.stop()
        if self.port is not None:
            yield self.port.stopListening()
        deadline = time.monotonic() + DRAIN_SECONDS
        while self._busy() and time.monotonic() < deadline:
            yield task.deferLater(reactor, 0.05, lambda: None)
        # An answer just finished may still sit in its connection's write
        # buffer; a few reactor turns put it on the wire before shutdown
        # closes the connections.
        yield task.deferLater(reactor, FLUSH_SECONDS, lambda: None)
        if self._closer is not None:
            yield self._closer()
        for path in (self.settings.pid_file, self.settings.state_file):
            _remove_if_ours(path)
        log.info("Stopped")


def _remove_if_ours(path: Path) -> None:
    try:
        if path.suffix == ".pid" and path.read_text().strip() != str(os.getpid()):
            return
        path.unlink()
    except OSError:
        pass
