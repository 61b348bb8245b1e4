"""Prometheus metrics of one broker process, served at ``GET /metrics``.

Labels stay few and bounded: the operation label only takes operations EMO
knows (anything else counts as ``unknown``), so a hostile sender cannot blow
up the number of series.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest

from esb.identify import ZDS_OPERATIONS

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES = Counter(
    "emo_messages_total",
    "Messages handled, by source, operation and outcome",
    ["source", "operation", "outcome"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "emo_message_seconds",
    "Time from a request's arrival to its answer",
    ["source"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
    registry=REGISTRY,
)
VIOLATIONS = Counter(
    "emo_schema_violations_total",
    "Messages with schema violations, by validation mode",
    ["mode"],
    registry=REGISTRY,
)
SCHEMA_SETS = Gauge("emo_schema_sets", "Compiled schema sets loaded", registry=REGISTRY)

_KNOWN = {op.name for op in ZDS_OPERATIONS.values()}

# The labelled children, looked up once: ``labels()`` takes a lock and
# builds a key on every call, a third of what counting a message costs.
# The label values are bounded (see operation_label), so are these.
_counted: dict[tuple[str, str, str], Any] = {}
_timed: dict[str, Any] = {}


def count_message(source: str, operation: str, outcome: str) -> None:
    """One message more under these labels."""
    key = (source, operation, outcome)
    child = _counted.get(key)
    if child is None:
        child = _counted[key] = MESSAGES.labels(source, operation, outcome)
    child.inc()


def observe_latency(source: str, seconds: float) -> None:
    child = _timed.get(source)
    if child is None:
        child = _timed[source] = LATENCY.labels(source)
    child.observe(seconds)


def operation_label(operation: str | None) -> str:
    """The operation as a metric label: known names, generic messages, or unknown."""
    if operation is None:
        return "none"
    if operation in _KNOWN or (len(operation) == 7 and operation[:3].isalpha()):
        return operation
    return "unknown"


def exposition() -> bytes:
    return generate_latest(REGISTRY)
