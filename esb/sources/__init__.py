"""The sources EMO reads itself: dropped files and AMQP queues.

SOAP and plain HTTP messages arrive at EMO's web server (:mod:`esb.web`);
the sources here go and fetch them instead. They are declared under
``sources:`` in the routes file and give every message to
:meth:`esb.broker.Broker.receive` as a bare StUF message, so it takes the
same path as any other: identified, validated, journaled, routed::

    manager.py   starts, re-applies (on reload) and stops the sources
    base.py      the source interface; what the broker's answer means
    files.py     file:NAME, a watched folder (work/, done/, error/)
    folder.py    the blocking file system side of it: claim, finish
    amqp.py      amqp:NAME, a RabbitMQ queue, acknowledged once journaled

The AMQP destination, which publishes to an exchange, is an adapter:
:mod:`esb.adapters.amqp`.
"""

from __future__ import annotations

from esb.sources.base import BrokerRef, InboundSource, Verdict, read_answer
from esb.sources.manager import SourceManager

__all__ = ["BrokerRef", "InboundSource", "SourceManager", "Verdict", "read_answer"]
