"""Reading a routes file: every mistake found, each with its line, then compiled.

The file is composed with PyYAML into its node tree, which keeps the line and
column of every key and value, and walked section by section. The walk never
stops at a mistake: it records a :class:`RouteProblem` and goes on with what
it can still read, so ``emo routes check`` shows an admin every mistake at
once. Only a file without problems becomes a :class:`RouteTable`; in it every
XPath and XSLT is already compiled.

The format, in short (the README has the long version)::

    version: 1                      # optional
    validation:                     # optional
      default: report               # strict | report | off
      senders:
        - applicatie: GISVG         # organisatie: optional
          mode: strict
    destinations:
      zaakregister:
        type: zaakregister          # the adapter
        timeout: 30                 # seconds
        retry: {attempts: 5, initial: 1, multiplier: 2, cap: 300, jitter: 0.1}
        dead_letter: other-name     # optional
        url: ...                    # anything else: the adapter's settings
    routes:
      - id: zds
        from: soap:/stuf/zds        # or a list
        namespaces: {z: ...}        # optional, for xpath
        match: {berichtcode: Lk01}  # optional; values may be lists
        steps: [{validate: strict}, {transform: a.xsl}, {set: {...}},
                {wiretap: audit}]
        reply: zaakregister         # or publish: [a, b]

Values may hold ``${NAME}`` and ``${NAME:-default}`` placeholders
(:mod:`esb.routes.placeholders`). Anchors, aliases and ``<<`` merge keys work
as in any YAML file.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import yaml
from lxml import etree

from esb.message import (
    NS_BG,
    NS_STUF,
    NS_XSI,
    NS_ZDS,
    NS_ZKN,
    VALIDATION_MODES,
    ValidationMode,
)
from esb.routes.errors import RouteProblem, RoutesError
from esb.routes.model import (
    DeliveryMode,
    Destination,
    Match,
    PartyMatch,
    RetryPolicy,
    Route,
    RouteTable,
    SenderOverride,
    ValidationPolicy,
    Values,
    normalize_source,
)
from esb.routes.placeholders import fill
from esb.routes.steps import (
    PARTY_FIELDS,
    SetStuurgegevens,
    Step,
    Transform,
    Validate,
    Wiretap,
    compile_stylesheet,
)

SettingsCheck = Callable[[Mapping[str, Any]], Iterable[str]]
"""Checks a destination's adapter settings; yields one text per mistake."""

# The adapter types EMO knows. An adapter module may offer a settings check;
# the broker passes the real mapping, the checker falls back to these names.
ADAPTER_TYPES: Mapping[str, SettingsCheck | None] = MappingProxyType(
    {
        name: None
        for name in (
            "http",
            "soap",
            "stuf",
            "file",
            "amqp",
            "zaakregister",
            "klantregister",
        )
    }
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

_TOP_KEYS = ("version", "validation", "destinations", "routes")
_VALIDATION_KEYS = ("default", "senders")
_SENDER_KEYS = ("applicatie", "organisatie", "mode")
_DESTINATION_KEYS = ("type", "timeout", "retry", "dead_letter")
_RETRY_KEYS = ("attempts", "initial", "multiplier", "cap", "jitter")
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

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_NCNAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")
_NULL = "tag:yaml.org,2002:null"

Node = yaml.Node
Entries = dict[str, tuple[yaml.Node, yaml.Node]]


def load_routes(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    adapters: Mapping[str, SettingsCheck | None] | None = None,
) -> RouteTable:
    """The route table of the routes file at ``path``.

    ``environ`` fills the ``${...}`` placeholders (default: ``os.environ``);
    ``adapters`` names the destination types allowed, each with an optional
    settings check (default: :data:`ADAPTER_TYPES`). Raises
    :class:`RoutesError` carrying every problem when the file is wrong.
    """
    table, problems = _Reader(path, environ, adapters).read()
    if table is None:
        raise RoutesError(problems)
    return table


def check_routes(
    path: Path,
    environ: Mapping[str, str] | None = None,
    *,
    adapters: Mapping[str, SettingsCheck | None] | None = None,
) -> list[RouteProblem]:
    """Every problem in the routes file at ``path``, in file order; [] if fine."""
    return _Reader(path, environ, adapters).read()[1]


class _Reader:
    """One reading of one routes file; collects problems as it goes."""

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str] | None,
        adapters: Mapping[str, SettingsCheck | None] | None,
    ) -> None:
        self.path = Path(path)
        self.file = str(path)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.adapters = ADAPTER_TYPES if adapters is None else adapters
        self.problems: list[RouteProblem] = []
        self.yaml = yaml.SafeLoader("")  # resolves and constructs adapter settings
        self.stylesheets: dict[Path, etree.XSLT | None] = {}
        # (name, node, who refers to it): checked once all are declared
        self.references: list[tuple[str, Node, str]] = []
        # Every destination name declared, even one with mistakes of its own:
        # those are reported once, not again at every route using it.
        self.declared: set[str] = set()
        self.written_keys: dict[int, set[int]] = {}

    # -- the file, section by section --------------------------------------

    def read(self) -> tuple[RouteTable | None, list[RouteProblem]]:
        root = self._compose()
        table = None if root is None else self._table(root)
        problems = sorted(self.problems, key=lambda p: (p.line, p.column))
        return (table if not problems else None), problems

    def _compose(self) -> Node | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self._problem_at(0, 0, f"cannot read the routes file: {exc}")
            return None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = " ".join(filter(None, [exc.context, exc.problem]))
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            self._problem_at(line, column, f"not valid YAML: {what}")
            return None
        except yaml.YAMLError as exc:
            self._problem_at(0, 0, f"not valid YAML: {exc}")
            return None
        if root is None:
            self._problem_at(
                0, 0, "the routes file is empty; expected 'destinations' and 'routes'"
            )
        return root

    def _table(self, root: Node) -> RouteTable | None:
        top = self._mapping(
            root, "the routes file", _TOP_KEYS, required=("destinations", "routes")
        )
        if top is None:
            return None
        if "version" in top:
            version = self._text(top["version"][1], "version")
            if version is not None and version != "1":
                self._problem(
                    top["version"][1], f"unknown version '{version}'; expected 1"
                )
        validation = ValidationPolicy()
        if "validation" in top:
            validation = self._validation(top["validation"][1]) or validation
        destinations: dict[str, Destination] = {}
        if "destinations" in top:
            destinations = self._destinations(top["destinations"][1])
        routes: list[Route] = []
        if "routes" in top:
            routes = self._routes(top["routes"][1])

        self._check_references()
        self._check_dead_letters(destinations)
        self._check_reachable(routes)
        return RouteTable(tuple(routes), destinations, validation, self.file)

    def _validation(self, node: Node) -> ValidationPolicy | None:
        entries = self._mapping(node, "validation", _VALIDATION_KEYS)
        if entries is None:
            return None
        default: ValidationMode = "report"
        if "default" in entries:
            default = self._mode(entries["default"][1]) or default
        senders: list[SenderOverride] = []
        seen: dict[tuple[str | None, str], int] = {}
        if "senders" in entries:
            for item in self._sequence(entries["senders"][1], "validation.senders"):
                sender = self._sender(item)
                if sender is None:
                    continue
                key = (sender.organisatie, sender.applicatie)
                if key in seen:
                    self._problem(
                        item,
                        f"validation for sender {_describe_sender(*key)} is given "
                        f"twice; first at line {seen[key]}",
                    )
                    continue
                seen[key] = sender.line
                senders.append(sender)
        return ValidationPolicy(default, tuple(senders))

    def _sender(self, node: Node) -> SenderOverride | None:
        entries = self._mapping(
            node, "a validation sender", _SENDER_KEYS, required=("applicatie", "mode")
        )
        if entries is None or "applicatie" not in entries or "mode" not in entries:
            return None
        applicatie = self._text(entries["applicatie"][1], "applicatie")
        organisatie = None
        if "organisatie" in entries:
            organisatie = self._text(entries["organisatie"][1], "organisatie")
        mode = self._mode(entries["mode"][1])
        if applicatie is None or mode is None:
            return None
        return SenderOverride(applicatie, organisatie, mode, _line(node))

    def _destinations(self, node: Node) -> dict[str, Destination]:
        entries = self._mapping(node, "destinations", None)
        destinations: dict[str, Destination] = {}
        for name, (key, value) in (entries or {}).items():
            if not _NAME.match(name):
                self._problem(key, _bad_name("destination", name))
                continue
            self.declared.add(name)
            destination = self._destination(name, key, value)
            if destination is not None:
                destinations[name] = destination
        return destinations

    def _destination(self, name: str, key: Node, node: Node) -> Destination | None:
        what = f"destination '{name}'"
        entries = self._mapping(
            node, what, _DESTINATION_KEYS, required=("type",), extra=True
        )
        if entries is None or "type" not in entries:
            return None
        kind = self._text(entries["type"][1], f"the type of {what}")
        if kind is not None and kind not in self.adapters:
            self._problem(
                entries["type"][1],
                f"unknown type '{kind}' for {what}; expected one of: "
                + ", ".join(sorted(self.adapters)),
            )
        check = self.adapters.get(kind or "")
        timeout = 30.0
        if "timeout" in entries:
            timeout = self._number(entries["timeout"][1], "timeout", above=0) or timeout
        retry = RetryPolicy()
        if "retry" in entries:
            retry = self._retry(entries["retry"][1], what) or retry
        dead_letter = None
        if "dead_letter" in entries:
            dead_letter = self._text(entries["dead_letter"][1], "dead_letter")
            if dead_letter is not None:
                self.references.append(
                    (
                        dead_letter,
                        entries["dead_letter"][1],
                        f"the dead_letter of {what}",
                    )
                )

        settings: dict[str, Any] = {}
        for setting, (setting_key, value) in entries.items():
            if setting in _DESTINATION_KEYS:
                continue
            near = difflib.get_close_matches(setting, _DESTINATION_KEYS, 1, 0.85)
            if near and check is None:
                # Anything unknown is the adapter's, so only a near miss of a
                # common key can be called a mistake here.
                self._problem(
                    setting_key,
                    f"unknown key '{setting}' in {what}; did you mean '{near[0]}'?",
                )
            settings[setting] = self._plain(value)
        frozen = MappingProxyType(settings)
        if check is not None:
            for complaint in check(frozen):
                self._problem(key, f"{what} (type {kind}): {complaint}")
        if kind is None:
            return None
        return Destination(name, kind, frozen, timeout, retry, dead_letter, _line(key))

    def _retry(self, node: Node, what: str) -> RetryPolicy | None:
        entries = self._mapping(node, f"the retry of {what}", _RETRY_KEYS)
        if entries is None:
            return None
        default = RetryPolicy()
        values: dict[str, Any] = {}
        for name, (_, value) in entries.items():
            number: float | None
            if name == "attempts":
                number = self._number(value, "attempts", integer=True, minimum=1)
            elif name == "multiplier":
                number = self._number(value, "multiplier", minimum=1)
            elif name == "jitter":
                number = self._number(value, "jitter", minimum=0, maximum=1)
            else:
                number = self._number(value, name, minimum=0)
            if number is None:
                return None
            values[name] = number
        initial = values.get("initial", default.initial)
        cap = values.get("cap", max(default.cap, initial))
        if cap < initial:
            self._problem(
                entries.get("cap", (node, node))[1],
                f"retry cap ({cap:g} s) is less than initial ({initial:g} s)",
            )
            return None
        values["cap"] = cap
        return RetryPolicy(**values)

    def _routes(self, node: Node) -> list[Route]:
        routes: list[Route] = []
        items = self._sequence(node, "routes")
        if isinstance(node, yaml.SequenceNode) and not items:
            self._problem(node, "no routes: the broker would take no message")
        first_line: dict[str, int] = {}
        for item in items:
            route = self._route(item)
            if route is None:
                continue
            if route.id in first_line:
                self._problem(
                    item,
                    f"route id '{route.id}' is used twice; first at line "
                    f"{first_line[route.id]}",
                )
                continue
            first_line[route.id] = route.line
            routes.append(route)
        return routes

    def _route(self, node: Node) -> Route | None:
        entries = self._mapping(node, "a route", _ROUTE_KEYS, required=("id", "from"))
        if entries is None:
            return None
        route_id = None
        if "id" in entries:
            route_id = self._text(entries["id"][1], "the route id")
            if route_id is not None and not _NAME.match(route_id):
                self._problem(entries["id"][1], _bad_name("route id", route_id))
                route_id = None
        what = f"route '{route_id}'" if route_id else f"the route at line {_line(node)}"

        sources = self._sources(entries["from"][1]) if "from" in entries else None
        description = None
        if "description" in entries:
            description = self._text(entries["description"][1], "description")
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
            _line(node),
            match,
            description,
        )

    def _sources(self, node: Node) -> tuple[str, ...] | None:
        texts = self._texts_at(node, "from")
        if texts is None:
            return None
        sources: list[str] = []
        for text, text_node in texts:
            try:
                source = normalize_source(text)
            except ValueError as exc:
                self._problem(text_node, str(exc))
                return None
            if source not in sources:
                sources.append(source)
        return tuple(sources)

    def _namespaces(self, node: Node, what: str) -> dict[str, str]:
        namespaces: dict[str, str] = {}
        for prefix, (key, value) in (
            self._mapping(node, f"the namespaces of {what}", None) or {}
        ).items():
            uri = self._text(value, f"the namespace of prefix '{prefix}'")
            if not _NCNAME.match(prefix) or ":" in prefix:
                self._problem(
                    key, f"'{prefix}' is not a namespace prefix (an XML NCName)"
                )
            elif uri is not None:
                namespaces[prefix] = uri
        return namespaces

    def _match(
        self, node: Node, what: str, namespaces: Mapping[str, str]
    ) -> Match | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return Match()  # "match:" with nothing: every message
        entries = self._mapping(node, f"the match of {what}", _MATCH_KEYS)
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
            texts = self._texts_at(value, name)
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
            self._problem(at, f"unknown {name} '{text}'; expected {expected}")
        return not unknown

    def _party_match(self, node: Node, what: str) -> PartyMatch | None:
        entries = self._mapping(node, what, PARTY_FIELDS)
        if entries is None:
            return None
        values: dict[str, Values] = {}
        for name, (_, value) in entries.items():
            texts = self._texts(value, name)
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
            self._problem(node, f"invalid XPath '{text}': {exc}")
            return None
        return expression

    def _steps(self, node: Node, what: str) -> tuple[Step, ...] | None:
        steps: list[Step] = []
        ok = True
        for index, item in enumerate(self._sequence(node, f"the steps of {what}")):
            entries = self._mapping(item, f"a step of {what}", _STEP_KINDS)
            if entries is None:
                ok = False
                continue
            if len(entries) != 1:
                if not entries and isinstance(item, yaml.MappingNode) and item.value:
                    ok = False  # its unknown key is reported already
                    continue
                self._problem(
                    item,
                    "a step is one of validate, transform, set, wiretap; found "
                    + (", ".join(entries) or "none")
                    + " (start each step with its own '-')",
                )
                ok = False
                continue
            ((kind, (key, value)),) = entries.items()
            step = self._step(kind, value, _line(key), what)
            if step is None:
                ok = False
                continue
            if isinstance(step, Validate) and index > 0:
                self._problem(
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
                entries = self._mapping(node, "validate", ("mode",), required=("mode",))
                if not entries or "mode" not in entries:
                    return None
                node = entries["mode"][1]
            mode = self._mode(node)
            return Validate(mode, line) if mode else None
        if kind == "transform":
            return self._transform(node, line)
        if kind == "set":
            return self._set(node, line)
        destination = self._text(node, "the destination of wiretap")
        if destination is None:
            return None
        self.references.append((destination, node, f"the wiretap of {what}"))
        return Wiretap(destination, line)

    def _transform(self, node: Node, line: int) -> Transform | None:
        parameters: dict[str, str] = {}
        if isinstance(node, yaml.MappingNode):
            entries = self._mapping(
                node, "transform", _TRANSFORM_KEYS, required=("stylesheet",)
            )
            if not entries or "stylesheet" not in entries:
                return None
            if "parameters" in entries:
                given = (
                    self._mapping(entries["parameters"][1], "parameters", None) or {}
                )
                for name, (key, value) in given.items():
                    text = self._text(value, f"parameter '{name}'")
                    if not _NCNAME.match(name):
                        self._problem(key, f"'{name}' is not an XSLT parameter name")
                    elif text is not None:
                        parameters[name] = text
            node = entries["stylesheet"][1]
        stylesheet = self._text(node, "the stylesheet of transform")
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
            self._problem(node, f"stylesheet not found: {path}")
        else:
            try:
                xslt = compile_stylesheet(path)
            except etree.XMLSyntaxError as exc:
                self._problem(node, f"stylesheet {path} is not well-formed XML: {exc}")
            except etree.XSLTParseError as exc:
                errors = "; ".join(
                    f"line {entry.line}: {entry.message}" for entry in exc.error_log
                ) or str(exc)
                self._problem(
                    node, f"stylesheet {path} is not valid XSLT 1.0: {errors}"
                )
            except OSError as exc:
                self._problem(node, f"cannot read stylesheet {path}: {exc}")
        self.stylesheets[path] = xslt
        return xslt

    def _set(self, node: Node, line: int) -> SetStuurgegevens | None:
        entries = self._mapping(node, "set", _SET_KEYS)
        if entries is None:
            return None
        if not entries:
            if node.value:
                return None  # its unknown keys are reported already
            self._problem(
                node, "set changes nothing; expected one of: " + ", ".join(_SET_KEYS)
            )
            return None
        fields: list[tuple[str, str, str | None]] = []
        for name, (_, value) in entries.items():
            party, _, field = name.partition(".")
            if isinstance(value, yaml.ScalarNode) and value.tag == _NULL:
                if field == "applicatie":
                    self._problem(
                        value,
                        f"{name} cannot be removed: StUF 03.01 requires an "
                        "applicatie in zender and ontvanger",
                    )
                    return None
                fields.append((party, field, None))
                continue
            text = self._text(value, name)
            if text is None:
                return None
            fields.append((party, field, text))
        return SetStuurgegevens(tuple(fields), line)

    def _delivery(
        self, node: Node, entries: Entries, what: str
    ) -> tuple[DeliveryMode, tuple[str, ...]] | None:
        if "reply" in entries and "publish" in entries:
            self._problem(
                entries["publish"][0],
                f"{what} has both reply and publish; a route either answers "
                "from one destination (reply) or fans out (publish)",
            )
            return None
        if "reply" in entries:
            value = entries["reply"][1]
            if isinstance(value, yaml.SequenceNode):
                self._problem(
                    value,
                    "reply takes exactly one destination, whose answer goes back "
                    "to the sender; to send to several, use publish",
                )
                return None
            name = self._text(value, "the destination of reply")
            if name is None:
                return None
            self.references.append((name, value, f"the reply of {what}"))
            return "reply", (name,)
        if "publish" in entries:
            texts = self._texts_at(entries["publish"][1], "publish")
            if texts is None:
                return None
            names: list[str] = []
            for name, name_node in texts:
                if name in names:
                    self._problem(name_node, f"destination '{name}' is listed twice")
                    return None
                names.append(name)
                self.references.append((name, name_node, f"the publish of {what}"))
            return "publish", tuple(names)
        self._problem(
            node,
            f"{what} has no destination; expected 'reply: <destination>' or "
            "'publish: [<destination>, ...]'",
        )
        return None

    # -- checks across sections ---------------------------------------------

    def _check_references(self) -> None:
        declared = ", ".join(sorted(self.declared)) or "none"
        for name, node, where in self.references:
            if name not in self.declared:
                self._problem(
                    node,
                    f"{where} names destination '{name}', which is not declared "
                    f"under destinations (declared: {declared})",
                )

    def _check_dead_letters(self, destinations: Mapping[str, Destination]) -> None:
        for start in destinations.values():
            chain = [start.name]
            current = start
            while current.dead_letter is not None:
                if current.dead_letter in chain:
                    self._problem_at(
                        start.line,
                        1,
                        "dead_letter destinations go round in a circle: "
                        + " -> ".join([*chain, current.dead_letter]),
                    )
                    break
                chain.append(current.dead_letter)
                following = destinations.get(current.dead_letter)
                if following is None:
                    break  # reported as an undeclared destination
                current = following

    def _check_reachable(self, routes: Sequence[Route]) -> None:
        # A route with an empty match takes everything from its sources, so a
        # later route on only those sources can never be chosen.
        catch_all: dict[str, Route] = {}
        for route in routes:
            shadows = [catch_all.get(source) for source in route.sources]
            if all(shadows):
                first = cast(Route, shadows[0])
                self._problem_at(
                    route.line,
                    1,
                    f"route '{route.id}' can never be chosen: route '{first.id}' "
                    f"(line {first.line}) takes every message from "
                    f"{', '.join(route.sources)} before it",
                )
            if route.match.everything:
                for source in route.sources:
                    catch_all.setdefault(source, route)

    # -- reading values -------------------------------------------------------

    def _mapping(
        self,
        node: Node,
        what: str,
        keys: Sequence[str] | None,
        *,
        required: Sequence[str] = (),
        extra: bool = False,
    ) -> Entries | None:
        """The entries of a mapping by key; unknown and duplicate keys reported.

        ``keys`` None allows any key (a mapping of names); ``extra`` keeps
        unknown keys instead of reporting them.
        """
        if not isinstance(node, yaml.MappingNode):
            self._problem(
                node, f"expected a mapping (key: value) for {what}, found {_kind(node)}"
            )
            return None
        written = self._flatten(node, what)
        if written is None:
            return None
        entries: Entries = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _NULL:
                self._problem(
                    key, f"expected a plain key in {what}, found {_kind(key)}"
                )
                continue
            name = key.value
            if name in entries and not (
                id(key) in written and id(entries[name][0]) in written
            ):
                # A key written here overrides one merged in with '<<'.
                entries[name] = (key, value)
                continue
            if name in entries:
                self._problem(
                    key,
                    f"duplicate key '{name}' in {what}; first at line "
                    f"{_line(entries[name][0])}",
                )
                continue
            if keys is not None and not extra and name not in keys:
                near = difflib.get_close_matches(name, keys, 1, 0.7)
                hint = f"did you mean '{near[0]}'? " if near else ""
                self._problem(
                    key,
                    f"unknown key '{name}' in {what}; {hint}expected one of: "
                    + ", ".join(keys),
                )
                continue
            entries[name] = (key, value)
        for name in required:
            if name not in entries:
                self._problem(node, f"missing key '{name}' in {what}")
        return entries

    def _flatten(self, node: yaml.MappingNode, what: str) -> set[int] | None:
        """Apply ``<<`` merge keys; the ids of the keys written in this mapping.

        Remembered per node: an alias makes several places share one node,
        and after the first merge its written keys can no longer be told
        from the merged ones.
        """
        if id(node) not in self.written_keys:
            written = {
                id(key) for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge"
            }
            try:
                self.yaml.flatten_mapping(node)
            except yaml.MarkedYAMLError as exc:
                self._problem(node, f"in {what}: {exc.problem}")
                return None
            self.written_keys[id(node)] = written
        return self.written_keys[id(node)]

    def _sequence(self, node: Node, what: str) -> list[Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self._problem(
            node, f"expected a list ('- ' items) for {what}, found {_kind(node)}"
        )
        return []

    def _text(self, node: Node, what: str) -> str | None:
        """A scalar's text with placeholders filled; None (reported) otherwise."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            self._problem(node, f"expected a value for {what}, found {_kind(node)}")
            return None
        text, errors = fill(node.value, self.environ)
        for error in errors:
            offset = error.offset
            if node.style in ("'", '"'):
                offset += 1
            same_line = node.start_mark.line == node.end_mark.line
            self._problem(node, error.message, offset if same_line else 0)
        return None if errors else text

    def _texts(self, node: Node, what: str) -> tuple[str, ...] | None:
        """One text or a list of them, as a tuple; None (reported) if wrong."""
        found = self._texts_at(node, what)
        return None if found is None else tuple(text for text, _ in found)

    def _texts_at(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """Like :meth:`_texts`, each text with its node, to report on it."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            self._problem(node, f"empty list for {what}; expected at least one value")
            return None
        found = [(self._text(item, what), item) for item in items]
        texts = [(text, item) for text, item in found if text is not None]
        return texts if len(texts) == len(found) else None

    def _mode(self, node: Node) -> ValidationMode | None:
        text = self._text(node, "a validation mode")
        if text is None:
            return None
        if text not in VALIDATION_MODES:
            self._problem(
                node,
                f"unknown validation mode '{text}'; expected one of: "
                + ", ".join(VALIDATION_MODES),
            )
            return None
        return text

    def _number(
        self,
        node: Node,
        what: str,
        *,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float | None:
        text = self._text(node, what)
        if text is None:
            return None
        try:
            number: float = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            self._problem(node, f"{what} must be {kind}, not '{text}'")
            return None
        if (
            (minimum is not None and number < minimum)
            or (maximum is not None and number > maximum)
            or (above is not None and number <= above)
            or number != number  # NaN
        ):
            bounds = [
                f"at least {minimum:g}" if minimum is not None else "",
                f"at most {maximum:g}" if maximum is not None else "",
                f"more than {above:g}" if above is not None else "",
            ]
            self._problem(
                node, f"{what} must be {' and '.join(filter(None, bounds))}, not {text}"
            )
            return None
        return number

    def _plain(self, node: Node) -> Any:
        """An adapter setting as plain, read-only Python data."""
        if isinstance(node, yaml.MappingNode):
            entries = self._mapping(node, "an adapter setting", None) or {}
            return MappingProxyType(
                {name: self._plain(value) for name, (_, value) in entries.items()}
            )
        if isinstance(node, yaml.SequenceNode):
            return tuple(self._plain(item) for item in node.value)
        if not isinstance(node, yaml.ScalarNode) or node.tag == _NULL:
            return None
        text = self._text(node, "an adapter setting")
        if text is None or node.style is not None:
            return text
        # A plain scalar is typed by its filled-in text, so ${PORT} gives an int.
        tag = self.yaml.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        try:
            return self.yaml.construct_object(yaml.ScalarNode(tag, text))
        except yaml.YAMLError:
            return text

    # -- problems ------------------------------------------------------------

    def _problem(self, node: Node, message: str, offset: int = 0) -> None:
        mark = node.start_mark
        self._problem_at(mark.line + 1, mark.column + 1 + offset, message)

    def _problem_at(self, line: int, column: int, message: str) -> None:
        self.problems.append(RouteProblem(self.file, line, column, message))


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def _kind(node: Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "nothing"
    return f"'{node.value}'"


def _bad_name(what: str, name: str) -> str:
    return (
        f"'{name}' is not a valid {what}; use letters, digits, '_', '.' and '-', "
        "starting with a letter or digit"
    )


def _describe_sender(organisatie: str | None, applicatie: str) -> str:
    return f"{organisatie}/{applicatie}" if organisatie else applicatie
