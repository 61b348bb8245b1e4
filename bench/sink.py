"""A fast HTTP sink for benchmarks: takes every POST, answers 200, counts.

The broker's HTTP destination delivers here during a benchmark, so that
"accepted AND delivered" can be checked: ``GET /count`` answers with JSON
holding how many POSTs arrived, how many distinct messages they carried (by
the ``X-EMO-Message-Id`` header the HTTP adapter sends; a redelivery counts
once) and how many body bytes. ``GET /reset`` sets the counters to zero.

It speaks just enough HTTP/1.1 by hand (keep-alive, Content-Length and
chunked bodies) to stay far faster than the broker it measures: a full web
framework here would put the sink's cost into the broker's figures. It is
also the trivial server ``emo bench`` is measured against, to show that the
load generator is not the bottleneck.

Run: ``.venv/bin/python bench/sink.py [--port 9000] [--host 127.0.0.1]``.
It prints ``sink listening on http://HOST:PORT/`` once it listens (with
``--port 0`` the port is the one the system chose).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import protocol, reactor

_ANSWER = (
    b"HTTP/1.1 200 OK\r\n"
    b"Content-Type: text/xml; charset=utf-8\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)
_CLOSE = b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


@dataclass
class Counts:
    """What the sink has received since it started or was reset."""

    received: int = 0
    body_bytes: int = 0
    message_ids: set[bytes] = field(default_factory=set)

    def as_json(self) -> bytes:
        return json.dumps(
            {
                "received": self.received,
                "distinct": len(self.message_ids),
                "bytes": self.body_bytes,
            }
        ).encode()


class SinkProtocol(protocol.Protocol):
    """One client connection: requests parsed one after another."""

    def __init__(self, counts: Counts) -> None:
        self.counts = counts
        self.buffer = b""

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            taken = self._one_request()
            if taken == 0:
                return
            self.buffer = self.buffer[taken:]

    def _one_request(self) -> int:
        """Answer the request at the start of the buffer; bytes it took, or
        0 when it has not arrived whole yet."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return 0
        head = buffer[:end].lower()
        start = end + 4

        if b"\r\ntransfer-encoding: chunked" in head:
            taken = _chunked_length(buffer, start)
            if taken is None:
                return 0
            if taken < 0:
                return self._refuse()
            length = taken - start
        else:
            text = _header(head, b"content-length")
            if text is not None and not text.isdigit():
                return self._refuse()
            length = int(text) if text else 0
            if len(buffer) < start + length:
                return 0

        if head.startswith(b"post "):
            counts = self.counts
            counts.received += 1
            counts.body_bytes += length
            message_id = _header(head, b"x-emo-message-id")
            if message_id:
                counts.message_ids.add(message_id)
            self._write(_ANSWER)
        elif head.startswith(b"get /reset"):
            self.counts.received = self.counts.body_bytes = 0
            self.counts.message_ids.clear()
            self._json(self.counts.as_json())
        else:
            self._json(self.counts.as_json())
        return start + length

    def _write(self, data: bytes) -> None:
        transport: Any = self.transport
        # As in esb/bench.py: straight to the socket when nothing is queued,
        # which saves a turn of the reactor per answer.
        if transport.dataBuffer or getattr(transport, "_tempDataBuffer", True):
            transport.write(data)
            return
        try:
            sent = transport.socket.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            transport.write(data)
            return
        if sent < len(data):
            transport.write(data[sent:])

    def _json(self, body: bytes) -> None:
        self._write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    def _refuse(self) -> int:
        self.transport.write(_CLOSE)  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]
        self.buffer = b""
        return 0


def _header(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` in a lower-cased request head."""
    at = head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    end = head.find(b"\r\n", start)
    return head[start : end if end >= 0 else None].strip()


def _chunked_length(buffer: bytes, start: int) -> int | None:
    """Where a chunked body starting at ``start`` ends: None if it has not
    all arrived, -1 if it is not chunked encoding."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        try:
            size = int(buffer[position:line_end].split(b";")[0], 16)
        except ValueError:
            return -1
        position = line_end + 2 + size + 2
        if len(buffer) < position:
            return None
        if size == 0:
            return position


class SinkFactory(protocol.Factory):
    noisy = False

    def __init__(self) -> None:
        self.counts = Counts()

    def buildProtocol(self, addr: object) -> SinkProtocol:
        return SinkProtocol(self.counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    port = reactor.listenTCP(
        args.port,
        SinkFactory(),  # type: ignore[arg-type]  # a Factory is a ServerFactory
        backlog=1024,
        interface=args.host,
    )
    address = port.getHost()
    print(f"sink listening on http://{args.host}:{address.port}/", flush=True)  # type: ignore[attr-defined]
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
