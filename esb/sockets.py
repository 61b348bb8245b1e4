"""Writing to a TCP connection at once, instead of at the next turn of the
reactor.

Twisted's transports buffer every ``write()`` and send it when the reactor
next finds the socket writable (Twisted issue #5303, open since 2011): a
request answered is two ``epoll_ctl`` calls and one more pass of the reactor
loop, on top of the ``send`` itself. The broker writes one answer per request
and one request per delivery, each small and each the only thing queued on
its connection, so :func:`send_now` hands it to the kernel straight away when
nothing is waiting before it, and leaves whatever the kernel did not take to
the transport as usual. On a TLS connection, or one with bytes still queued,
it is the transport's ``write``.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import tcp


def send_now(transport: Any, data: bytes) -> None:
    """Write ``data`` to ``transport``: sent now if the connection is plain
    TCP with nothing queued, else (and for what the kernel did not take)
    queued by the transport."""
    if (
        type(transport) in _PLAIN_TCP
        and not transport.TLS
        and transport.connected
        and not transport.disconnecting
        and not transport._writeDisconnected
        and not transport._tempDataLen
        and transport.offset == len(transport.dataBuffer)
    ):
        try:
            sent = transport.socket.send(data)
        except OSError:
            # Would block, or the connection failed: the transport's own
            # write finds out which and acts on it.
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


# The transports whose buffering is FileDescriptor's: accepted (Server) and
# made (Client) TCP connections. Anything else (TLS wrappers, test doubles)
# is written to through its own write().
_PLAIN_TCP = (tcp.Server, tcp.Client)
