"""The numbers that identify the klantregister's subjects, checked and masked.

- BSN (burgerservicenummer) and RSIN (rechtspersonen en samenwerkingsverbanden
  informatienummer) are nine digits that pass the 11-test: the digits
  weighted 9, 8, ..., 2 and the last one -1 add up to a multiple of 11.
  ``000000000`` passes the arithmetic but is no number at all.
- A KvK number is eight digits; a vestigingsnummer twelve. Neither has a
  check digit that the Kamer van Koophandel publishes, so only the form is
  checked.

Every check raises :class:`InvalidValue` whose text says what is wrong
without repeating the number: texts go into faults that other applications
see, and into the import's report. :func:`mask` is what may be shown of a
BSN or RSIN: the last four digits.
"""

from __future__ import annotations

import datetime
import re

_DIGITS = re.compile(r"[0-9]+")
_POSTCODE = re.compile(r"([1-9][0-9]{3}) ?([A-Za-z]{2})")
# StUF 03.01 (stuf0301.xsd, IndOnvolledigeDatum): J, M and D say which parts
# of a date are unknown; V (the default) that it is complete.
ONVOLLEDIG = frozenset({"J", "M", "D", "V"})


class InvalidValue(ValueError):
    """A value that the register cannot accept; the text says why."""


def mask(number: str) -> str:
    """A BSN or RSIN as it may appear in a text: ``*****1234``."""
    return "*****" + number[-4:] if len(number) > 4 else "*****"


def passes_elfproef(number: str) -> bool:
    """Whether nine digits pass the 11-test (and are not all zeros)."""
    if len(number) != 9 or not number.isdigit() or number == "000000000":
        return False
    weights = range(9, 1, -1)
    total = sum(int(d) * w for d, w in zip(number[:8], weights, strict=True))
    total -= int(number[8])
    return total % 11 == 0


def _nine_digits(value: str, what: str) -> str:
    number = value.strip()
    if not _DIGITS.fullmatch(number) or len(number) != 9:
        raise InvalidValue(f"{what} moet uit 9 cijfers bestaan")
    if not passes_elfproef(number):
        raise InvalidValue(f"{what} {mask(number)} voldoet niet aan de elfproef")
    return number


def bsn(value: str) -> str:
    """A valid BSN, or :class:`InvalidValue`."""
    return _nine_digits(value, "BSN")


def rsin(value: str) -> str:
    """A valid RSIN, or :class:`InvalidValue`."""
    return _nine_digits(value, "RSIN")


def kvk_nummer(value: str) -> str:
    number = value.strip()
    if not _DIGITS.fullmatch(number) or len(number) != 8:
        raise InvalidValue("KvK-nummer moet uit 8 cijfers bestaan")
    return number


def vestigingsnummer(value: str) -> str:
    number = value.strip()
    if not _DIGITS.fullmatch(number) or len(number) != 12:
        raise InvalidValue("vestigingsnummer moet uit 12 cijfers bestaan")
    return number


def postcode(value: str) -> str:
    """A Dutch postcode as StUF-BG writes it: ``1234AB``."""
    found = _POSTCODE.fullmatch(value.strip())
    if found is None:
        raise InvalidValue("postcode moet de vorm 1234AB hebben")
    return found[1] + found[2].upper()


def huisnummer(value: str) -> str:
    number = value.strip()
    # BG:Huisnummering is a positiveInteger of at most five digits.
    if not _DIGITS.fullmatch(number) or not 0 < int(number) <= 99999:
        raise InvalidValue("huisnummer moet een getal van 1 tot en met 99999 zijn")
    return str(int(number))


def huisletter(value: str) -> str:
    letter = value.strip()
    if len(letter) != 1 or not letter.isascii() or not letter.isalpha():
        raise InvalidValue("huisletter moet één letter zijn")
    return letter


def huisnummertoevoeging(value: str) -> str:
    toevoeging = value.strip()
    if not re.fullmatch(r"[A-Za-z0-9]{1,4}", toevoeging):
        raise InvalidValue("huisnummertoevoeging is 1 tot 4 letters of cijfers")
    return toevoeging


def geslachtsaanduiding(value: str) -> str:
    code = value.strip().upper()
    if code not in ("M", "V", "O"):
        raise InvalidValue("geslachtsaanduiding moet M, V of O zijn")
    return code


def emailadres(value: str) -> str:
    address = value.strip()
    local, at, domain = address.rpartition("@")
    if not at or not local or "." not in domain or " " in address:
        raise InvalidValue("e-mailadres is niet van de vorm naam@domein.nl")
    return address


def datum(value: str, indicator: str | None = None) -> tuple[str, str | None]:
    """A StUF date (``yyyymmdd``) and its indOnvolledigeDatum, checked.

    Unknown parts are zeros, as StUF 03.01 writes an incomplete date
    (``19800000`` with indicator M: only the year is known). Without an
    indicator it follows from the zeros. A complete date is returned with
    indicator None (StUF's default V).
    """
    digits = value.strip()
    if not _DIGITS.fullmatch(digits) or len(digits) != 8:
        raise InvalidValue("datum moet de vorm jjjjmmdd hebben")
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:])
    if indicator is not None and indicator not in ONVOLLEDIG:
        raise InvalidValue("indOnvolledigeDatum moet J, M, D of V zijn")
    if indicator is None or indicator == "V":
        indicator = _implied(year, month, day)
    # The parts the indicator declares unknown must be zero.
    unknown = {"J": (year, month, day), "M": (month, day), "D": (day,), "V": ()}
    if any(unknown[indicator]):
        raise InvalidValue(
            f"datum met indOnvolledigeDatum {indicator} moet de onbekende delen op 0 "
            "hebben"
        )
    if indicator == "V":
        try:
            datetime.date(year, month, day)
        except ValueError as exc:
            raise InvalidValue("datum bestaat niet") from exc
    elif indicator == "D" and not 1 <= month <= 12:
        raise InvalidValue("maand van de datum bestaat niet")
    return digits, None if indicator == "V" else indicator


def _implied(year: int, month: int, day: int) -> str:
    if year == 0:
        return "J"
    if month == 0:
        return "M"
    if day == 0:
        return "D"
    return "V"


def datum_uit_tekst(value: str) -> tuple[str, str | None]:
    """A date as people write it in a spreadsheet, as a StUF date.

    Takes ``19800517``, ``1980-05-17``, ``17-05-1980``, ``17/05/1980``, and the
    incomplete ``1980-05`` and ``1980``.
    """
    text = value.strip()
    parts = re.split(r"[-/.]", text)
    if len(parts) == 1 and len(text) == 8:
        return datum(text)
    if len(parts) == 1 and len(text) == 4 and text.isdigit():
        return datum(text + "0000")
    if len(parts) == 2 and len(parts[0]) == 4:
        return datum(parts[0] + parts[1].zfill(2) + "00")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        if len(parts[0]) == 4:
            return datum(parts[0] + parts[1].zfill(2) + parts[2].zfill(2))
        if len(parts[2]) == 4:
            return datum(parts[2] + parts[1].zfill(2) + parts[0].zfill(2))
    raise InvalidValue("datum moet de vorm jjjj-mm-dd, dd-mm-jjjj of jjjjmmdd hebben")


def postadres_type(value: str) -> str:
    """BG:PostadresType: P for a postbus, A for an antwoordnummer."""
    code = value.strip().upper()
    if code not in ("P", "A"):
        raise InvalidValue("postadresType moet P (postbus) of A (antwoordnummer) zijn")
    return code


def postadres_nummer(value: str) -> str:
    """BG:PostadresNummer: the number of a postbus or antwoordnummer."""
    number = value.strip()
    if not _DIGITS.fullmatch(number) or not 0 < int(number) <= 99999:
        raise InvalidValue("postadresNummer moet een getal van 1 tot en met 99999 zijn")
    return str(int(number))


def landcode(value: str) -> str:
    """BG:Landcode: the GBA country code (table 34), 1 to 4 digits."""
    code = value.strip()
    if not _DIGITS.fullmatch(code) or len(code) > 4:
        raise InvalidValue("landcode moet uit 1 tot 4 cijfers bestaan")
    return code.zfill(4)


def tijdstip(value: str, indicator: str | None = None) -> str:
    """A StUF Tijdstip (``yyyymmdd[hhmmss[fff]]``, 8 to 17 digits) padded
    to 17 digits, so that moments compare as text.

    An incomplete date (its unknown parts zero, with indOnvolledigeDatum)
    is taken as its earliest moment.
    """
    digits = value.strip()
    if not _DIGITS.fullmatch(digits) or not 8 <= len(digits) <= 17:
        raise InvalidValue("tijdstip moet uit 8 tot 17 cijfers bestaan")
    datum(digits[:8], indicator)
    padded = digits.ljust(17, "0")
    hour, minute, second = (int(padded[i : i + 2]) for i in (8, 10, 12))
    if hour > 23 or minute > 59 or second > 59:
        raise InvalidValue("tijdstip bestaat niet")
    return padded
