"""Reading one route of a routes file: sources, match, steps and destinations.

:class:`RouteReader` turns the ``routes:`` items into :class:`Route` objects,
compiling each XPath (with the route's namespace prefixes) and each XSLT
stylesheet (relative to the routes file, once per file however many routes
use it). Destination names are only noted here; the loader checks them once
every destination is known.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from lxml import etree

from esb.message import NS_BG, NS_STUF, NS_XSI, NS_ZDS, NS_ZKN
from esb.routes.model import (
    DeliveryMode,
    Match,
    PartyMatch,
    Route,
    Values,
    normalize_source,
)
from esb.routes.nodes import NULL, Entries, Node, NodeReader, line_of
from esb.routes.steps import (
    PARTY_FIELDS,
    SetStuurgegevens,
    Step,
    Transform,
    Validate,
    Wiretap,
    compile_stylesheet,
)

# Prefixes every route's XPath may use without declaring them.
DEFAULT_NAMESPACES: Mapping[str, str] = MappingProxyType(
    {"StUF": NS_STUF, "ZKN": NS_ZKN, "BG": NS_BG, "ZDS": NS_ZDS, "xsi": NS_XSI}
)

# StUF 03.01 (stuf0301.xsd): the enumerations of Berichtcode and Mutatiesoort.
BERICHTCODES = frozenset(
    ["Bv01", "Bv02", "Bv03", "Bv04", "Di01", "Di02", "Du01", "Du02"]
    + ["Fo01", "Fo02", "Fo03", "Tr01"]
    + [f"La{n:02}" for n in range(1, 15)]
    + [f"Lk{n:02}" for n in range(1, 7)]
    + [f"Lv{n:02}" for n in range(1, 15)]
    + [f"S{kind}{n:02}" for kind in "ah" for n in range(1, 5)]
)
MUTATIESOORTEN = ("T", "W", "V", "C", "F")
# The forms of a message esb.message.Identification.flavour names.
FLAVOURS = ("zds-1.2", "zds-1.1", "stuf-zkn", "stuf-bg")

_ROUTE_KEYS = (
    "id",
    "description",
    "from",
    "namespaces",
    "match",
    "steps",
    "reply",
    "publish",
)
_MATCH_KEYS = (
    "operation",
    "berichtcode",
    "entiteittype",
    "mutatiesoort",
    "flavour",
    "soap_action",
    "zender",
    "ontvanger",
    "xpath",
)
_STEP_KINDS = ("validate", "transform", "set", "wiretap")
_TRANSFORM_KEYS = ("stylesheet", "parameters")
_SET_KEYS = tuple(
    f"{party}.{name}" for party in ("zender", "ontvanger") for name in PARTY_FIELDS
)

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


class RouteReader(NodeReader):
    """Reads routes; what they refer to is checked by the loader afterwards."""

    def __init__(self, path: Path, environ: Mapping[str, str] | None) -> None:
        super().__init__(path, environ)
        self.stylesheets: dict[Path, etree.XSLT | None] = {}
        # (name, node, who refers to it): checked once all are declared
        self.references: list[tuple[str, Node, str]] = []
        # (source name, node, which route): file: and amqp: sources taken
        # from, checked against the sources section once it is read
        self.source_references: list[tuple[str, Node, str]] = []

    def read_route(self, node: Node) -> Route | None:
        entries = self.mapping(node, "a route", _ROUTE_KEYS, required=("id", "from"))
        if entries is None:
            return None
        route_id = None
        if "id" in entries:
            route_id = self.text(entries["id"][1], "the route id")
            if route_id is not None and not NAME.match(route_id):
                self.problem(entries["id"][1], bad_name("route id", route_id))
                route_id = None
        what = (
            f"route '{route_id}'" if route_id else f"the route at line {line_of(node)}"
        )

        sources = None
        if "from" in entries:
            sources = self._sources(entries["from"][1], what)
        description = None
        if "description" in entries:
            description = self.text(entries["description"][1], "description")
        namespaces = dict(DEFAULT_NAMESPACES)
        if "namespaces" in entries:
            namespaces.update(self._namespaces(entries["namespaces"][1], what))
        match: Match | None = Match()
        if "match" in entries:
            match = self._match(entries["match"][1], what, namespaces)
        steps: tuple[Step, ...] | None = ()
        if "steps" in entries:
            steps = self._steps(entries["steps"][1], what)
        delivery = self._delivery(node, entries, what)

        if None in (route_id, sources, match, steps, delivery):
            return None
        assert route_id and sources and match is not None and steps is not None
        assert delivery is not None
        mode, destinations = delivery
        return Route(
            route_id,
            sources,
            mode,
            destinations,
            steps,
            line_of(node),
            match,
            description,
        )

    def _sources(self, node: Node, what: str) -> tuple[str, ...] | None:
        texts = self.texts_at(node, "from")
        if texts is None:
            return None
        sources: list[str] = []
        for text, text_node in texts:
            try:
                source = normalize_source(text)
            except ValueError as exc:
                self.problem(text_node, str(exc))
                return None
            if source.startswith(("file:", "amqp:", "zaakregister-events:")):
                self.source_references.append((source, text_node, what))
            if source not in sources:
                sources.append(source)
        return tuple(sources)

    def _namespaces(self, node: Node, what: str) -> dict[str, str]:
        namespaces: dict[str, str] = {}
        for prefix, (key, value) in (
            self.mapping(node, f"the namespaces of {what}", None) or {}
        ).items():
            uri = self.text(value, f"the namespace of prefix '{prefix}'")
            if not _NCNAME.match(prefix):
                self.problem(
                    key, f"'{prefix}' is not a namespace prefix (an XML NCName)"
                )
            elif uri is not None:
                namespaces[prefix] = uri
        return namespaces

    def _match(
        self, node: Node, what: str, namespaces: Mapping[str, str]
    ) -> Match | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == NULL:
            return Match()  # "match:" with nothing: every message
        entries = self.mapping(node, f"the match of {what}", _MATCH_KEYS)
        if entries is None:
            return None
        ok = True
        values: dict[str, Any] = {}
        for name, (_, value) in entries.items():
            if name in ("zender", "ontvanger"):
                party = self._party_match(value, f"{name} in {what}")
                if party is None:
                    ok = False
                elif party != PartyMatch():
                    values[name] = party
                continue
            texts = self.texts_at(value, name)
            if texts is None:
                ok = False
            elif name == "xpath":
                compiled = [self._xpath(text, at, namespaces) for text, at in texts]
                ok = ok and None not in compiled
                values["xpath"] = tuple(compiled)
                values["xpath_text"] = tuple(text for text, _ in texts)
            else:
                ok = self._known(name, texts) and ok
                if name == "soap_action":
                    # Compared without the quotes SOAP 1.1 puts around it.
                    texts = [(text.strip().strip('"'), at) for text, at in texts]
                values[name] = frozenset(text for text, _ in texts)
        return Match(**values) if ok else None

    def _known(self, name: str, texts: list[tuple[str, Node]]) -> bool:
        """Whether every value of a criterion with a fixed set of values is known."""
        allowed: Iterable[str]
        if name == "berichtcode":
            allowed, expected = (
                BERICHTCODES,
                "a StUF berichtcode such as Lk01, Lv01, Di02",
            )
        elif name == "mutatiesoort":
            allowed, expected = MUTATIESOORTEN, "one of: " + ", ".join(MUTATIESOORTEN)
        elif name == "flavour":
            allowed, expected = FLAVOURS, "one of: " + ", ".join(FLAVOURS)
        else:
            return True
        unknown = [(text, at) for text, at in texts if text not in allowed]
        for text, at in unknown:
            self.problem(at, f"unknown {name} '{text}'; expected {expected}")
        return not unknown

    def _party_match(self, node: Node, what: str) -> PartyMatch | None:
        entries = self.mapping(node, what, PARTY_FIELDS)
        if entries is None:
            return None
        values: dict[str, Values] = {}
        for name, (_, value) in entries.items():
            texts = self.texts(value, name)
            if texts is None:
                return None
            values[name] = frozenset(texts)
        return PartyMatch(**values)

    def _xpath(
        self, text: str, node: Node, namespaces: Mapping[str, str]
    ) -> etree.XPath | None:
        try:
            expression = etree.XPath(text, namespaces=dict(namespaces))
            # libxml2 reports unknown prefixes, functions and variables only
            # when evaluating, so evaluate once on an empty element.
            expression(etree.Element("probe"))
        except etree.XPathError as exc:
            self.problem(node, f"invalid XPath '{text}': {exc}")
            return None
        return expression

    def _steps(self, node: Node, what: str) -> tuple[Step, ...] | None:
        steps: list[Step] = []
        ok = True
        for index, item in enumerate(self.sequence(node, f"the steps of {what}")):
            entries = self.mapping(item, f"a step of {what}", _STEP_KINDS)
            if entries is None:
                ok = False
                continue
            if len(entries) != 1:
                if not entries and isinstance(item, yaml.MappingNode) and item.value:
                    ok = False  # its unknown key is reported already
                    continue
                self.problem(
                    item,
                    "a step is one of validate, transform, set, wiretap; found "
                    + (", ".join(entries) or "none")
                    + " (start each step with its own '-')",
                )
                ok = False
                continue
            ((kind, (key, value)),) = entries.items()
            step = self._step(kind, value, line_of(key), what)
            if step is None:
                ok = False
                continue
            if isinstance(step, Validate) and index > 0:
                self.problem(
                    key,
                    "validate must be the first step: the message is validated as "
                    "received, before any other step changes it",
                )
                ok = False
            steps.append(step)
        return tuple(steps) if ok else None

    def _step(self, kind: str, node: Node, line: int, what: str) -> Step | None:
        if kind == "validate":
            if isinstance(node, yaml.MappingNode):
                entries = self.mapping(node, "validate", ("mode",), required=("mode",))
                if not entries or "mode" not in entries:
                    return None
                node = entries["mode"][1]
            mode = self.mode(node)
            return Validate(mode, line) if mode else None
        if kind == "transform":
            return self._transform(node, line)
        if kind == "set":
            return self._set(node, line)
        destination = self.text(node, "the destination of wiretap")
        if destination is None:
            return None
        self.references.append((destination, node, f"the wiretap of {what}"))
        return Wiretap(destination, line)

    def _transform(self, node: Node, line: int) -> Transform | None:
        parameters: dict[str, str] = {}
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(
                node, "transform", _TRANSFORM_KEYS, required=("stylesheet",)
            )
            if not entries or "stylesheet" not in entries:
                return None
            if "parameters" in entries:
                given = self.mapping(entries["parameters"][1], "parameters", None) or {}
                for name, (key, value) in given.items():
                    text = self.text(value, f"parameter '{name}'")
                    if not _NCNAME.match(name):
                        self.problem(key, f"'{name}' is not an XSLT parameter name")
                    elif text is not None:
                        parameters[name] = text
            node = entries["stylesheet"][1]
        stylesheet = self.text(node, "the stylesheet of transform")
        if stylesheet is None:
            return None
        xslt = self._stylesheet(stylesheet, node)
        if xslt is None:
            return None
        return Transform(stylesheet, xslt, parameters, line)

    def _stylesheet(self, written: str, node: Node) -> etree.XSLT | None:
        # Relative to the routes file, so a config folder can move as a whole.
        path = (self.path.parent / written).resolve()
        if path in self.stylesheets:
            return self.stylesheets[path]
        xslt: etree.XSLT | None = None
        if not path.is_file():
            self.problem(node, f"stylesheet not found: {path}")
        else:
            try:
                xslt = compile_stylesheet(path)
            except etree.XMLSyntaxError as exc:
                self.problem(node, f"stylesheet {path} is not well-formed XML: {exc}")
            except etree.XSLTParseError as exc:
                errors = "; ".join(
                    f"line {entry.line}: {entry.message}" for entry in exc.error_log
                ) or str(exc)
                self.problem(node, f"stylesheet {path} is not valid XSLT 1.0: {errors}")
            except OSError as exc:
                self.problem(node, f"cannot read stylesheet {path}: {exc}")
        self.stylesheets[path] = xslt
        return xslt

    def _set(self, node: Node, line: int) -> SetStuurgegevens | None:
        entries = self.mapping(node, "set", _SET_KEYS)
        if entries is None:
            return None
        if not entries:
            if node.value:
                return None  # its unknown keys are reported already
            self.problem(
                node, "set changes nothing; expected one of: " + ", ".join(_SET_KEYS)
            )
            return None
        fields: list[tuple[str, str, str | None]] = []
        for name, (_, value) in entries.items():
            party, _, field = name.partition(".")
            if isinstance(value, yaml.ScalarNode) and value.tag == NULL:
                if field == "applicatie":
                    self.problem(
                        value,
                        f"{name} cannot be removed: StUF 03.01 requires an "
                        "applicatie in zender and ontvanger",
                    )
                    return None
                fields.append((party, field, None))
                continue
            text = self.text(value, name)
            if text is None:
                return None
            fields.append((party, field, text))
        return SetStuurgegevens(tuple(fields), line)

    def _delivery(
        self, node: Node, entries: Entries, what: str
    ) -> tuple[DeliveryMode, tuple[str, ...]] | None:
        if "reply" in entries and "publish" in entries:
            self.problem(
                entries["publish"][0],
                f"{what} has both reply and publish; a route either answers "
                "from one destination (reply) or fans out (publish)",
            )
            return None
        if "reply" in entries:
            value = entries["reply"][1]
            if isinstance(value, yaml.SequenceNode):
                self.problem(
                    value,
                    "reply takes exactly one destination, whose answer goes back "
                    "to the sender; to send to several, use publish",
                )
                return None
            name = self.text(value, "the destination of reply")
            if name is None:
                return None
            self.references.append((name, value, f"the reply of {what}"))
            return "reply", (name,)
        if "publish" in entries:
            texts = self.texts_at(entries["publish"][1], "publish")
            if texts is None:
                return None
            names: list[str] = []
            for name, name_node in texts:
                if name in names:
                    self.problem(name_node, f"destination '{name}' is listed twice")
                    return None
                names.append(name)
                self.references.append((name, name_node, f"the publish of {what}"))
            return "publish", tuple(names)
        self.problem(
            node,
            f"{what} has no destination; expected 'reply: <destination>' or "
            "'publish: [<destination>, ...]'",
        )
        return None


def bad_name(what: str, name: str) -> str:
    return (
        f"'{name}' is not a valid {what}; use letters, digits, '_', '.' and '-', "
        "starting with a letter or digit"
    )
