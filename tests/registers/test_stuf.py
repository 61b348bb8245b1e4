"""Reading request elements by local name, in whatever namespace they come,
and writing answer elements: the helpers both registers share."""

from __future__ import annotations

from lxml import etree

from registers.stuf import (
    ABSENT,
    NO_VALUE,
    XSI_NIL,
    child,
    children,
    has_content,
    local,
    nil,
    path,
    read,
    read_text,
    sub,
    text,
    value,
)

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

NILS = b"""<object xmlns="http://www.egem.nl/StUF/sector/bg/0310"
    xmlns:StUF="http://www.egem.nl/StUF/StUF0301"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <geslachtsnaam>  Jansen </geslachtsnaam>
  <voornamen xsi:nil="true" StUF:noValue="geenWaarde"/>
  <voorletters xsi:nil="1">J</voorletters>
  <voorvoegsel>   </voorvoegsel>
  <verblijfsadres><aoa.postcode xsi:nil="true"/></verblijfsadres>
  <correspondentieAdres><adres><postcode>2011AA</postcode></adres>
  </correspondentieAdres>
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


def test_a_missing_element_has_no_children() -> None:
    """children() of None yields nothing, so a reader need not check first."""
    assert list(children(None)) == []
    assert list(children(None, "heeft")) == []


def test_the_local_name_of_a_comment_is_empty() -> None:
    element = etree.fromstring(MESSAGE)
    assert local(element[0]) == ""
    assert local(element[1]) == ""
    assert local(element[2]) == "identificatie"


def test_left_out_nil_and_empty_are_told_apart() -> None:
    """StUF 03.01 section 3.3: a left-out element is ABSENT; one that is nil
    (``true`` or ``1``), empty or only spaces has no value (None); a value
    is trimmed."""
    element = etree.fromstring(NILS)
    assert read_text(element, "geslachtsnaam") == "Jansen"
    assert read_text(element, "voornamen") is None
    assert read_text(element, "voorletters") is None
    assert read_text(element, "voorvoegsel") is None
    assert read_text(element, "geboortedatum") is ABSENT
    assert read(child(element, "geslachtsnaam")) == "Jansen"
    assert read(child(element, "voornamen")) is None
    assert read(None) is ABSENT
    assert value(None) is None
    assert not ABSENT


def test_content_is_a_value_anywhere_below_that_is_not_nil() -> None:
    """has_content(): an address holding only nil elements is empty; one
    with a value deeper down is not."""
    element = etree.fromstring(NILS)
    assert not has_content(child(element, "verblijfsadres"))
    assert has_content(child(element, "correspondentieAdres"))
    assert not has_content(child(element, "voornamen"))
    assert not has_content(None)


def test_written_elements_carry_their_value_or_nil() -> None:
    """sub() writes the text and attributes given; nil() an element without
    a value, geenWaarde unless another noValue is named."""
    parent = etree.Element("parent")
    written = sub(parent, "naam", "Jansen", soort="achternaam")
    empty = sub(parent, "leeg")
    unknown = nil(parent, "geboortedatum")
    hidden = nil(parent, "bsn", "waardeBestaatMaarNietGeautoriseerd")
    assert list(parent) == [written, empty, unknown, hidden]
    assert (written.text, written.get("soort")) == ("Jansen", "achternaam")
    assert empty.text is None
    assert (unknown.text, unknown.get(XSI_NIL), unknown.get(NO_VALUE)) == (
        None,
        "true",
        "geenWaarde",
    )
    assert hidden.get(NO_VALUE) == "waardeBestaatMaarNietGeautoriseerd"
