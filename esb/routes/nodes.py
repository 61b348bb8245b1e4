"""Reading a YAML file node by node, every mistake kept with its line.

PyYAML's composed node tree (``yaml.compose`` with the SafeLoader) keeps the
line and column of every key and value; :class:`NodeReader` reads values from
it and records a :class:`RouteProblem` for whatever is not what was expected,
then carries on, so one reading finds every mistake. Scalars are taken as the
text that was written (``0392`` stays ``0392``) with their ``${...}``
placeholders filled; only adapter settings get YAML's own typing
(:meth:`NodeReader.plain`). ``<<`` merge keys are applied as PyYAML would.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from esb.message import VALIDATION_MODES, ValidationMode
from esb.routes.errors import RouteProblem
from esb.routes.placeholders import fill

NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"

Node = yaml.Node
Entries = dict[str, tuple[yaml.Node, yaml.Node]]
"""The entries of a mapping: key text -> (key node, value node)."""


class NodeReader:
    """Reads values from one composed YAML file; collects problems as it goes."""

    empty = "the file is empty"

    def __init__(self, path: Path, environ: Mapping[str, str] | None) -> None:
        self.path = Path(path)
        self.file = str(path)
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.problems: list[RouteProblem] = []
        self.yaml = yaml.SafeLoader("")  # merges, resolves and constructs
        self.written_keys: dict[int, set[int]] = {}

    def compose(self) -> Node | None:
        """The file's node tree; None (reported) if unreadable, not YAML, empty."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem_at(0, 0, f"cannot read the file: {exc}")
            return None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            what = " ".join(filter(None, [exc.context, exc.problem]))
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            self.problem_at(line, column, f"not valid YAML: {what}")
            return None
        except yaml.YAMLError as exc:
            self.problem_at(0, 0, f"not valid YAML: {exc}")
            return None
        if root is None:
            self.problem_at(0, 0, self.empty)
        return root

    def mapping(
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
            self.problem(
                node,
                f"expected a mapping (key: value) for {what}, found {describe(node)}",
            )
            return None
        written = self.flatten(node, what)
        if written is None:
            return None
        entries: Entries = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == NULL:
                self.problem(
                    key, f"expected a plain key in {what}, found {describe(key)}"
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
                self.problem(
                    key,
                    f"duplicate key '{name}' in {what}; first at line "
                    f"{line_of(entries[name][0])}",
                )
                continue
            if keys is not None and not extra and name not in keys:
                near = difflib.get_close_matches(name, keys, 1, 0.7)
                hint = f"did you mean '{near[0]}'? " if near else ""
                self.problem(
                    key,
                    f"unknown key '{name}' in {what}; {hint}expected one of: "
                    + ", ".join(keys),
                )
                continue
            entries[name] = (key, value)
        for name in required:
            if name not in entries:
                self.problem(node, f"missing key '{name}' in {what}")
        return entries

    def flatten(self, node: yaml.MappingNode, what: str) -> set[int] | None:
        """Apply ``<<`` merge keys; the ids of the keys written in this mapping.

        Remembered per node: an alias makes several places share one node,
        and after the first merge its written keys can no longer be told
        from the merged ones.
        """
        if id(node) not in self.written_keys:
            written = {id(key) for key, _ in node.value if key.tag != _MERGE}
            try:
                self.yaml.flatten_mapping(node)
            except yaml.MarkedYAMLError as exc:
                self.problem(node, f"in {what}: {exc.problem}")
                return None
            self.written_keys[id(node)] = written
        return self.written_keys[id(node)]

    def sequence(self, node: Node, what: str) -> list[Node]:
        if isinstance(node, yaml.SequenceNode):
            return list(node.value)
        self.problem(
            node, f"expected a list ('- ' items) for {what}, found {describe(node)}"
        )
        return []

    def text(self, node: Node, what: str) -> str | None:
        """A scalar's text with placeholders filled; None (reported) otherwise."""
        if not isinstance(node, yaml.ScalarNode) or node.tag == NULL:
            self.problem(node, f"expected a value for {what}, found {describe(node)}")
            return None
        text, errors = fill(node.value, self.environ)
        for error in errors:
            offset = error.offset
            if node.style in ("'", '"'):
                offset += 1
            same_line = node.start_mark.line == node.end_mark.line
            self.problem(node, error.message, offset if same_line else 0)
        return None if errors else text

    def texts(self, node: Node, what: str) -> tuple[str, ...] | None:
        """One text or a list of them, as a tuple; None (reported) if wrong."""
        found = self.texts_at(node, what)
        return None if found is None else tuple(text for text, _ in found)

    def texts_at(self, node: Node, what: str) -> list[tuple[str, Node]] | None:
        """Like :meth:`texts`, each text with its node, to report on it."""
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        if not items:
            self.problem(node, f"empty list for {what}; expected at least one value")
            return None
        found = [(self.text(item, what), item) for item in items]
        texts = [(text, item) for text, item in found if text is not None]
        return texts if len(texts) == len(found) else None

    def mode(self, node: Node) -> ValidationMode | None:
        text = self.text(node, "a validation mode")
        if text is None:
            return None
        if text not in VALIDATION_MODES:
            self.problem(
                node,
                f"unknown validation mode '{text}'; expected one of: "
                + ", ".join(VALIDATION_MODES),
            )
            return None
        return text

    def number(
        self,
        node: Node,
        what: str,
        *,
        integer: bool = False,
        minimum: float | None = None,
        maximum: float | None = None,
        above: float | None = None,
    ) -> float | None:
        text = self.text(node, what)
        if text is None:
            return None
        try:
            number: float = int(text) if integer else float(text)
        except ValueError:
            kind = "a whole number" if integer else "a number"
            self.problem(node, f"{what} must be {kind}, not '{text}'")
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
            self.problem(
                node, f"{what} must be {' and '.join(filter(None, bounds))}, not {text}"
            )
            return None
        return number

    def plain(self, node: Node) -> Any:
        """An adapter setting as plain, read-only Python data."""
        if isinstance(node, yaml.MappingNode):
            entries = self.mapping(node, "an adapter setting", None) or {}
            return MappingProxyType(
                {name: self.plain(value) for name, (_, value) in entries.items()}
            )
        if isinstance(node, yaml.SequenceNode):
            return tuple(self.plain(item) for item in node.value)
        if not isinstance(node, yaml.ScalarNode) or node.tag == NULL:
            return None
        text = self.text(node, "an adapter setting")
        if text is None or node.style is not None:
            return text
        # A plain scalar is typed by its filled-in text, so ${PORT} gives an int.
        tag = self.yaml.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        try:
            return self.yaml.construct_object(yaml.ScalarNode(tag, text))
        except yaml.YAMLError:
            return text

    # -- problems ------------------------------------------------------------

    def problem(self, node: Node, message: str, offset: int = 0) -> None:
        mark = node.start_mark
        self.problem_at(mark.line + 1, mark.column + 1 + offset, message)

    def problem_at(self, line: int, column: int, message: str) -> None:
        self.problems.append(RouteProblem(self.file, line, column, message))


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


def describe(node: Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == NULL:
        return "nothing"
    return f"'{node.value}'"
