"""esb.sockets.send_now: bytes go to the kernel at once when nothing is
queued before them, and after what is queued otherwise (Twisted #5303).

A real TCP connection made by the reactor (running in its own thread) to a
plain socket listening in the test thread.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import defer, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint

from esb.sockets import send_now
from tests.esb.adapters.conftest import ReactorThread, reactor


class _Quiet(protocol.Protocol):
    pass


@pytest.fixture
def connected(
    reactor_thread: ReactorThread,
) -> Iterator[tuple[Any, socket.socket]]:
    """A client transport of the reactor's, and the test's end of it."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def connect() -> defer.Deferred[protocol.Protocol]:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        return endpoint.connect(protocol.Factory.forProtocol(_Quiet))

    client: protocol.Protocol = reactor_thread.call(connect)
    server, _ = listener.accept()
    server.settimeout(10)
    try:
        yield client.transport, server
    finally:
        reactor_thread.call(client.transport.abortConnection)  # type: ignore[union-attr]
        server.close()
        listener.close()


def _receive(server: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        piece = server.recv(count - len(data))
        if not piece:
            break
        data += piece
    return data


def test_bytes_are_on_the_wire_before_the_reactor_turns(
    reactor_thread: ReactorThread, connected: tuple[Any, socket.socket]
) -> None:
    """Within one call in the reactor thread, with no turn of the reactor
    in between, the other end receives what was sent."""
    transport, server = connected

    def send_and_read() -> bytes:
        send_now(transport, b"answer now")
        return _receive(server, len(b"answer now"))

    assert reactor_thread.call(send_and_read) == b"answer now"


def test_bytes_follow_what_the_transport_still_holds(
    reactor_thread: ReactorThread, connected: tuple[Any, socket.socket]
) -> None:
    """With bytes queued in the transport (more than the kernel takes at
    once), what send_now is given arrives after them, none lost."""
    transport, server = connected
    queued = b"q" * (8 << 20)

    def queue_and_send() -> None:
        transport.write(queued)
        send_now(transport, b"after")

    reactor_thread.call(queue_and_send)
    data = _receive(server, len(queued) + len(b"after"))

    assert data == queued + b"after"
