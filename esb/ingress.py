"""The broker's HTTP/1.1 ingress: SOAP POSTs read fast, the rest by twisted.web.

A SOAP POST is most of what the broker serves, and twisted.web spends more
time reading one (HTTPChannel's line parsing, a Request object, Headers)
than the broker spends validating it. Here each connection starts with
:class:`Ingress`, which reads requests itself as long as they are what it
knows: a ``POST`` to one of the SOAP endpoints (``/stuf/zds``, ``/stuf/bg``,
a trailing slash tolerated, any query) with a Content-Length or a chunked
body, HTTP/1.0 or 1.1. Such a request is checked and answered exactly as
:class:`esb.web.SoapEndpoint` does, through the same
:func:`esb.web.receive_soap`.

Anything else (another path or method, a WSDL query, a plain-HTTP source,
an upgrade, a head llhttp finds malformed or twisted.web would refuse for its
size) is handed to the site's own protocol at the start of that request: the
site's channel is connected to the same transport and given every byte from
the start of the request on. From then on the connection belongs to
twisted.web, so every answer it gave before it still gives, in the same
words.

The head of a request is parsed by llhttp (``httptools``); its framing is read
here. llhttp would decode bodies too, but httptools does not say where in the
bytes it was fed a message ended, and that is what a hand-over and pipelined
requests need: the bytes of the next request, exactly. So the end of the head
is the first empty line, a body ends after Content-Length bytes or at the last
chunk (RFC 9112 sections 6 and 7.1), and llhttp sees only the head.

The limits are twisted.web's (``HTTPChannel``): a head of at most 16 KiB and
500 header lines goes this way, a longer one to twisted.web, which answers it
(431 for a line over 16 KiB, see :class:`esb.web.BrokerChannel`, 400
otherwise); chunk-size lines of at most 1 KiB, trailers of at most 64 KiB,
else 400 and the connection closed, as twisted.web does. Pipelined requests
are answered in order: while one is with the broker the next are only
buffered, and reading stops after 16 KiB of them.
"""

from __future__ import annotations

import string
import tempfile
import time
from typing import IO, Any

import httptools
from twisted.internet import protocol
from twisted.internet.interfaces import IDelayedCall, IPushProducer, ITCPTransport
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES, datetimeToString
from zope.interface import implementer

from esb.answers import Answer
from esb.broker import Source
from esb.sockets import send_now
from esb.web import BrokerSite, SoapEndpoint, receive_soap

log = Logger()

# twisted.web.http.HTTPChannel's limits, kept so that a request is refused
# the same way whichever side reads it.
HEAD_LIMIT = 16384  # HTTPChannel.totalHeadersSize (and LineReceiver.MAX_LENGTH)
MAX_HEADERS = 500  # HTTPChannel.maxHeaders
EAGER_READ = 16384  # HTTPChannel._optimisticEagerReadSize
CHUNK_SIZE_LINE_LIMIT = 1024  # twisted.web.http.maxChunkSizeLineLength
TRAILER_LIMIT = 65536  # _ChunkedTransferDecoder._maxTrailerHeadersSize
# A body this long goes to a temporary file while it arrives, as in
# twisted.web (http._getContentFile): uploads under way do not hold memory.
SPOOL_AT = 100_000
# Answers up to this size are sent at once (see esb.sockets); a larger one is
# left to the transport rather than copied.
_SEND_NOW_LIMIT = 65536

_HEX = frozenset(string.hexdigits.encode())
_BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\n\r\n"
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# The headers a SOAP POST is read by; of each, the first one counts, as in
# twisted.web (Headers.getRawHeaders(name)[0]).
_WANTED = frozenset(
    {
        b"content-type",
        b"soapaction",
        b"content-length",
        b"transfer-encoding",
        b"connection",
        b"expect",
    }
)


class MalformedBody(Exception):
    """A chunked body breaks RFC 9112 section 7.1, or twisted.web's limits."""


class _Head:
    """The headers of one request head, as llhttp calls them out."""

    __slots__ = ("count", "repeated", "values")

    def __init__(self) -> None:
        self.values: dict[bytes, bytes] = {}
        self.count = 0
        self.repeated = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.count += 1
        name = name.lower()
        if name in _WANTED:
            if name in self.values:
                # Two framing headers: twisted.web answers 400; let it.
                self.repeated |= name in (b"content-length", b"transfer-encoding")
                return
            self.values[name] = value.strip(b" \t")

    def text(self, name: bytes) -> str | None:
        # Header bytes that are not UTF-8 are read as Latin-1 (RFC 9110
        # section 5.5), as esb.web does.
        value = self.values.get(name)
        return None if value is None else value.decode("latin-1")


class _Request:
    """One SOAP POST on its way: its body as it arrives, then its answer."""

    __slots__ = (
        "body",
        "chunks",
        "content_type",
        "counted",
        "keep_alive",
        "limit",
        "received",
        "remaining",
        "soap_action",
        "source",
        "spool",
        "too_large",
        "version",
    )

    def __init__(
        self,
        source: Source,
        head: _Head,
        version: bytes,
        length: int | None,
        limit: int,
    ) -> None:
        self.source = source
        self.version = version
        self.content_type = head.text(b"content-type")
        self.soap_action = head.text(b"soapaction")
        # RFC 9112 section 9.3: HTTP/1.1 persists unless "close"; twisted.web
        # ends every HTTP/1.0 connection after its answer, and so does this.
        connection = head.values.get(b"connection", b"").lower()
        self.keep_alive = version == b"HTTP/1.1" and b"close" not in {
            token.strip() for token in connection.split(b",")
        }
        self.limit = limit
        self.body: list[bytes] = []
        self.spool: IO[bytes] | None = None
        self.received = 0
        self.too_large = length is not None and length > limit
        # Content-Length bytes still to come, or the chunked body's reader.
        self.remaining = length or 0
        self.chunks = _ChunkedBody() if length is None else None
        self.counted = True

    def take(self, data: bytes) -> None:
        """Keep a piece of the body, or discard it once over the limit."""
        self.received += len(data)
        if self.received > self.limit and not self.too_large:
            self.too_large = True
            self.drop()
        if self.too_large:
            return
        if self.spool is None and self.received >= SPOOL_AT:
            self.spool = tempfile.TemporaryFile()
            self.spool.writelines(self.body)
            self.body = []
        if self.spool is not None:
            self.spool.write(data)
        else:
            self.body.append(data)

    def content(self) -> bytes | None:
        """The whole body, or None when it was over the limit."""
        if self.too_large:
            return None
        if self.spool is not None:
            self.spool.seek(0)
            content = self.spool.read()
            self.drop()
            return content
        return self.body[0] if len(self.body) == 1 else b"".join(self.body)

    def drop(self) -> None:
        """Let go of what was kept of the body."""
        self.body = []
        if self.spool is not None:
            self.spool.close()
            self.spool = None


class _ChunkedBody:
    """Reads a chunked body (RFC 9112 section 7.1) off the front of a buffer.

    Only the framing is checked; the chunk extensions and trailer fields are
    skipped, as twisted.web skips them.
    """

    __slots__ = ("left", "state", "trailers")

    def __init__(self) -> None:
        self.state = "size"
        self.left = 0
        self.trailers = 0

    def read(self, buffer: bytes, request: _Request) -> tuple[bool, bytes]:
        """Pass the chunk data in ``buffer`` to ``request``; whether the body
        is complete, and the bytes after what was read."""
        while buffer:
            if self.state == "size":
                end = buffer.find(b"\r\n")
                if end < 0 or end >= CHUNK_SIZE_LINE_LIMIT:
                    if end >= 0 or len(buffer) > CHUNK_SIZE_LINE_LIMIT:
                        raise MalformedBody("chunk-size line too long")
                    return False, buffer
                size = buffer[:end].split(b";", 1)[0]
                if not size or not _HEX.issuperset(size):
                    raise MalformedBody(f"chunk-size {size[:20]!r}")
                self.left = int(size, 16)
                self.state = "data" if self.left else "trailer"
                buffer = buffer[end + 2 :]
            elif self.state == "data":
                piece = buffer[: self.left] if len(buffer) > self.left else buffer
                request.take(piece)
                self.left -= len(piece)
                buffer = buffer[len(piece) :]
                if not self.left:
                    self.state = "crlf"
            elif self.state == "crlf":
                if len(buffer) < 2:
                    return False, buffer
                if buffer[:2] != b"\r\n":
                    raise MalformedBody("chunk data without CRLF")
                self.state = "size"
                buffer = buffer[2:]
            else:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if self.trailers + len(buffer) > TRAILER_LIMIT:
                        raise MalformedBody("trailer section too long")
                    return False, buffer
                buffer = buffer[end + 2 :]
                if end == 0:
                    return True, buffer
                self.trailers += end + 2
                if self.trailers > TRAILER_LIMIT:
                    raise MalformedBody("trailer section too long")
        return False, buffer


class IngressFactory(protocol.ServerFactory):
    """Listens for the broker: :class:`Ingress` per connection, in front of
    ``site``."""

    def __init__(self, site: BrokerSite) -> None:
        self.site = site
        self.noisy = False
        root = site.root
        # The SOAP endpoints this ingress answers itself, by path; a mount
        # on the same first segment would win in Root, so it wins here too.
        self.sources: dict[bytes, Source] = {
            path: endpoint.source
            for path, endpoint in root.endpoints.items()
            if type(endpoint) is SoapEndpoint and path.split(b"/")[1] not in root.mounts
        }

    def buildProtocol(self, addr: Any) -> Ingress:
        return Ingress(self, addr)

    def startFactory(self) -> None:
        site: protocol.Factory[Any] = self.site
        site.doStart()

    def stopFactory(self) -> None:
        site: protocol.Factory[Any] = self.site
        site.doStop()


@implementer(IPushProducer)
class Ingress(protocol.Protocol):
    """One connection: SOAP POSTs answered here until a request comes that
    twisted.web must answer; from that request on, the site's channel has
    the connection."""

    def __init__(self, ingress: IngressFactory, addr: Any) -> None:
        self.ingress = ingress
        self.addr = addr
        self.site = ingress.site
        self.idle_call: IDelayedCall | None = None
        self.last_seen = 0.0  # when the connection last did something
        # Bytes received and not yet read: the start of the next request.
        self.buffer = b""
        self.reading: _Request | None = None  # its body is arriving
        self.handling: _Request | None = None  # with the broker
        self.channel: protocol.Protocol | None = None  # twisted.web's, once handed
        self.closing = False  # the last answer is out; later bytes are dropped
        self.lost = False
        self.paused = False
        self.write_blocked = False
        self.advancing = False

    # Connection ------------------------------------------------------------

    def connectionMade(self) -> None:
        transport = self.transport
        assert transport is not None
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        # Stop reading while the client does not read its answers.
        transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self._watch_idle()

    def dataReceived(self, data: bytes) -> None:
        if self.channel is not None:
            self.channel.dataReceived(data)
            return
        if self.closing:
            return
        self._touch()
        self.buffer = self.buffer + data if self.buffer else data
        if self.handling is not None:
            self._update_reading()
            return
        self._advance()

    def connectionLost(self, reason: Failure = protocol.connectionDone) -> None:
        if self.channel is not None:
            self.channel.connectionLost(reason)
            return
        self.lost = True
        self._stop_idle()
        # The broker still finishes a message whose sender went away; only
        # its answer has nowhere to go.
        for request in (self.reading, self.handling):
            if request is not None:
                request.drop()
                self._done(request)
        self.reading = None

    def _watch_idle(self) -> None:
        timeout = self.site.timeOut
        if timeout:
            self.last_seen = self.site.reactor.seconds()
            self.idle_call = self.site.reactor.callLater(timeout, self._time_out)

    def _touch(self) -> None:
        """Something happened: the idle time-out counts from now.

        Only the moment is noted; the timer, when it fires, sees how long the
        connection has really been idle (moving the timer on every request
        cost two reschedules a message).
        """
        self.last_seen = self.site.reactor.seconds()

    def _stop_idle(self) -> None:
        if self.idle_call is not None and self.idle_call.active():
            self.idle_call.cancel()
        self.idle_call = None

    def _time_out(self) -> None:
        # The site's idle time-out (twisted.web's 12 hours): nothing received
        # for that long, and no request with the broker (that may take its
        # time, as in twisted.web).
        self.idle_call = None
        timeout = self.site.timeOut
        if not timeout:
            return
        idle = self.site.reactor.seconds() - self.last_seen
        if self.handling is not None or idle < timeout:
            later = timeout - idle if self.handling is None else timeout
            self.idle_call = self.site.reactor.callLater(later, self._time_out)
            return
        log.info("Timing out client: {peer}", peer=str(self.addr))
        transport: Any = self.transport
        transport.abortConnection()

    # The transport as a consumer of answers --------------------------------

    def pauseProducing(self) -> None:
        self.write_blocked = True
        self._update_reading()

    def resumeProducing(self) -> None:
        self.write_blocked = False
        self._update_reading()

    def stopProducing(self) -> None:
        pass

    def _update_reading(self) -> None:
        if self.lost:
            return
        pause = self.write_blocked or (
            self.handling is not None and len(self.buffer) > EAGER_READ
        )
        if pause == self.paused:
            return
        self.paused = pause
        transport: Any = self.transport
        if pause:
            transport.pauseProducing()
        else:
            transport.resumeProducing()

    # Reading requests --------------------------------------------------------

    def _advance(self) -> None:
        """Read requests off the buffer until one is with the broker, the
        bytes run out, or the connection goes to twisted.web."""
        if self.advancing:
            return  # an answer that came at once; the loop below goes on
        self.advancing = True
        try:
            while (
                self.handling is None
                and self.channel is None
                and not self.closing
                and not self.lost
            ):
                if self.reading is None:
                    if not self._read_head():
                        break
                elif not self._read_body(self.reading):
                    break
        finally:
            self.advancing = False

    def _read_head(self) -> bool:
        """Start the next request if its head is complete and a SOAP POST;
        False when more bytes are needed or twisted.web has the request."""
        buffer = self.buffer
        # twisted.web eats one empty line before a request (old browsers
        # sent one after a POST); take the same requests it would.
        start = 2 if buffer[:2] == b"\r\n" else 0
        line_end = buffer.find(b"\r\n", start)
        if line_end < 0:
            prefix = buffer[start : start + 6]
            if len(buffer) > HEAD_LIMIT or prefix != b"POST /"[: len(prefix)]:
                self._hand_over()
            return False
        source = self._source(buffer[start:line_end])
        if source is None:
            self._hand_over()
            return False
        head_end = buffer.find(b"\r\n\r\n", line_end)
        if head_end < 0 or head_end + 4 > HEAD_LIMIT:
            if head_end >= 0 or len(buffer) > HEAD_LIMIT:
                self._hand_over()
            return False
        head_end += 4

        request = self._parse_head(buffer[start:head_end], source)
        if request is None:
            self._hand_over()
            return False
        self.buffer = buffer[head_end:]
        self.reading = request
        self.site.requests_open += 1
        return True

    def _source(self, line: bytes) -> Source | None:
        """The SOAP source a request line posts to, if it does."""
        parts = line.split(b" ")
        if len(parts) != 3 or parts[0] != b"POST":
            return None
        # As Root does: the path without the query, trailing slashes ignored.
        return self.ingress.sources.get(parts[1].split(b"?", 1)[0].rstrip(b"/"))

    def _parse_head(self, raw: bytes, source: Source) -> _Request | None:
        """The request ``raw`` starts, or None for one twisted.web must read."""
        head = _Head()
        parser = httptools.HttpRequestParser(head)
        try:
            parser.feed_data(raw)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None
        version = parser.get_http_version()
        if head.count > MAX_HEADERS or head.repeated or version not in ("1.0", "1.1"):
            return None

        length: int | None
        encoding = head.values.get(b"transfer-encoding")
        if encoding is not None:
            if encoding.lower() != b"chunked" or version != "1.1":
                return None
            length = None
        else:
            declared = head.values.get(b"content-length", b"0")
            if not declared.isdigit():
                return None
            length = int(declared)

        request = _Request(
            source, head, b"HTTP/" + version.encode(), length, self.site.max_body_bytes
        )
        expect = head.values.get(b"expect")
        if expect is not None and expect.lower() == b"100-continue":
            if version == "1.1":
                self._write(_CONTINUE)
        return request

    def _read_body(self, request: _Request) -> bool:
        """Read what is there of the body; True once it is complete and the
        request has gone to the broker."""
        if request.chunks is None:
            buffer = self.buffer
            if len(buffer) > request.remaining:
                piece, self.buffer = (
                    buffer[: request.remaining],
                    buffer[request.remaining :],
                )
            else:
                piece, self.buffer = buffer, b""
            if piece:
                request.take(piece)
                request.remaining -= len(piece)
            if request.remaining:
                return False
        else:
            try:
                complete, self.buffer = request.chunks.read(self.buffer, request)
            except MalformedBody as exc:
                log.info("Malformed chunked body: {reason}", reason=str(exc))
                request.drop()
                self._done(request)
                self.reading = None
                self._write(_BAD_REQUEST)
                self._close()
                return False
            if not complete:
                return False
        self.reading = None
        self._handle(request)
        return True

    # Answering ---------------------------------------------------------------

    def _handle(self, request: _Request) -> None:
        self.handling = request
        answered = receive_soap(
            self.site.root.broker_ref(),
            request.source,
            request.content(),
            content_type=request.content_type,
            soap_action=request.soap_action,
            max_body_bytes=request.limit,
        )
        request.drop()
        answered.addCallback(self._answer, request)
        answered.addErrback(self._crash, request)

    def _answer(self, answer: Answer, request: _Request) -> None:
        self._done(request)
        if self.lost:
            return
        head = b"%s %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nDate: %s\r\n" % (
            request.version,
            answer.status,
            RESPONSES.get(answer.status, b"Unknown Status"),
            answer.content_type.encode("latin-1"),
            len(answer.body),
            _date(),
        )
        if not request.keep_alive and request.version == b"HTTP/1.1":
            head += b"Connection: close\r\n"
        if len(answer.body) <= _SEND_NOW_LIMIT:
            self._write(head + b"\r\n" + answer.body)
        else:
            # A large answer (a document) is not copied to be sent at once.
            assert self.transport is not None
            self.transport.writeSequence([head, b"\r\n", answer.body])

        self.handling = None
        if not request.keep_alive:
            self._close()
            return
        self._touch()
        self._update_reading()
        self._advance()

    def _crash(self, failure: Failure, request: _Request) -> None:
        # receive_soap always answers; reaching this is a bug in writing.
        log.failure("Could not write the answer", failure)
        if self.lost:
            return
        if request.counted:
            self._answer(Answer(500, b"", "text/plain; charset=utf-8"), request)
        else:
            # Failed halfway through an answer: nothing more on this
            # connection can be trusted.
            self._close()

    def _done(self, request: _Request) -> None:
        """The request no longer keeps a graceful stop waiting."""
        if request.counted:
            request.counted = False
            self.site.requests_open -= 1

    def _write(self, data: bytes) -> None:
        assert self.transport is not None
        send_now(self.transport, data)

    def _close(self) -> None:
        self.closing = True
        self.buffer = b""
        assert self.transport is not None
        self.transport.loseConnection()

    # Handing over ------------------------------------------------------------

    def _hand_over(self) -> None:
        """Give the connection to twisted.web, from the request at the front
        of the buffer on."""
        transport: Any = self.transport
        data, self.buffer = self.buffer, b""
        self._stop_idle()
        if self.paused:
            self.paused = False
            transport.resumeProducing()
        # The channel registers itself as the producer of this transport.
        transport.unregisterProducer()
        site: protocol.Factory[Any] = self.site
        channel = site.buildProtocol(self.addr)
        assert channel is not None
        self.channel = channel
        channel.makeConnection(transport)
        if data:
            channel.dataReceived(data)


_dates: tuple[int, bytes] = (0, b"")


def _date() -> bytes:
    """The Date header's value (RFC 9110 section 6.6.1), made once a second."""
    global _dates
    now = int(time.time())
    if _dates[0] != now:
        _dates = (now, datetimeToString(now))
    return _dates[1]
