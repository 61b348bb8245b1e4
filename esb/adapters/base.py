"""The adapter interface: how a destination receives a message.

An adapter is built once per destination from its settings in the routes
file, and then delivers many messages::

    adapter = factory(destination)           # at start-up or reload
    answer = yield adapter.deliver(outbound) # per message and attempt

``deliver`` returns a Deferred that fires with a :class:`Delivered` (the
destination took the message; for request-reply it carries the answer for
the sender) or fails with a :class:`DeliveryError` whose ``retryable`` says
whether trying again can help: timeouts, refused connections, HTTP 5xx and
StUF faults with plek server are worth a retry; HTTP 4xx and StUF faults with
plek client are not, since the same message will fail the same way.

A factory whose work blocks (the ``soap`` adapter fetches its WSDL) is a
:class:`TwoStepFactory`: a reload runs its ``prepare`` in a thread, so the
broker keeps answering messages meanwhile, then calls what ``prepare``
returned in the reactor thread to make what the reactor owns (connection
pools, timers). Any other factory is called in the reactor thread.

Third-party adapters register a factory (a TwoStepFactory too) under the
``emo.adapters`` entry point group; the entry point's name is the
destination ``type``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, Protocol

from twisted.internet import defer

from esb.errors import ConfigError, EmoError
from esb.message import Identification


@dataclass(frozen=True, slots=True)
class Outbound:
    """One message as a destination gets it."""

    message_id: str
    payload: bytes
    soap_action: str | None
    identification: Identification | None
    attempt: int = 1
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivered:
    """The destination took the message; ``answer`` is its reply, if any."""

    answer: bytes | None = None
    content_type: str | None = None
    status: int | None = None
    note: str = ""


class DeliveryError(EmoError):
    """A delivery attempt failed; ``retryable`` says whether to try again.

    ``answer`` keeps what the destination said (a SOAP fault, an error page),
    so a request-reply sender can be shown the destination's own fault.
    """

    def __init__(
        self,
        reason: str,
        *,
        retryable: bool,
        answer: bytes | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.answer = answer
        self.status = status


class Adapter(Protocol):
    """A destination that messages can be delivered to.

    The delivery engine gives up on an attempt after the destination's
    time-out; an adapter that does so itself (its factory is given the
    time-out) says ``keeps_timeout = True``, and the engine sets no timer of
    its own.
    """

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]: ...

    def close(self) -> defer.Deferred[None] | None: ...


AdapterFactory = Callable[[str, Mapping[str, Any], float], Adapter]
"""Builds an adapter from (destination name, settings, timeout in seconds)."""

AdapterPreparer = Callable[[str, Mapping[str, Any], float], Callable[[], Adapter]]
"""The first step of a :class:`TwoStepFactory`: same arguments, returns the
second step."""


@dataclass(frozen=True, slots=True)
class TwoStepFactory:
    """An adapter factory split where the reactor thread must take over.

    ``prepare`` does what may block and touches nothing the reactor owns
    (checking the settings, reading files, fetching a WSDL); it may run in
    any thread, and raises ConfigError as the factory would. What it
    returns makes the adapter and must be called in the reactor thread.
    Calling the factory does both at once.
    """

    prepare: AdapterPreparer

    def __call__(
        self, name: str, settings: Mapping[str, Any], timeout: float
    ) -> Adapter:
        return self.prepare(name, settings, timeout)()


# The adapters EMO ships: destination type -> "module:factory". Each module is
# imported only when a routes file uses its type.
BUILTIN: dict[str, str] = {
    "http": "esb.adapters.http:HttpAdapter.from_settings",
    "file": "esb.adapters.file:FileAdapter.from_settings",
    "soap": "esb.adapters.soap:factory",
    "stuf": "esb.adapters.stuf:StufAdapter.from_settings",
    "amqp": "esb.adapters.amqp:AmqpAdapter.from_settings",
    "zaakregister": "esb.adapters.zaakregister:ZaakregisterAdapter.from_settings",
    "klantregister": "esb.adapters.klantregister:KlantregisterAdapter.from_settings",
}


def _load(reference: str) -> AdapterFactory:
    module_name, _, attribute = reference.partition(":")
    target: Any = import_module(module_name)
    for part in attribute.split("."):
        target = getattr(target, part)
    factory: AdapterFactory = target
    return factory


def builtin_factories() -> dict[str, AdapterFactory]:
    """The shipped adapters whose modules are present in this installation."""
    factories: dict[str, AdapterFactory] = {}
    for kind, reference in BUILTIN.items():
        try:
            factories[kind] = _load(reference)
        except ModuleNotFoundError as exc:
            if exc.name != reference.partition(":")[0]:
                raise
    return factories


def adapter_factories(
    extra: Mapping[str, AdapterFactory] | None = None,
) -> dict[str, AdapterFactory]:
    """Built-in adapters, those of installed packages, then ``extra``."""
    factories = builtin_factories()
    for entry in entry_points(group="emo.adapters"):
        try:
            factories[entry.name] = entry.load()
        except Exception as exc:
            raise ConfigError(
                f"adapter '{entry.name}' ({entry.value}) cannot be loaded: {exc}"
            ) from exc
    factories.update(extra or {})
    return factories


def setting(settings: Mapping[str, Any], name: str, destination: str) -> Any:
    """A required adapter setting, or a ConfigError naming what is missing."""
    if name not in settings or settings[name] in (None, ""):
        raise ConfigError(f"destination '{destination}' needs a '{name}' setting")
    return settings[name]
