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

from twisted.internet import protocol, reactor
from twisted.internet.interfaces import IReactorTCP

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

    def dataReceived(self, data: bytes) -> None:  # noqa: N802 (Twisted's name)
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
        head = buffer[:end].split(b"\r\n")
        try:
            method, target, _version = head[0].split(b" ", 2)
        except ValueError:
            return self._refuse()
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        start = end + 4

        if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
            taken = _chunked_length(buffer, start)
            if taken is None:
                return 0
            length = taken - start
        else:
            try:
                length = int(headers.get(b"content-length", b"0"))
            except ValueError:
                return self._refuse()
            if len(buffer) < start + length:
                return 0

        if method == b"POST":
            counts = self.counts
            counts.received += 1
            counts.body_bytes += length
            message_id = headers.get(b"x-emo-message-id")
            if message_id:
                counts.message_ids.add(message_id)
            self.transport.write(_ANSWER)  # type: ignore[union-attr]
        elif target.startswith(b"/reset"):
            self.counts.received = self.counts.body_bytes = 0
            self.counts.message_ids.clear()
            self._json(self.counts.as_json())
        else:
            self._json(self.counts.as_json())
        return start + length

    def _json(self, body: bytes) -> None:
        self.transport.write(  # type: ignore[union-attr]
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )

    def _refuse(self) -> int:
        self.transport.write(_CLOSE)  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]
        self.buffer = b""
        return 0


def _chunked_length(buffer: bytes, start: int) -> int | None:
    """Where a chunked body starting at ``start`` ends, or None if incomplete."""
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(buffer[position:line_end].split(b";")[0], 16)
        position = line_end + 2 + size + 2
        if len(buffer) < position:
            return None
        if size == 0:
            return position


class SinkFactory(protocol.Factory):
    noisy = False

    def __init__(self) -> None:
        self.counts = Counts()

    def buildProtocol(self, addr: object) -> SinkProtocol:  # noqa: N802
        return SinkProtocol(self.counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    args = parser.parse_args(argv)
    tcp: IReactorTCP = reactor  # type: ignore[assignment]
    port = tcp.listenTCP(args.port, SinkFactory(), backlog=1024, interface=args.host)
    print(f"sink listening on http://{args.host}:{port.getHost().port}/", flush=True)  # type: ignore[attr-defined]
    reactor.run()  # type: ignore[attr-defined]
    return 0


if __name__ == "__main__":
    sys.exit(main())
