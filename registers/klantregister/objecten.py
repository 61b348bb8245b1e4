"""Reading a StUF-BG object into columns, and writing columns as an object.

Both follow an entiteit's layout (:mod:`registers.klantregister.entiteiten`).
What is read is :data:`Gegevens`: column -> value, where ``None`` is "no
value" (the element was nil or empty) and a missing column is "not given".

Groups (addresses) in a kennisgeving are taken whole: StUF-BG exchanges a
groepsattribuut as one value, so an address that arrives without a
huisletter has none, whatever the old address had. In a vraag's selection an
element left out of a group is just not a criterion. A choice (verblijfsadres
or verblijfBuitenland; a street or a postbus) is read the same way: the option
given replaces the others, which have no value from then on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from lxml import etree

from esb.errors import Violation
from registers.klantregister import nummers
from registers.klantregister.entiteiten import (
    Check,
    Choice,
    Extra,
    Group,
    Layout,
    Leaf,
    Node,
)
from registers.klantregister.stuf import (
    EXACT,
    IND_ONVOLLEDIGE_DATUM,
    first_children,
    line,
    where,
)
from registers.stuf import (
    ABSENT,
    BG,
    ENTITEITTYPE,
    SCOPE,
    STUF,
    children,
    has_content,
    is_nil,
    local,
    nil,
    read,
    sub,
)

Gegevens = dict[str, str | None]

# StUF 03.01: scope values that ask for the whole object.
_EVERYTHING = frozenset(
    {
        "alles",
        "allesZonderMetagegevens",
        "allesMaarKerngegevensGerelateerden",
        "allesZonderMetagegevensMaarKerngegevensGerelateerden",
    }
)


@dataclass
class Gelezen:
    """What was read from one object: values, where they were, what is wrong."""

    gegevens: Gegevens = field(default_factory=dict)
    # column -> the element its value came from (for faults).
    elements: dict[str, etree._Element] = field(default_factory=dict)
    # columns whose selection element carries StUF:exact="false".
    inexact: set[str] = field(default_factory=set)
    # columns without value because their element was missing from a group
    # given whole (not because the sender said so).
    implied: set[str] = field(default_factory=set)
    violations: list[Violation] = field(default_factory=list)


def read_object(
    element: etree._Element,
    layout: Layout,
    *,
    whole_groups: bool = True,
    checked: bool = True,
) -> Gelezen:
    """Read ``element`` (an object, a gerelateerde, a selection) by ``layout``.

    ``checked`` applies each element's check (the 11-test and the like);
    a selection range (vanaf, totEnMet) is read unchecked. No violation
    quotes a value: a BSN is masked by its check.
    """
    gelezen = Gelezen()
    _read(
        element,
        first_children(element),
        layout,
        gelezen,
        in_group=False,
        whole=whole_groups,
        checked=checked,
    )
    return gelezen


def _read(
    parent: etree._Element,
    named: dict[str, etree._Element],
    nodes: Iterable[Node],
    gelezen: Gelezen,
    *,
    in_group: bool,
    whole: bool,
    checked: bool,
) -> None:
    # ``named``: the first child of ``parent`` of each name (first_children),
    # looked up once for all of the layout's nodes.
    for node in nodes:
        if isinstance(node, Leaf):
            _read_leaf(parent, named, node, gelezen, in_group and whole, checked)
        elif isinstance(node, Group):
            found = named.get(node.element)
            if found is None:
                continue
            if is_nil(found):
                for leaf in node.leaves():
                    _store(gelezen, leaf, None, found)
                continue
            _read(
                found,
                first_children(found),
                node.nodes,
                gelezen,
                in_group=True,
                whole=whole,
                checked=checked,
            )
        elif isinstance(node, Choice):
            _read_choice(parent, named, node, gelezen, in_group, whole, checked)
        elif isinstance(node, Extra):
            container = named.get("extraElementen")
            for extra in children(container, "extraElement"):
                if extra.get("naam") == node.naam:
                    value = read(extra)
                    if value is not ABSENT:
                        _take(gelezen, node.column, node.check, value, extra, checked)


def _read_choice(
    parent: etree._Element,
    named: dict[str, etree._Element],
    choice: Choice,
    gelezen: Gelezen,
    in_group: bool,
    whole: bool,
    checked: bool,
) -> None:
    before = set(gelezen.gegevens)
    for option in choice.options:
        _read(
            parent,
            named,
            option,
            gelezen,
            in_group=in_group,
            whole=whole,
            checked=checked,
        )
    if not whole:
        return
    leaves = choice.all_leaves
    given = any(
        leaf.column in gelezen.gegevens
        and leaf.column not in before
        and leaf.column not in gelezen.implied
        for leaf in leaves
    )
    if not given:
        return
    # The option given replaces the others: they have no value now.
    for leaf in leaves:
        if leaf.column not in gelezen.gegevens:
            _store(gelezen, leaf, None, parent)
            gelezen.implied.add(leaf.column)


def _read_leaf(
    parent: etree._Element,
    named: dict[str, etree._Element],
    leaf: Leaf,
    gelezen: Gelezen,
    absent_is_empty: bool,
    checked: bool,
) -> None:
    found = named.get(leaf.element)
    value = read(found)
    if value is ABSENT:
        # Inside a group taken whole, a missing element has no value; but a
        # fallback element never overrides what the first one said.
        if (
            absent_is_empty
            and not leaf.fallback
            and leaf.column not in gelezen.gegevens
        ):
            _store(gelezen, leaf, None, parent)
            gelezen.implied.add(leaf.column)
            if leaf.datum:
                gelezen.implied.add(f"{leaf.column}_indicator")
        return
    assert found is not None
    if leaf.fallback and gelezen.gegevens.get(leaf.column) is not None:
        return
    gelezen.implied.discard(leaf.column)
    if found.get(EXACT) == "false":
        gelezen.inexact.add(leaf.column)
        checked = False
    if value is None:
        _store(gelezen, leaf, None, found)
        return
    if leaf.datum:
        try:
            digits, indicator = nummers.datum(value, found.get(IND_ONVOLLEDIGE_DATUM))
        except nummers.InvalidValue as exc:
            if checked:
                gelezen.violations.append(
                    Violation(line(found), where(found), str(exc))
                )
                return
            digits, indicator = value, None
        gelezen.gegevens[leaf.column] = digits
        gelezen.gegevens[f"{leaf.column}_indicator"] = indicator
        gelezen.elements[leaf.column] = found
        return
    if leaf.length is not None and len(value) > leaf.length:
        gelezen.violations.append(
            Violation(
                line(found),
                where(found),
                f"{leaf.element} is langer dan {leaf.length} tekens",
            )
        )
        return
    _take(gelezen, leaf.column, leaf.check, value, found, checked)


def _take(
    gelezen: Gelezen,
    column: str,
    check: Check | None,
    value: str | None,
    element: etree._Element,
    checked: bool,
) -> None:
    if value is not None and check is not None:
        try:
            value = check(value)
        except nummers.InvalidValue as exc:
            if checked:
                gelezen.violations.append(
                    Violation(line(element), where(element), str(exc))
                )
                return
    gelezen.gegevens[column] = value
    gelezen.elements[column] = element


def _store(
    gelezen: Gelezen, leaf: Leaf, value: str | None, element: etree._Element
) -> None:
    gelezen.gegevens[leaf.column] = value
    gelezen.elements.setdefault(leaf.column, element)
    if leaf.datum:
        gelezen.gegevens[f"{leaf.column}_indicator"] = None


def unsupported(element: etree._Element, layout: Layout) -> list[etree._Element]:
    """The elements of a selection with a value that ``layout`` does not hold:
    a vraag on them cannot be answered truthfully."""
    found: list[etree._Element] = []
    known = {node.element: node for node in flat(layout)}
    for item in children(element):
        match = known.get(local(item))
        if isinstance(match, Group):
            found.extend(unsupported(item, tuple(match.nodes)))
        elif match is None and has_content(item):
            found.append(item)
    return found


def flat(nodes: Iterable[Node]) -> Iterator[Leaf | Group]:
    """The leaves and groups of ``nodes``, with every choice's options
    inline."""
    for node in nodes:
        if isinstance(node, (Leaf, Group)):
            yield node
        elif isinstance(node, Choice):
            for option in node.options:
                yield from flat(option)


# Writing --------------------------------------------------------------------


def write_object(
    parent: etree._Element,
    tag: str,
    entiteittype: str,
    layout: Layout,
    gegevens: Gegevens,
    *,
    verwerkingssoort: str | None = None,
    given_only: bool = False,
) -> etree._Element:
    """Append ``tag`` holding ``gegevens`` as an object of ``entiteittype``.

    Elements without a value are written nil (StUF 03.01: the register
    knows there is none); a group or relation without any value is left
    out. With ``given_only`` only the columns in ``gegevens`` are written
    (nil where their value is None): a kennisgeving's was-object, which
    names only what it is sure of. ``verwerkingssoort`` is for kennisgevingen
    (it is prohibited in answers).
    """
    element = etree.SubElement(parent, tag)
    element.set(ENTITEITTYPE, entiteittype)
    if verwerkingssoort:
        element.set(f"{STUF}verwerkingssoort", verwerkingssoort)
    _write(element, layout, gegevens, verwerkingssoort, given_only)
    return element


def _write(
    parent: etree._Element,
    nodes: Iterable[Node],
    gegevens: Gegevens,
    verwerkingssoort: str | None,
    given_only: bool,
) -> None:
    extras: etree._Element | None = None
    for node in nodes:
        if isinstance(node, Leaf):
            if not given_only or node.column in gegevens:
                _write_leaf(parent, node, gegevens)
        elif isinstance(node, Group):
            columns = [leaf.column for leaf in node.leaves()]
            if not any(gegevens.get(column) for column in columns) and not (
                given_only and any(column in gegevens for column in columns)
            ):
                continue
            group = etree.SubElement(parent, BG + node.element)
            if node.entiteittype:
                group.set(ENTITEITTYPE, node.entiteittype)
                if verwerkingssoort:
                    # The related object itself is only identified (I).
                    soort = "I" if node.element == "gerelateerde" else verwerkingssoort
                    group.set(f"{STUF}verwerkingssoort", soort)
            _write(group, node.nodes, gegevens, verwerkingssoort, given_only)
        elif isinstance(node, Choice):
            option = _chosen(node, gegevens, given_only)
            if option is not None:
                _write(parent, option, gegevens, verwerkingssoort, given_only)
        elif isinstance(node, Extra):
            value = gegevens.get(node.column)
            if not value:
                continue
            if extras is None:
                extras = etree.SubElement(parent, STUF + "extraElementen")
            extra = sub(extras, STUF + "extraElement", value)
            extra.set("naam", node.naam)


def _chosen(
    choice: Choice, gegevens: Gegevens, given_only: bool
) -> tuple[Node, ...] | None:
    """The option of ``choice`` to write: the first with a value, else (for
    a was-object) the first with a column given."""
    for option in choice.options:
        if any(gegevens.get(leaf.column) for leaf in _option_leaves(option)):
            return option
    if given_only:
        for option in choice.options:
            if any(leaf.column in gegevens for leaf in _option_leaves(option)):
                return option
    return None


def _option_leaves(option: tuple[Node, ...]) -> Iterator[Leaf]:
    for node in option:
        if isinstance(node, Leaf):
            yield node
        elif isinstance(node, (Group, Choice)):
            yield from node.leaves()


def _write_leaf(parent: etree._Element, leaf: Leaf, gegevens: Gegevens) -> None:
    value = gegevens.get(leaf.column)
    if leaf.fallback:
        if value and leaf.write_limit and len(value) <= leaf.write_limit:
            sub(parent, BG + leaf.element, value)
        return
    if not value:
        nil(parent, BG + leaf.element)
        return
    element = sub(parent, BG + leaf.element, value)
    if leaf.datum:
        indicator = gegevens.get(f"{leaf.column}_indicator")
        if indicator and indicator != "V":
            element.set(IND_ONVOLLEDIGE_DATUM, indicator)


# Scope ----------------------------------------------------------------------


def prune(
    answer: etree._Element,
    scope: etree._Element | None,
    layout: Layout,
    *,
    keep: Collection[str] = (),
) -> None:
    """Remove from ``answer`` what the vraag's ``scope`` does not ask for.

    StUF 03.01: the scope's object names the wanted elements as empty or nil
    placeholders; a group given without children, or any element with
    ``StUF:scope="alles"`` (and its variants), asks for all under it;
    ``StUF:scope="kerngegevens"`` asks for the entiteit's kerngegevens. A
    vraag without a scope gets everything. The elements in ``keep`` (the
    key) stay whatever the scope says: an answer the sender cannot tie to a
    subject is of no use.
    """
    if scope is None:
        return
    asked = scope.get(SCOPE)
    if asked in _EVERYTHING:
        return
    if asked == "kerngegevens":
        wanted = {node.element for node in flat(layout) if node.kern}
        for element in list(children(answer)):
            if local(element) not in wanted and local(element) not in keep:
                answer.remove(element)
        return
    if next(children(scope), None) is None:
        return
    _prune(answer, scope, keep)


def _prune(
    answer: etree._Element, scope: etree._Element, keep: Collection[str]
) -> None:
    wanted: dict[str, etree._Element] = {}
    for element in children(scope):
        wanted.setdefault(local(element), element)
    for element in list(children(answer)):
        name = local(element)
        if name in wanted:
            inner = wanted[name]
            if inner.get(SCOPE) in _EVERYTHING or next(children(inner), None) is None:
                continue
            _prune(element, inner, ())
        elif name not in keep:
            answer.remove(element)
