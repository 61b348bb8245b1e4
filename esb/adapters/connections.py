"""Persistent HTTP/1.1 client connections: the transport under every HTTP
destination.

Twisted's ``Agent`` does far more per request than a broker forwarding one
message needs (header objects, body producers, IDNA checks of the host on
every request, a Deferred chain per step); at hundreds of deliveries a
second it cost a third of the reactor's time. A delivery here is one
prepared request head written with the payload, and the answer read by
llhttp (through ``httptools``, the parser under uvicorn).

The rules kept from HTTP/1.1 (RFC 9112):

- one request at a time on a connection (no pipelining);
- an answer ends at its Content-Length, at the end of its chunked body, or,
  without either, when the server closes the connection (section 6.3);
- a connection goes back to the pool only if both sides want it kept alive:
  an HTTP/1.0 answer without ``keep-alive`` or a ``Connection: close`` ends
  it, so old servers get one connection per request;
- a request is never resent on its own: a POST is not idempotent, and the
  delivery engine retries with a journal entry.

A connection that the server closes while idle leaves the pool at once; the
next request opens a new one.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httptools
from twisted.internet import defer, error
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import IReactorCore, IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.iweb import IPolicyForHTTPS

from esb.sockets import send_now

# Requests up to this size are sent at once (see esb.sockets).
_SEND_NOW_LIMIT = 65536


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """What the destination answered."""

    status: int
    content_type: str | None
    body: bytes


class AnswerError(Exception):
    """The server's answer could not be read: cut off or not HTTP."""


class _Exchange:
    """One request on a connection, and the answer as it arrives."""

    __slots__ = (
        "body",
        "content_type",
        "delimited",
        "done",
        "headers_complete",
        "status",
    )

    def __init__(self, done: defer.Deferred[HttpAnswer]) -> None:
        self.done = done
        self.body: list[bytes] = []
        self.content_type: str | None = None
        # False when the body ends with the connection (no length, not chunked).
        self.delimited = False
        self.headers_complete = False
        self.status = 0


class HttpConnection(Protocol):
    """One client connection; :meth:`request` sends a request on it."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.exchange: _Exchange | None = None
        self.closed = False
        self.parser = httptools.HttpResponseParser(self)
        self._keep_alive = True

    # Sending ---------------------------------------------------------------

    def request(self, head: bytes, payload: bytes) -> defer.Deferred[HttpAnswer]:
        def cancel(_: defer.Deferred[HttpAnswer]) -> None:
            # Nothing more of this answer will be read: the connection goes.
            self.exchange = None
            if self.transport is not None:
                self.transport.abortConnection()  # type: ignore[attr-defined]

        done: defer.Deferred[HttpAnswer] = defer.Deferred(cancel)
        self.exchange = _Exchange(done)
        assert self.transport is not None
        if len(payload) <= _SEND_NOW_LIMIT:
            send_now(self.transport, head + payload)
        else:
            # A large payload is not copied to be sent at once: the
            # transport takes it as it is and sends it as the socket drains.
            self.transport.writeSequence([head, payload])
        return done

    # Parser callbacks (httptools calls these by name) ------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        lower = name.lower()
        if lower == b"content-type":
            exchange.content_type = value.decode("latin-1")
        elif lower == b"content-length" or (
            lower == b"transfer-encoding" and b"chunked" in value.lower()
        ):
            exchange.delimited = True

    def on_headers_complete(self) -> None:
        exchange = self.exchange
        if exchange is None:
            return
        exchange.status = self.parser.get_status_code()
        exchange.headers_complete = True
        self._keep_alive = bool(self.parser.should_keep_alive())

    def on_body(self, data: bytes) -> None:
        if self.exchange is not None:
            self.exchange.body.append(data)

    def on_message_complete(self) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is None:
            return
        if not exchange.status or exchange.status < 200:
            # 1xx (100 Continue) is not the answer; the real one follows.
            self.exchange = _Exchange(exchange.done)
            return
        answer = HttpAnswer(
            exchange.status, exchange.content_type, b"".join(exchange.body)
        )
        if self._keep_alive:
            self.pool.release(self)
        else:
            self.pool.forget(self)
            self.closed = True
            if self.transport is not None:
                self.transport.loseConnection()
        exchange.done.callback(answer)

    # Transport -------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self.exchange is None:
            # Bytes nobody asked for: the connection cannot be trusted.
            self._drop()
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(AnswerError(f"the answer is not valid HTTP: {exc}"))
            self._drop()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed = True
        self.pool.forget(self)
        exchange, self.exchange = self.exchange, None
        if exchange is None or exchange.done.called:
            return
        if exchange.headers_complete and not exchange.delimited:
            # The body of an answer without length ends with the connection.
            exchange.done.callback(
                HttpAnswer(
                    exchange.status, exchange.content_type, b"".join(exchange.body)
                )
            )
            return
        if reason.check(error.ConnectionDone):
            what = "cut off" if exchange.headers_complete else "never sent"
            exchange.done.errback(
                AnswerError(f"the server closed the connection; answer {what}")
            )
        else:
            exchange.done.errback(reason)

    def _fail(self, exc: Exception) -> None:
        exchange, self.exchange = self.exchange, None
        if exchange is not None and not exchange.done.called:
            exchange.done.errback(exc)

    def _drop(self) -> None:
        self.pool.forget(self)
        self.closed = True
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]


class _ConnectionFactory(Factory):
    def __init__(self, pool: ConnectionPool) -> None:
        self.pool = pool
        self.noisy = False

    def buildProtocol(self, addr: Any) -> HttpConnection:
        return HttpConnection(self.pool)


class ConnectionPool:
    """At most ``limit`` connections to one host and port, kept open between
    requests.

    A request when all of them are busy waits for the first to come free
    (in arrival order) rather than opening one more: a burst of deliveries
    must not turn into a burst of TCP (and TLS) handshakes, nor a crowd of
    connections to the backoffice. Cancelling a waiting request takes it out
    of the queue.
    """

    def __init__(
        self,
        reactor: IReactorCore,
        host: str,
        port: int,
        *,
        tls: IPolicyForHTTPS | None,
        connect_timeout: float,
        keep: int,
    ) -> None:
        self.limit = max(1, keep)
        self.idle: list[HttpConnection] = []
        self.busy: set[HttpConnection] = set()
        self.opening = 0
        self.waiting: deque[defer.Deferred[HttpConnection]] = deque()
        self.closing = False
        endpoint: IStreamClientEndpoint = HostnameEndpoint(
            reactor, host, port, timeout=connect_timeout
        )
        if tls is not None:
            creator = tls.creatorForNetloc(host.encode("idna"), port)
            endpoint = wrapClientTLS(creator, endpoint)
        self.endpoint = endpoint
        self.factory = _ConnectionFactory(self)

    def idle_connection(self) -> HttpConnection | None:
        """A kept-alive connection of one's own, if one is free, until
        :meth:`release` or :meth:`forget`."""
        while self.idle:
            connection = self.idle.pop()
            if not connection.closed:
                self.busy.add(connection)
                return connection
        return None

    def connection(self) -> defer.Deferred[HttpConnection]:
        """A connection of one's own until :meth:`release` or :meth:`forget`."""
        idle = self.idle_connection()
        if idle is not None:
            return defer.succeed(idle)
        if len(self.busy) + self.opening < self.limit:
            return self._open()

        def cancel(waiter: defer.Deferred[HttpConnection]) -> None:
            if waiter in self.waiting:
                self.waiting.remove(waiter)

        waiter: defer.Deferred[HttpConnection] = defer.Deferred(cancel)
        self.waiting.append(waiter)
        return waiter

    def _open(self) -> defer.Deferred[HttpConnection]:
        self.opening += 1
        connected: defer.Deferred[Any] = self.endpoint.connect(self.factory)
        return connected.addBoth(self._opened)

    def _opened(self, result: Any) -> HttpConnection:
        self.opening -= 1
        if isinstance(result, Failure):
            # The slot is free again; a waiter may try (and likely fail too,
            # with its own error, as it should).
            self._serve_waiters()
            result.raiseException()
        assert isinstance(result, HttpConnection)
        self.busy.add(result)
        return result

    def release(self, connection: HttpConnection) -> None:
        """Done with ``connection``: to the next waiter, or kept idle."""
        self.busy.discard(connection)
        if connection.closed:
            self._serve_waiters()
            return
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.called:
                self.busy.add(connection)
                waiter.callback(connection)
                return
        if len(self.idle) < self.limit and not self.closing:
            self.idle.append(connection)
        else:
            connection.closed = True
            if connection.transport is not None:
                connection.transport.loseConnection()

    def forget(self, connection: HttpConnection) -> None:
        """``connection`` is closed: its slot is free."""
        was_busy = connection in self.busy
        self.busy.discard(connection)
        if connection in self.idle:
            self.idle.remove(connection)
        if was_busy:
            self._serve_waiters()

    def _serve_waiters(self) -> None:
        while self.waiting and len(self.busy) + self.opening < self.limit:
            waiter = self.waiting.popleft()
            if waiter.called:
                continue
            self._open().addCallbacks(
                lambda connection, w=waiter: self._hand_over(w, connection),
                lambda failure, w=waiter: None if w.called else w.errback(failure),
            )

    def _hand_over(
        self, waiter: defer.Deferred[HttpConnection], connection: HttpConnection
    ) -> None:
        if waiter.called:  # cancelled while the connection was being made
            self.release(connection)
        else:
            waiter.callback(connection)

    def close(self) -> None:
        """Close the idle connections; those in use close after their answer."""
        self.closing = True
        idle, self.idle = self.idle, []
        for connection in idle:
            connection.closed = True
            if connection.transport is not None:
                connection.transport.loseConnection()


def request_head(
    method: str, target: str, host_header: str, headers: Mapping[str, str]
) -> bytes:
    """The request line and the headers that do not change per request."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host_header}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")
