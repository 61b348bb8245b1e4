"""The number checks: the 11-test, the forms of KvK and vestigingsnummer,
StUF's incomplete dates, and how a BSN may be shown."""

from __future__ import annotations

import pytest

from registers.klantregister import nummers


@pytest.mark.parametrize("number", ["111222333", "123456782", "999999990", "900070511"])
def test_numbers_passing_the_elfproef_are_bsns(number: str) -> None:
    """Weights 9..2 and -1, the sum divisible by 11."""
    assert nummers.bsn(number) == number


@pytest.mark.parametrize(
    "number", ["123456789", "111222334", "000000000", "12345678", "12345678a"]
)
def test_other_numbers_are_not(number: str) -> None:
    """A wrong check digit, all zeros, eight digits, a letter: refused."""
    with pytest.raises(nummers.InvalidValue):
        nummers.bsn(number)


def test_the_refusal_masks_the_bsn() -> None:
    """The text shows the last four digits only."""
    with pytest.raises(nummers.InvalidValue) as raised:
        nummers.bsn("123456789")
    assert "123456789" not in str(raised.value)
    assert "*****6789" in str(raised.value)


def test_kvk_number_and_vestigingsnummer_have_their_lengths() -> None:
    """KvK number: 8 digits; vestigingsnummer: 12."""
    assert nummers.kvk_nummer("12345678") == "12345678"
    assert nummers.vestigingsnummer("000012345678") == "000012345678"
    for wrong in ("1234567", "123456789"):
        with pytest.raises(nummers.InvalidValue):
            nummers.kvk_nummer(wrong)
    with pytest.raises(nummers.InvalidValue):
        nummers.vestigingsnummer("12345678")


def test_postcodes_are_written_as_stuf_bg_writes_them() -> None:
    """``1234 ab`` becomes ``1234AB``; ``0123AB`` is no postcode."""
    assert nummers.postcode("1234 ab") == "1234AB"
    with pytest.raises(nummers.InvalidValue):
        nummers.postcode("0123AB")


@pytest.mark.parametrize(
    ("value", "indicator", "expected"),
    [
        ("19800517", None, ("19800517", None)),
        ("19800500", None, ("19800500", "D")),
        ("19800000", "M", ("19800000", "M")),
        ("00000000", "J", ("00000000", "J")),
        ("19800517", "V", ("19800517", None)),
    ],
)
def test_incomplete_dates_keep_their_indicator(
    value: str, indicator: str | None, expected: tuple[str, str | None]
) -> None:
    """StUF 03.01 indOnvolledigeDatum: J, M, D; complete dates need none."""
    assert nummers.datum(value, indicator) == expected


@pytest.mark.parametrize(
    ("value", "indicator"), [("19800230", None), ("19800517", "M")]
)
def test_impossible_dates_are_refused(value: str, indicator: str | None) -> None:
    """30 February, or a day given where the indicator says it is unknown."""
    with pytest.raises(nummers.InvalidValue):
        nummers.datum(value, indicator)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1980-05-17", ("19800517", None)),
        ("17-05-1980", ("19800517", None)),
        ("17/5/1980", ("19800517", None)),
        ("1980-05", ("19800500", "D")),
        ("1980", ("19800000", "M")),
    ],
)
def test_spreadsheet_dates_become_stuf_dates(
    text: str, expected: tuple[str, str | None]
) -> None:
    """The import reads the dates people type."""
    assert nummers.datum_uit_tekst(text) == expected


def test_a_postadres_is_a_postbus_or_antwoordnummer_with_a_number() -> None:
    """PostadresType P or A; PostadresNummer 1..99999, leading zeros gone."""
    assert nummers.postadres_type("p") == "P"
    assert nummers.postadres_nummer("0042") == "42"
    for check, value in (
        (nummers.postadres_type, "X"),
        (nummers.postadres_nummer, "0"),
        (nummers.postadres_nummer, "100000"),
        (nummers.landcode, "60301"),
        (nummers.landcode, "DE"),
    ):
        with pytest.raises(nummers.InvalidValue):
            check(value)


@pytest.mark.parametrize(
    ("value", "padded"),
    [
        ("20270116", "20270116000000000"),
        ("20270116123000", "20270116123000000"),
        ("20270116123000123", "20270116123000123"),
        ("20270000", "20270000000000000"),
    ],
)
def test_tijdstippen_are_padded_to_compare_as_text(value: str, padded: str) -> None:
    """A StUF Tijdstip of 8 to 17 digits, as 17 digits."""
    assert nummers.tijdstip(value) == padded


@pytest.mark.parametrize("value", ["2027011", "20271301", "20270116250000", "x"])
def test_impossible_tijdstippen_are_refused(value: str) -> None:
    with pytest.raises(nummers.InvalidValue):
        nummers.tijdstip(value)
