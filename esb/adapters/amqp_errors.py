"""Why there is no connection to RabbitMQ, said so an operator can act on it.

pika announces the ``authentication_failure_close`` capability, so
RabbitMQ (3.2 and later) answers a login it refuses with ``connection.close``
403 ACCESS_REFUSED, and a vhost that does not exist or that the user may not
use with 530 NOT_ALLOWED, before it closes the socket. pika 1.4's Twisted
adapter loses that reason: the clean ``ConnectionDone`` of the socket
closing right after replaces it (``_TwistedConnectionAdapter.connection_lost``),
so a wrong password read "Connection was closed cleanly" (and pika's own
guess, ProbableAuthenticationError, never comes either). The same happens
to an open connection that RabbitMQ closes (320 CONNECTION_FORCED when it
shuts down). :class:`esb.adapters.amqp.AmqpConnection`'s protocol keeps the
close and reports it as :class:`ClosedByRabbitMQ`::

    pika.exceptions.ConnectionClosedByBroker
        ClosedByRabbitMQ    RabbitMQ's connection.close, with the broker's
                            address, the user and the vhost (never the
                            password); ``opening`` says whether the
                            connection was still being opened

:func:`describe` gives the text for the log and for a delivery that failed
meanwhile, for these and for any other reason a connection is lost or not
made (nothing listening, a TLS handshake that failed).
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from pika import exceptions as pika_errors
from twisted.internet import error as twisted_errors

# AMQP 0-9-1 reply codes (the spec's "constants") RabbitMQ closes a
# connection being opened with.
ACCESS_REFUSED = 403
NOT_ALLOWED = 530


# pika's exceptions are untyped for mypy (Any): hence the ignore.
class ClosedByRabbitMQ(pika_errors.ConnectionClosedByBroker):  # type: ignore[misc]
    """RabbitMQ closed the connection with ``connection.close``.

    Its text names the broker and, for a refused login or vhost, the user
    and the vhost, and says what to check.
    """

    def __init__(
        self,
        reply_code: int,
        reply_text: str,
        *,
        address: str,
        user: str,
        vhost: str,
        opening: bool,
    ) -> None:
        super().__init__(reply_code, reply_text)
        self.address = address
        self.user = user
        self.vhost = vhost
        self.opening = opening

    @classmethod
    def from_close(
        cls, reply_code: int, reply_text: str, parameters: Any, *, opening: bool
    ) -> ClosedByRabbitMQ:
        """From the close's code and text and the connection's pika
        parameters (host, port, credentials, vhost)."""
        return cls(
            reply_code,
            reply_text,
            address=address(parameters),
            user=str(getattr(parameters.credentials, "username", "")),
            vhost=str(parameters.virtual_host),
            opening=opening,
        )

    def __str__(self) -> str:
        said = f"{self.reply_code} {self.reply_text}"
        where = f"RabbitMQ at {self.address}"
        if not self.opening:
            return f"{where} closed the connection ({said})"
        if self.reply_code == ACCESS_REFUSED:
            # RabbitMQ does not say whether the user or the password was
            # wrong, on purpose; its own log does.
            return (
                f"{where} refused the login of user '{self.user}' ({said}): "
                "check user and password"
            )
        if self.reply_code == NOT_ALLOWED:
            return (
                f"{where} does not let user '{self.user}' use vhost "
                f"'{self.vhost}' ({said}): check the vhost in the URL and "
                "the user's permissions"
            )
        return f"{where} refused the connection ({said})"


def address(parameters: Any) -> str:
    """``host:port`` of the connection's pika parameters."""
    host = str(parameters.host)
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"{host}:{parameters.port}"


def describe(reason: object, parameters: Any) -> str:
    """What went wrong with the connection to ``parameters``' broker, from an
    exception or a Failure, in words for the log and a delivery's reason."""
    value = getattr(reason, "value", reason)
    if isinstance(value, SSL.Error):
        # pyOpenSSL's text is a list of (library, function, reason) tuples.
        reasons = [str(entry[-1]) for entry in (value.args[0] if value.args else ())]
        return "TLS handshake failed: " + ("; ".join(reasons) or repr(value))
    if isinstance(value, twisted_errors.ConnectionRefusedError):
        return (
            f"the connection to {address(parameters)} was refused: nothing "
            "listens there (RabbitMQ stopped, or a wrong host or port)"
        )
    if isinstance(value, ClosedByRabbitMQ):
        return str(value)
    text = str(value) or type(value).__name__
    return f"{type(value).__name__}: {text}" if text != type(value).__name__ else text
