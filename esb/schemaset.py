"""The compiled StUF schemas and the validation of message bodies against them.

At start-up the broker loads one or more official schema distributions
(folders or zip files, such as ``zds-1.2`` and ``zds-1.1.02``) into a
:class:`SchemaRegistry`. Each distribution is compiled once into a few schema
sets, one per sector (``zds-1.2/zds0120``, ``zds-1.2/zkn0310``,
``zds-1.1.02/bg0310``, ``zds-1.2/stuf0301`` for StUF's own Bv/Fo messages);
:mod:`esb.schemadist` explains why and how. Per message, the body element's
Clark name picks the set, and :meth:`SchemaRegistry.validate` returns every
broken rule as a :class:`~esb.errors.Violation`.

When several distributions declare the same element (``ZKN:zakLk01`` is in
both ZDS distributions, and differs: StUF-ZKN patch 24 limits
``heeftAlsInitiator`` to one), the distribution listed first validates it.
A message schema whose every element an earlier distribution declares is
not compiled at all.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, cast

from lxml import etree
from twisted.logger import Logger

from esb.errors import SchemaLoadError, Violation
from esb.schemadist import (
    Distribution,
    SetPlan,
    compile_set,
    plan_sets,
    read_distribution,
)

log = Logger()


@dataclass(frozen=True)
class SchemaSetInfo:
    """What /healthz and the logs say about one compiled schema set.

    ``elements`` counts the body elements this set validates in the registry
    (those declared by an earlier distribution are not counted); ``seconds``
    is the time its compilation took.
    """

    name: str
    source: str
    elements: int
    seconds: float


@dataclass
class _CompiledSet:
    info: SchemaSetInfo
    schema: etree.XMLSchema
    # lxml keeps one error log per XMLSchema and clears it at the start of
    # every validation (lxml 6.2, xmlschema.pxi, XMLSchema.__call__), so two
    # threads validating against one instance would lose or mix each other's
    # errors. The lock serialises validations per set.
    lock: threading.Lock = field(default_factory=threading.Lock)


class _LogEntry(Protocol):
    """The part of lxml's ``_LogEntry`` that validation reads (untyped in stubs)."""

    line: int
    path: str | None
    message: str
    level_name: str


class SchemaRegistry:
    """Compiled schema sets, and which body element each of them validates.

    :meth:`validate` may be called from several threads at once (the reactor
    thread and a thread pool): validations against one set are serialised by
    a lock, because lxml's XMLSchema keeps a single error log per instance;
    libxml2 itself validates without the GIL on a fresh validation context,
    so validations against different sets run in parallel. The caller must
    not modify the validated document while :meth:`validate` runs (lxml
    briefly hangs the element's children under a stand-in root).
    """

    def __init__(
        self, sets: Sequence[_CompiledSet], by_element: dict[str, _CompiledSet]
    ) -> None:
        # Built by load() and empty(); not meant to be called directly.
        self._sets = tuple(sets)
        self._by_element = by_element

    @classmethod
    def empty(cls) -> SchemaRegistry:
        """A registry that knows no element: validation is off everywhere."""
        return cls((), {})

    @classmethod
    def load(cls, sources: Sequence[str | Path]) -> SchemaRegistry:
        """Read, plan and compile the distributions, the first listed winning.

        Raises :class:`SchemaLoadError` naming the distribution, the file and
        libxml2's complaint when anything cannot be read or compiled.
        """
        started = time.perf_counter()
        distributions = [read_distribution(Path(source)) for source in sources]
        names = [distribution.name for distribution in distributions]
        for name in names:
            if names.count(name) > 1:
                raise SchemaLoadError(
                    f"two schema distributions are named {name}: "
                    + ", ".join(d.source for d in distributions if d.name == name)
                )

        # Decide which set validates which element before compiling, so that
        # message schemas whose every element an earlier distribution
        # declares are never compiled.
        plans: list[tuple[Distribution, SetPlan, list[str]]] = []
        taken: set[str] = set()
        for distribution in distributions:
            for plan in plan_sets(distribution, declared_earlier=frozenset(taken)):
                own = [e for e in dict.fromkeys(plan.elements) if e not in taken]
                taken.update(own)
                plans.append((distribution, plan, own))

        sets: list[_CompiledSet] = []
        chosen: dict[str, _CompiledSet] = {}
        for distribution, plan, own in plans:
            name = f"{distribution.name}/{plan.name}"
            if not own:
                log.info("Schema set {name} skipped: it adds no element", name=name)
                continue
            compile_started = time.perf_counter()
            schema = compile_set(distribution, plan)
            info = SchemaSetInfo(
                name=name,
                source=distribution.source,
                elements=len(own),
                seconds=time.perf_counter() - compile_started,
            )
            compiled = _CompiledSet(info=info, schema=schema)
            sets.append(compiled)
            chosen.update(dict.fromkeys(own, compiled))
            log.info(
                "Compiled schema set {name} from {source}: {elements} elements "
                "in {seconds:.2f} s",
                name=name,
                source=info.source,
                elements=info.elements,
                seconds=info.seconds,
            )

        log.info(
            "Loaded {count} schema sets in {seconds:.2f} s",
            count=len(sets),
            seconds=time.perf_counter() - started,
        )
        return cls(sets, chosen)

    @property
    def sets(self) -> tuple[SchemaSetInfo, ...]:
        return tuple(compiled.info for compiled in self._sets)

    def __bool__(self) -> bool:
        return bool(self._sets)

    def knows(self, element: str) -> bool:
        """Whether a set validates the body element with this Clark name."""
        return element in self._by_element

    def set_for(self, element: str) -> str | None:
        """The name of the set that validates this element, if any."""
        compiled = self._by_element.get(element)
        return compiled.info.name if compiled else None

    def describe(self) -> list[dict[str, object]]:
        """The loaded sets for /healthz."""
        return [
            {"name": info.name, "source": info.source, "elements": info.elements}
            for info in self.sets
        ]

    def validate(self, element: etree._Element) -> list[Violation]:
        """Validate a body element's subtree; every broken rule, or ``[]``.

        The element normally sits in a parsed SOAP envelope: line numbers are
        the request's own. Paths use local names and start at ``element``
        (``/zakLk01/object/heeftAlsInitiator/gerelateerde/...``), with an
        index where siblings share a name. Raises :class:`KeyError` when no
        set knows the element.
        """
        compiled = self._by_element.get(element.tag)
        if compiled is None:
            raise KeyError(f"no loaded schema set declares {element.tag}")

        with compiled.lock:
            valid = compiled.schema.validate(element)
            entries = cast("Iterable[_LogEntry]", compiled.schema.error_log)
        if valid:
            return []

        violations = [
            Violation(
                line=entry.line or None,
                path=_element_path(element, entry.path),
                rule=_clean_rule(entry.message),
            )
            for entry in entries
            if entry.level_name in ("ERROR", "FATAL")
        ]
        return violations or [
            Violation(None, _element_path(element, None), "does not conform")
        ]


# One step of the path libxml2 gives an error node (xmlGetNodePath): "p:name",
# "name" or "*" (an element in a default namespace), with "[n]" when siblings
# share the name; "@p:name" for an attribute.
_STEP = re.compile(r"(?P<name>[^\[\]/@]+)(?:\[(?P<index>\d+)\])?")


def _element_path(root: etree._Element, node_path: str | None) -> str:
    """Translate libxml2's node path into local names, starting at ``root``.

    libxml2's path uses the document's prefixes, and ``*`` for elements in
    a default namespace, so the nodes are looked up in the tree to name them.
    """
    steps = [step for step in (node_path or "").split("/") if step]
    names = [etree.QName(root).localname]
    node = root
    for step in steps[1:]:
        if step.startswith("@"):
            names.append("@" + step[1:].rpartition(":")[2])
            break
        match = _STEP.fullmatch(step)
        if match is None:
            break
        candidates = [
            child
            for child in node.iterchildren("{*}*")
            if _matches(child, match["name"])
        ]
        index = int(match["index"] or 1)
        if index > len(candidates):
            break
        node = candidates[index - 1]
        names.append(_local_step(node))
    return "/" + "/".join(names)


def _matches(element: etree._Element, name: str) -> bool:
    if name == "*":
        return True
    prefix, _, local = name.rpartition(":")
    qname = etree.QName(element)
    if qname.localname != local:
        return False
    return element.prefix == prefix if prefix else qname.namespace is None


def _local_step(element: etree._Element) -> str:
    local = etree.QName(element).localname
    parent = element.getparent()
    if parent is None:
        return local
    namesakes = list(parent.iterchildren(element.tag))
    if len(namesakes) == 1:
        return local
    return f"{local}[{namesakes.index(element) + 1}]"


# libxml2 opens its messages with "Element '{ns}x': " or
# "Element '{ns}x', attribute '{ns}y': " and names elements in Clark notation.
_SUBJECT = re.compile(
    r"Element '(?P<element>[^']*)'(?:, attribute '(?P<attribute>[^']*)')?: "
)
_CLARK = re.compile(r"\{[^{}'\s]*[:/][^{}'\s]*\}(?=[\w.-])")


def _clean_rule(message: str) -> str:
    """libxml2's message without the namespace noise, naming the element.

    ``Element '{http://www.egem.nl/StUF/StUF0301}zender': This element is not
    expected. Expected is ( {http://...}berichtcode ).`` becomes ``zender:
    This element is not expected. Expected is ( berichtcode ).``
    """
    message = message.strip()
    match = _SUBJECT.match(message)
    if match is None:
        return _CLARK.sub("", message)
    subject = _CLARK.sub("", match["element"])
    if match["attribute"]:
        subject += "/@" + _CLARK.sub("", match["attribute"])
    return f"{subject}: {_CLARK.sub('', message[match.end() :])}"
