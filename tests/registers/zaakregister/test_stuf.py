"""Reading request elements by local name, in whatever namespace they come."""

from __future__ import annotations

from lxml import etree

from registers.zaakregister.stuf import child, children, local, path, read_text, text

MESSAGE = b"""<object xmlns="http://www.egem.nl/StUF/sector/zkn/0310"
    xmlns:ZDS="http://www.stufstandaarden.nl/koppelvlak/zds0120"
    xmlns:StUF="http://www.egem.nl/StUF/StUF0301">
  <!-- a comment -->
  <?processing instruction?>
  <identificatie>Z-1</identificatie>
  <ZDS:omschrijving>in the wrong namespace</ZDS:omschrijving>
  <toelichting xmlns="">in no namespace</toelichting>
  <heeft><gerelateerde><code>1</code></gerelateerde></heeft>
  <heeft><gerelateerde><code>2</code></gerelateerde></heeft>
  <heeftAlsInitiator/>
</object>"""


def test_children_are_the_elements_only() -> None:
    """children() skips comments and processing instructions, keeps order."""
    element = etree.fromstring(MESSAGE)
    assert [local(c) for c in children(element)] == [
        "identificatie",
        "omschrijving",
        "toelichting",
        "heeft",
        "heeft",
        "heeftAlsInitiator",
    ]


def test_a_local_name_matches_in_any_namespace_or_none() -> None:
    """An element is found by its local name whatever its namespace, or
    without one; a name is matched whole, not as a prefix."""
    element = etree.fromstring(MESSAGE)
    assert read_text(element, "omschrijving") == "in the wrong namespace"
    assert read_text(element, "toelichting") == "in no namespace"
    heeft = children(element, "heeft")
    assert [text(c, "gerelateerde/code") for c in heeft] == ["1", "2"]
    assert path(element, "heeft/gerelateerde/code") is not None
    assert child(element, "heeftAls") is None
    assert child(None, "identificatie") is None


def test_the_local_name_of_a_comment_is_empty() -> None:
    element = etree.fromstring(MESSAGE)
    assert local(element[0]) == ""
    assert local(element[1]) == ""
    assert local(element[2]) == "identificatie"
