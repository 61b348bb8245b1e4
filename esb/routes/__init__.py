"""The broker's routes: what a route says, loading it, choosing one per message.

An admin writes ``config/routes.yaml``; :func:`load_routes` turns it into an
immutable :class:`RouteTable` (XPath and XSLT compiled, placeholders filled)
or raises :class:`RoutesError` listing every problem with its line;
:func:`check_routes` only lists them, for ``emo routes check``. Per message,
the broker asks the table for the route (:meth:`RouteTable.match`) and the
validation mode (:meth:`RouteTable.validation_mode`), runs the route's steps
(:meth:`Route.run_steps`) and delivers to its destinations.

The modules: :mod:`~esb.routes.model` (the table and what is in it),
:mod:`~esb.routes.steps`, :mod:`~esb.routes.loader` (the file format, read
with :mod:`~esb.routes.route_reader` and :mod:`~esb.routes.nodes`),
:mod:`~esb.routes.placeholders` (``${NAME}``), :mod:`~esb.routes.errors`,
:mod:`~esb.routes.check` (the command).
"""

from __future__ import annotations

from esb.routes.check import run_check
from esb.routes.errors import RouteProblem, RoutesError
from esb.routes.loader import ADAPTER_TYPES, SettingsCheck, check_routes, load_routes
from esb.routes.model import (
    SOURCE_KINDS,
    DeliveryMode,
    Destination,
    Match,
    PartyMatch,
    RetryPolicy,
    Route,
    RouteTable,
    SenderOverride,
    SourceDefinition,
    ValidationPolicy,
    normalize_source,
)
from esb.routes.route_reader import DEFAULT_NAMESPACES
from esb.routes.steps import (
    SetStuurgegevens,
    Step,
    Tap,
    Transform,
    Validate,
    Wiretap,
    copy_message,
)

__all__ = [
    "ADAPTER_TYPES",
    "DEFAULT_NAMESPACES",
    "SOURCE_KINDS",
    "DeliveryMode",
    "Destination",
    "Match",
    "PartyMatch",
    "RetryPolicy",
    "Route",
    "RouteProblem",
    "RouteTable",
    "RoutesError",
    "SenderOverride",
    "SetStuurgegevens",
    "SettingsCheck",
    "SourceDefinition",
    "Step",
    "Tap",
    "Transform",
    "Validate",
    "ValidationPolicy",
    "Wiretap",
    "check_routes",
    "copy_message",
    "load_routes",
    "normalize_source",
    "run_check",
]
