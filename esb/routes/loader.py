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
    sources:                        # optional: what EMO reads itself
      inbox:                        # routes take it as from: file:inbox
        type: file                  # file | amqp
        path: /srv/emo/inbox        # anything else: the source's settings
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
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast
from urllib.parse import urlsplit

import yaml

from esb.errors import ConfigError
from esb.message import ValidationMode
from esb.routes.errors import RouteProblem, RoutesError
from esb.routes.model import (
    Destination,
    RetryPolicy,
    Route,
    RouteTable,
    SenderOverride,
    SourceDefinition,
    ValidationPolicy,
)
from esb.routes.nodes import Node, line_of
from esb.routes.route_reader import NAME, RouteReader, bad_name

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

_TOP_KEYS = ("version", "validation", "destinations", "routes", "sources")
_VALIDATION_KEYS = ("default", "senders")
_SENDER_KEYS = ("applicatie", "organisatie", "mode")
_DESTINATION_KEYS = ("type", "timeout", "retry", "dead_letter")
_RETRY_KEYS = ("attempts", "initial", "multiplier", "cap", "jitter")

# The sources EMO reads itself, and what each type's settings must be. The
# kinds: text (not empty), name (text without '/'), url (amqp:// or
# amqps://), seconds (a number >= 0), positive (a number > 0), count (a whole
# number >= 1), exchange_type, tls (a destination's tls mapping, amqps://
# only, its files read at load). Defaults and meaning: esb/sources/.
SOURCE_SETTINGS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "file": MappingProxyType(
            {
                "path": "text",
                "pattern": "name",
                "marker": "name",
                "stable_seconds": "seconds",
                "poll_seconds": "positive",
                "concurrency": "count",
                "retry_seconds": "positive",
            }
        ),
        "amqp": MappingProxyType(
            {
                "url": "url",
                "queue": "text",
                "prefetch": "count",
                "exchange": "text",
                "exchange_type": "exchange_type",
                "binding_key": "text",
                "error_exchange": "text",
                "dead_letter_exchange": "text",
                "retry_seconds": "positive",
                "tls": "tls",
            }
        ),
        # esb/sources/events.py: the zaakregister's outbox.
        "zaakregister-events": MappingProxyType(
            {
                "database": "text",
                "organisatie": "text",
                "applicatie": "text",
                "ontvanger": "text",
                "document_link": "text",
                "poll_seconds": "positive",
                "batch": "count",
                "retry_seconds": "positive",
            }
        ),
    }
)
_SOURCE_REQUIRED = {"file": ("path",), "amqp": ("url",), "zaakregister-events": ()}
_EXCHANGE_TYPES = ("direct", "topic", "fanout", "headers")


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


class _Reader(RouteReader):
    """One reading of one routes file."""

    empty = "the routes file is empty; expected 'destinations' and 'routes'"

    def __init__(
        self,
        path: Path,
        environ: Mapping[str, str] | None,
        adapters: Mapping[str, SettingsCheck | None] | None,
    ) -> None:
        super().__init__(path, environ)
        self.adapters = ADAPTER_TYPES if adapters is None else adapters
        # Every destination name declared, even one with mistakes of its own:
        # those are reported once, not again at every route using it.
        self.declared: set[str] = set()
        # The same for sources: name -> its type (None if that is wrong).
        self.declared_sources: dict[str, str | None] = {}
        self.source_keys: dict[str, Node] = {}

    # -- the file, section by section --------------------------------------

    def read(self) -> tuple[RouteTable | None, list[RouteProblem]]:
        root = self.compose()
        table = None if root is None else self._table(root)
        problems = sorted(self.problems, key=lambda p: (p.line, p.column))
        return (table if not problems else None), problems

    def _table(self, root: Node) -> RouteTable | None:
        top = self.mapping(
            root, "the routes file", _TOP_KEYS, required=("destinations", "routes")
        )
        if top is None:
            return None
        if "version" in top:
            version = self.text(top["version"][1], "version")
            if version is not None and version != "1":
                self.problem(
                    top["version"][1], f"unknown version '{version}'; expected 1"
                )
        validation = ValidationPolicy()
        if "validation" in top:
            validation = self._validation(top["validation"][1]) or validation
        sources: dict[str, SourceDefinition] = {}
        if "sources" in top:
            sources = self._sources_section(top["sources"][1])
        destinations: dict[str, Destination] = {}
        if "destinations" in top:
            destinations = self._destinations(top["destinations"][1])
        routes: list[Route] = []
        if "routes" in top:
            routes = self._routes(top["routes"][1])

        self._check_references()
        self._check_dead_letters(destinations)
        self._check_reachable(routes)
        self._check_sources(sources)
        return RouteTable(
            tuple(routes),
            destinations,
            validation,
            self.file,
            {definition.source: definition for definition in sources.values()},
        )

    def _validation(self, node: Node) -> ValidationPolicy | None:
        entries = self.mapping(node, "validation", _VALIDATION_KEYS)
        if entries is None:
            return None
        default: ValidationMode = "report"
        if "default" in entries:
            default = self.mode(entries["default"][1]) or default
        senders: list[SenderOverride] = []
        seen: dict[tuple[str | None, str], int] = {}
        if "senders" in entries:
            for item in self.sequence(entries["senders"][1], "validation.senders"):
                sender = self._sender(item)
                if sender is None:
                    continue
                key = (sender.organisatie, sender.applicatie)
                if key in seen:
                    self.problem(
                        item,
                        f"validation for sender {_describe_sender(*key)} is given "
                        f"twice; first at line {seen[key]}",
                    )
                    continue
                seen[key] = sender.line
                senders.append(sender)
        return ValidationPolicy(default, tuple(senders))

    def _sender(self, node: Node) -> SenderOverride | None:
        entries = self.mapping(
            node, "a validation sender", _SENDER_KEYS, required=("applicatie", "mode")
        )
        if entries is None or "applicatie" not in entries or "mode" not in entries:
            return None
        applicatie = self.text(entries["applicatie"][1], "applicatie")
        organisatie = None
        if "organisatie" in entries:
            organisatie = self.text(entries["organisatie"][1], "organisatie")
        mode = self.mode(entries["mode"][1])
        if applicatie is None or mode is None:
            return None
        return SenderOverride(applicatie, organisatie, mode, line_of(node))

    def _sources_section(self, node: Node) -> dict[str, SourceDefinition]:
        entries = self.mapping(node, "sources", None)
        sources: dict[str, SourceDefinition] = {}
        places: dict[tuple[str, ...], tuple[str, int]] = {}
        for name, (key, value) in (entries or {}).items():
            if not NAME.match(name):
                self.problem(key, bad_name("source", name))
                continue
            self.declared_sources[name] = None
            self.source_keys[name] = key
            definition = self._source(name, key, value)
            if definition is None:
                continue
            self.declared_sources[name] = definition.type
            # Two sources reading one folder or queue would take each other's
            # messages: whichever claims first wins, and routes meant for the
            # other are never chosen.
            place = _source_place(definition)
            if place in places:
                other, line = places[place]
                self.problem(
                    key,
                    f"source '{name}' reads the same {_PLACE_WORD[definition.type]} "
                    f"as source '{other}' (line {line})",
                )
                continue
            places[place] = (name, definition.line)
            sources[name] = definition
        return sources

    def _source(self, name: str, key: Node, node: Node) -> SourceDefinition | None:
        what = f"source '{name}'"
        entries = self.mapping(node, what, ("type",), required=("type",), extra=True)
        if entries is None or "type" not in entries:
            return None
        type_node = entries["type"][1]
        kind = self.text(type_node, f"the type of {what}")
        if kind is None:
            return None
        if kind not in SOURCE_SETTINGS:
            served = kind in ("soap", "http")
            self.problem(
                type_node,
                f"{what} has type '{kind}'; "
                + (
                    f"{kind} sources are EMO's own web server's: routes name them "
                    f"directly (from: {kind}:/path), without a sources entry"
                    if served
                    else "expected one of: " + ", ".join(SOURCE_SETTINGS)
                ),
            )
            return None
        allowed = SOURCE_SETTINGS[kind]
        settings: dict[str, Any] = {}
        ok = True
        for setting, (setting_key, value) in entries.items():
            if setting == "type":
                continue
            if setting not in allowed:
                near = difflib.get_close_matches(setting, list(allowed), 1, 0.7)
                hint = f"did you mean '{near[0]}'? " if near else ""
                self.problem(
                    setting_key,
                    f"unknown key '{setting}' in {what} (type {kind}); {hint}"
                    "expected some of: " + ", ".join(allowed),
                )
                ok = False
                continue
            read = self._source_setting(allowed[setting], value, setting, what)
            if read is None:
                ok = False
                continue
            settings[setting] = read
        for required in _SOURCE_REQUIRED[kind]:
            if required not in entries:
                self.problem(node, f"missing key '{required}' in {what}")
                ok = False
        if ok and "tls" in settings:
            ok = self._source_tls(name, entries["tls"][0], settings)
        if not ok:
            return None
        return SourceDefinition(name, kind, MappingProxyType(settings), line_of(key))

    def _source_tls(self, name: str, key: Node, settings: Mapping[str, Any]) -> bool:
        # Checked, and its files read, as a destination's are when it is
        # built: a missing file or a key that is not the certificate's shows
        # in `emo routes check`, not as a source that never connects.
        from esb.adapters.amqp import tls_policy  # pika only if a queue is read

        try:
            tls_policy(name, str(settings["url"]), settings["tls"], owner="source")
        except ConfigError as exc:
            self.problem(key, str(exc))
            return False
        return True

    def _source_setting(
        self, kind: str, node: Node, setting: str, what: str
    ) -> str | float | Mapping[str, Any] | None:
        label = f"{setting} of {what}"
        if kind == "tls":
            if not isinstance(node, yaml.MappingNode):
                self.problem(
                    node, f"{label} must be a mapping of ca, cert, key and verify"
                )
                return None
            tls: Mapping[str, Any] = self.plain(node)
            return tls
        if kind == "seconds":
            return self.number(node, label, minimum=0)
        if kind == "positive":
            return self.number(node, label, above=0)
        if kind == "count":
            return self.number(node, label, integer=True, minimum=1)
        text = self.text(node, label)
        if text is None:
            return None
        if not text.strip():
            self.problem(node, f"{label} is empty")
            return None
        if kind == "name" and "/" in text:
            self.problem(node, f"{label} is a file name or pattern, without '/'")
            return None
        if kind == "exchange_type" and text not in _EXCHANGE_TYPES:
            self.problem(
                node,
                f"unknown exchange type '{text}'; expected one of: "
                + ", ".join(_EXCHANGE_TYPES),
            )
            return None
        if kind == "url":
            parts = urlsplit(text)
            if parts.scheme not in ("amqp", "amqps") or not parts.hostname:
                self.problem(
                    node,
                    f"{label} must be an AMQP URL such as "
                    "amqp://user:password@host:5672/%2F, not '"
                    + _without_password(text)
                    + "'",
                )
                return None
        return text

    def _destinations(self, node: Node) -> dict[str, Destination]:
        entries = self.mapping(node, "destinations", None)
        destinations: dict[str, Destination] = {}
        for name, (key, value) in (entries or {}).items():
            if not NAME.match(name):
                self.problem(key, bad_name("destination", name))
                continue
            self.declared.add(name)
            destination = self._destination(name, key, value)
            if destination is not None:
                destinations[name] = destination
        return destinations

    def _destination(self, name: str, key: Node, node: Node) -> Destination | None:
        what = f"destination '{name}'"
        entries = self.mapping(
            node, what, _DESTINATION_KEYS, required=("type",), extra=True
        )
        if entries is None or "type" not in entries:
            return None
        kind = self.text(entries["type"][1], f"the type of {what}")
        if kind is not None and kind not in self.adapters:
            self.problem(
                entries["type"][1],
                f"unknown type '{kind}' for {what}; expected one of: "
                + ", ".join(sorted(self.adapters)),
            )
        check = self.adapters.get(kind or "")
        timeout = 30.0
        if "timeout" in entries:
            timeout = self.number(entries["timeout"][1], "timeout", above=0) or timeout
        retry = RetryPolicy()
        if "retry" in entries:
            retry = self._retry(entries["retry"][1], what) or retry
        dead_letter = None
        if "dead_letter" in entries:
            dead_letter = self.text(entries["dead_letter"][1], "dead_letter")
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
                self.problem(
                    setting_key,
                    f"unknown key '{setting}' in {what}; did you mean '{near[0]}'?",
                )
            settings[setting] = self.plain(value)
        frozen = MappingProxyType(settings)
        if check is not None:
            for complaint in check(frozen):
                self.problem(key, f"{what} (type {kind}): {complaint}")
        if kind is None:
            return None
        return Destination(
            name, kind, frozen, timeout, retry, dead_letter, line_of(key)
        )

    def _retry(self, node: Node, what: str) -> RetryPolicy | None:
        entries = self.mapping(node, f"the retry of {what}", _RETRY_KEYS)
        if entries is None:
            return None
        default = RetryPolicy()
        values: dict[str, Any] = {}
        for name, (_, value) in entries.items():
            number: float | None
            if name == "attempts":
                number = self.number(value, "attempts", integer=True, minimum=1)
            elif name == "multiplier":
                number = self.number(value, "multiplier", minimum=1)
            elif name == "jitter":
                number = self.number(value, "jitter", minimum=0, maximum=1)
            else:
                number = self.number(value, name, minimum=0)
            if number is None:
                return None
            values[name] = number
        initial = values.get("initial", default.initial)
        cap = values.get("cap", max(default.cap, initial))
        if cap < initial:
            self.problem(
                entries.get("cap", (node, node))[1],
                f"retry cap ({cap:g} s) is less than initial ({initial:g} s)",
            )
            return None
        values["cap"] = cap
        return RetryPolicy(**values)

    def _routes(self, node: Node) -> list[Route]:
        routes: list[Route] = []
        items = self.sequence(node, "routes")
        if isinstance(node, yaml.SequenceNode) and not items:
            self.problem(node, "no routes: the broker would take no message")
        first_line: dict[str, int] = {}
        for item in items:
            route = self.read_route(item)
            if route is None:
                continue
            if route.id in first_line:
                self.problem(
                    item,
                    f"route id '{route.id}' is used twice; first at line "
                    f"{first_line[route.id]}",
                )
                continue
            first_line[route.id] = route.line
            routes.append(route)
        return routes

    # -- checks across sections ---------------------------------------------

    def _check_references(self) -> None:
        declared = ", ".join(sorted(self.declared)) or "none"
        for name, node, where in self.references:
            if name not in self.declared:
                self.problem(
                    node,
                    f"{where} names destination '{name}', which is not declared "
                    f"under destinations (declared: {declared})",
                )

    def _check_sources(self, sources: Mapping[str, SourceDefinition]) -> None:
        # Checked only when the file has a sources section: routes files
        # written before sources existed name file: and amqp: sources the
        # broker does not read yet, and still load (the broker warns).
        declared = (
            ", ".join(
                f"{kind}:{name}" if kind else name
                for name, kind in sorted(self.declared_sources.items())
            )
            or "none"
        )
        used: set[str] = set()
        for source, node, where in self.source_references:
            kind, _, name = source.partition(":")
            used.add(name)
            if name not in self.declared_sources:
                self.problem(
                    node,
                    f"{where} takes messages from {source}, but no source "
                    f"'{name}' is declared under sources (declared: {declared})",
                )
                continue
            declared_kind = self.declared_sources[name]
            if declared_kind is not None and declared_kind != kind:
                self.problem(
                    node,
                    f"{where} takes messages from {source}, but source '{name}' "
                    f"has type {declared_kind}: write {declared_kind}:{name}",
                )
        for definition in sources.values():
            if definition.name not in used:
                self.problem(
                    self.source_keys[definition.name],
                    f"source '{definition.name}' is read, but no route takes "
                    f"messages from {definition.source}: every message would be "
                    "refused (StUF040)",
                )

    def _check_dead_letters(self, destinations: Mapping[str, Destination]) -> None:
        # A message nobody can take would be passed round for ever. Each circle
        # is reported once, at the destination whose name sorts first in it.
        for start in destinations.values():
            chain = [start.name]
            current = start
            while current.dead_letter is not None:
                if current.dead_letter in chain:
                    if current.dead_letter == start.name == min(chain):
                        self.problem_at(
                            start.line,
                            1,
                            "dead_letter destinations go round in a circle: "
                            + " -> ".join([*chain, start.name]),
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
                self.problem_at(
                    route.line,
                    1,
                    f"route '{route.id}' can never be chosen: route '{first.id}' "
                    f"(line {first.line}) takes every message from "
                    f"{', '.join(route.sources)} before it",
                )
            if route.match.everything:
                for source in route.sources:
                    catch_all.setdefault(source, route)


def _describe_sender(organisatie: str | None, applicatie: str) -> str:
    return f"{organisatie}/{applicatie}" if organisatie else applicatie


_PLACE_WORD = {"file": "folder", "amqp": "queue", "zaakregister-events": "outbox"}


def _source_place(definition: SourceDefinition) -> tuple[str, ...]:
    """What a source reads: its folder, or its broker and queue."""
    settings = definition.settings
    if definition.type == "file":
        return ("file", str(Path(str(settings["path"])).expanduser().resolve()))
    if definition.type == "zaakregister-events":
        return ("zaakregister-events", str(settings.get("database", "")))
    parts = urlsplit(str(settings["url"]))
    where = f"{parts.hostname}:{parts.port or 5672}{parts.path or '/'}"
    return ("amqp", where, str(settings.get("queue", definition.name)))


def _without_password(url: str) -> str:
    """``url`` as it may be shown in a problem: any password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
