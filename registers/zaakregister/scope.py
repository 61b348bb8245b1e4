"""The scope of a vraag: which parts of an object the sender wants back.

StUF 03.01 section 4.3.3: the ``scope`` of a vraag holds an object whose
elements name what the answer must contain; they are empty or
``xsi:nil="true"`` placeholders. An element of the scope with no element
children (``<gerelateerde/>``, ``<omschrijving xsi:nil="true"/>``) asks for
all there is under it; an entity with ``StUF:scope="alles"`` asks for all of
it. A vraag without a scope gets everything.

:func:`prune` applies a scope to an answer object the register built in
full. Elements an answer cannot go without (the object's ``identificatie``,
a relation's ``gerelateerde``, the relations ZDS 1.2 demands per operation)
stay even when the scope leaves them out; the schema would refuse the answer
otherwise.
"""

from __future__ import annotations

from collections.abc import Collection

from lxml import etree

from registers.stuf import SCOPE, children, local

ALWAYS = frozenset({"identificatie", "gerelateerde", "indicatieLaatsteStatus"})


def prune(
    answer: etree._Element,
    scope: etree._Element | None,
    *,
    keep: Collection[str] = (),
) -> etree._Element:
    """Remove from ``answer`` what ``scope`` does not ask for; in place.

    ``keep`` names elements that stay at any depth (those a ZDS 1.2 form
    demands).
    """
    if scope is None or _everything(scope):
        return answer
    wanted: dict[str, etree._Element] = {}
    for element in children(scope):
        wanted.setdefault(local(element), element)
    for element in list(answer):
        if not isinstance(element.tag, str):
            continue
        name = local(element)
        if name in wanted:
            prune(element, wanted[name], keep=keep)
        elif name not in ALWAYS and name not in keep:
            answer.remove(element)
    return answer


def _everything(scope: etree._Element) -> bool:
    if scope.get(SCOPE) == "alles":
        return True
    return next(children(scope), None) is None
