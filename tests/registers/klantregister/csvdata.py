"""Made-up persons for import tests: valid BSNs, Dutch-looking addresses.

The BSNs are computed (eight digits, then the check digit the 11-test asks
for), so they are valid numbers; none is known to belong to anyone, and the
data is generated here, never taken from a real register.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

HEADER = [
    "bsn",
    "voornamen",
    "tussenvoegsel",
    "achternaam",
    "geboortedatum",
    "geslacht",
    "straat",
    "huisnummer",
    "huisletter",
    "postcode",
    "woonplaats",
    "telefoon",
    "e-mail",
]
_NAMES = ["Jansen", "de Vries", "Bakker", "Visser", "Smit", "Meijer", "Mulder"]
_FIRST = ["Anna", "Jan", "Fatima", "Mohammed", "Sanne", "Daan", "Eva", "Lucas"]
_STREETS = ["Kerkstraat", "Dorpsweg", "Stationsplein", "Molenlaan", "Beukenhof"]
_PLACES = ["Utrecht", "Zwolle", "Haarlem", "Tilburg", "Leeuwarden"]


def bsns(start: int = 10_000_000) -> Iterator[str]:
    """Valid BSNs in increasing order, from eight digits ``start`` on."""
    number = start
    while True:
        digits = f"{number:08d}"
        total = sum(int(d) * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10:
            yield digits + str(check)
        number += 1


def person(index: int, bsn: str) -> list[str]:
    """One row of :data:`HEADER`."""
    name = _NAMES[index % len(_NAMES)]
    voorvoegsel, _, achternaam = name.rpartition(" ")
    return [
        bsn,
        _FIRST[index % len(_FIRST)],
        voorvoegsel,
        achternaam,
        f"{1940 + index % 60}-{1 + index % 12:02d}-{1 + index % 28:02d}",
        "MV"[index % 2],
        _STREETS[index % len(_STREETS)],
        str(1 + index % 200),
        "" if index % 5 else "a",
        f"{1000 + index % 9000}{'ABCDEFGH'[index % 8]}{'KLMN'[index % 4]}",
        _PLACES[index % len(_PLACES)],
        f"06{index % 100_000_000:08d}",
        f"klant{index}@example.nl",
    ]


def write_persons(
    path: Path, count: int, *, broken: dict[int, list[str]] | None = None
) -> list[str]:
    """A ``;``-separated file of ``count`` persons; returns their BSNs.

    ``broken`` replaces some rows (by 1-based row number) with other cells.
    """
    numbers: list[str] = []
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        for index, bsn in zip(range(count), bsns(), strict=False):
            row = (broken or {}).get(index + 1) or person(index, bsn)
            numbers.append(row[0])
            writer.writerow(row)
    return numbers
