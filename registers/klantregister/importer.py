"""``emo klanten import FILE.csv``: many clients into the klantregister at once.

::

    emo klanten import FILE.csv [--kind personen|bedrijven] [--database URL]
                                [--batch N] [--restart]

The file is CSV with a header row, separated by ``;`` (as Dutch spreadsheets
write it), ``,`` or tabs, in UTF-8 (else Windows-1252 is assumed). Column
names are the register's own (``bsn``, ``geslachtsnaam``,
``verblijf_postcode``, ...; see :mod:`registers.klantregister.model`) or the
plain ones a spreadsheet has (``achternaam``, ``tussenvoegsel``,
``straat``, ``postcode``, ``huisnummer``, ``woonplaats``, ``e-mail``, ...);
a plain address goes to the verblijfsadres of a person and the bezoekadres
of a company. ``--kind`` follows from the header when left out: a ``bsn``
column means personen. A row of ``bedrijven`` is a niet-natuurlijk persoon
(``rsin`` and/or ``kvk_nummer``, ``statutaire_naam``, ``rechtsvorm``, ...);
when it has a ``vestigingsnummer`` too, that vestiging (``handelsnaam``, the
same address) is imported as well.

What a row does: an unknown subject is added; a known one gets the row's
values for the columns the file has (an empty cell clears that value,
columns the file lacks keep theirs); a row that changes nothing is counted
as unchanged. Several rows for one subject in one batch make one change with
the last row's values. Every change writes history, like a kennisgeving
(bron ``import:<file name>``).

Rows that cannot be taken (a BSN failing the 11-test, a postcode that is
none, a date that does not exist, ...) are rejected, each with its reason;
``FILE.rejected.csv`` beside the file lists them (``rij`` 1 is the first
row below the header) with their original cells, for correcting and
importing again. Reasons never hold a BSN, only the column that is wrong.

Resumable: rows are taken in batches, each in one transaction that also
stores how far the import got (``krg_imports``, keyed by the file's SHA-256).
After an interruption (Ctrl-C, a crash, a full disk) the same command goes
on after the last committed batch; nothing is imported twice. A finished
file is not imported again unless ``--restart`` is given.

Exit status: 0 done (rejected rows do not change that; they are reported),
1 a batch failed in the database (it was rolled back; run the command again
to resume), 2 the command or file cannot be used, 130 interrupted.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import hashlib
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa

from esb.errors import StufFault
from registers.klantregister import bulk
from registers.klantregister.database import Database, database_url
from registers.klantregister.entiteiten import NNP, NPS, VES, Entiteit
from registers.klantregister.model import import_afwijzingen, imports
from registers.klantregister.store import Bron

KINDS = ("personen", "bedrijven")
DEFAULT_BATCH = 1000

# Plain names of the parts of an address, as spreadsheets have them.
_ADRES_ALIASES = {
    "woonplaats": "woonplaats",
    "plaats": "woonplaats",
    "straat": "straatnaam",
    "straatnaam": "straatnaam",
    "postcode": "postcode",
    "huisnummer": "huisnummer",
    "huisletter": "huisletter",
    "toevoeging": "huisnummertoevoeging",
    "huisnummertoevoeging": "huisnummertoevoeging",
}
_CONTACT = {
    "telefoon": "telefoonnummer",
    "telefoonnummer": "telefoonnummer",
    "email": "emailadres",
    "e_mail": "emailadres",
    "emailadres": "emailadres",
    "e_mailadres": "emailadres",
}


def _aliases(entiteit: Entiteit, address: str, extra: dict[str, str]) -> dict[str, str]:
    names = {column: column for column in entiteit.columns}
    names.update(_CONTACT)
    for plain, part in _ADRES_ALIASES.items():
        names[plain] = f"{address}_{part}"
        names[f"correspondentie_{plain}"] = f"correspondentie_{part}"
    names.update(extra)
    names.pop("geboortedatum_indicator", None)
    return names


PERSONEN = _aliases(
    NPS,
    "verblijf",
    {
        "burgerservicenummer": "bsn",
        "achternaam": "geslachtsnaam",
        "tussenvoegsel": "voorvoegsel",
        "voorvoegsels": "voorvoegsel",
        "geslacht": "geslachtsaanduiding",
    },
)
BEDRIJVEN = {
    **_aliases(
        NNP,
        "bezoek",
        {
            "kvk": "kvk_nummer",
            "kvknummer": "kvk_nummer",
            "kvk_nr": "kvk_nummer",
            "naam": "statutaire_naam",
        },
    ),
    "vestigingsnummer": "vestigingsnummer",
    "handelsnaam": "handelsnaam",
}


class CannotImport(Exception):
    """The command or the file cannot be used; the text says why."""


@dataclass
class Figures:
    """What an import did, counted over every run of it."""

    rows: int = 0
    aangemaakt: int = 0
    gewijzigd: int = 0
    ongewijzigd: int = 0
    afgewezen: int = 0
    seconds: float = 0.0
    rejected_file: Path | None = None
    finished: bool = False
    resumed_at: int = 0


# The file ---------------------------------------------------------------------


@dataclass(frozen=True)
class _FileInfo:
    sha256: str
    encoding: str
    lines: int


def _inspect(path: Path) -> _FileInfo:
    """Hash the file, count its lines, and find out whether it is UTF-8."""
    digest = hashlib.sha256()
    lines = 0
    utf8 = True
    decoder = _utf8_decoder()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            lines += chunk.count(b"\n")
            if utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
        if utf8:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    return _FileInfo(digest.hexdigest(), "utf-8-sig" if utf8 else "cp1252", lines)


def _utf8_decoder() -> codecs.IncrementalDecoder:
    return codecs.getincrementaldecoder("utf-8")()


def _open(path: Path, encoding: str) -> TextIO:
    return open(path, encoding=encoding, newline="")


def _dialect(header_line: str) -> str:
    counts = {sep: header_line.count(sep) for sep in (";", ",", "\t")}
    return max(counts, key=lambda sep: counts[sep])


def _normalise_header(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", name.strip().lower()).strip("_")


# Progress -------------------------------------------------------------------


class Progress:
    """A plain-text progress bar on a stream (stderr): redrawn in place on a
    terminal, a line per tenth otherwise (a log file stays readable)."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        start: int = 0,
    ) -> None:
        self.total = max(total, 1)
        self.start = start
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.tty = self.stream.isatty()
        self._drawn = -1.0
        self._tenth = -1

    def update(self, done: int, rejected: int, *, force: bool = False) -> None:
        now = self.clock()
        fraction = min(done / self.total, 1.0)
        if self.tty:
            if not force and now - self._drawn < 0.2:
                return
            self._drawn = now
            end = "\r"
        else:
            tenth = int(fraction * 10)
            if not force and tenth == self._tenth:
                return
            self._tenth = tenth
            end = "\n"
        elapsed = max(now - self.started, 1e-6)
        bar = "#" * int(fraction * 30)
        self.stream.write(
            f"[{bar:<30}] {fraction:4.0%} {done:,}/{self.total:,} rijen, "
            f"{rejected:,} afgewezen, {(done - self.start) / elapsed:,.0f} rijen/s{end}"
        )
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# The import -----------------------------------------------------------------


def rejected_path(path: Path) -> Path:
    """``klanten.csv`` -> ``klanten.rejected.csv``, beside it."""
    return path.with_name(path.stem + ".rejected.csv")


def import_file(
    path: Path,
    database: Database,
    *,
    kind: str | None = None,
    batch: int = DEFAULT_BATCH,
    restart: bool = False,
    progress: Progress | None = None,
    stream: TextIO | None = None,
    clock: Callable[[], float] = time.time,
    after_batch: Callable[[int], None] | None = None,
) -> Figures:
    """Import ``path`` into ``database``; see the module's docstring.

    ``after_batch`` is called with the rows done after each committed batch
    (what the progress bar shows; tests interrupt an import there). Raises
    :class:`CannotImport` when the file or its header cannot be used.
    """
    if not path.is_file():
        raise CannotImport(f"{path}: geen bestand")
    info = _inspect(path)
    started = time.perf_counter()

    with _open(path, info.encoding) as handle:
        header_line = handle.readline()
        if not header_line.strip():
            raise CannotImport(f"{path}: leeg bestand, of geen kopregel")
        delimiter = _dialect(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter))
        names = set(map(_normalise_header, header))
        if kind is None:
            companies = names & {"rsin", "kvk_nummer", "kvk", "kvknummer"}
            persons = names & {"bsn", "burgerservicenummer"}
            kind = "bedrijven" if companies and not persons else "personen"
        mapping = _mapping(header, kind, path, stream)

    key = f"{kind}:{info.sha256}"
    record = _checkpoint(database, key, path, kind, clock(), restart)
    if record["klaar_op"] is not None:
        figures = _figures(record)
        figures.finished = True
        return figures
    skip = int(record["rijen_verwerkt"])
    bron = Bron(f"import:{path.name}")
    bar = progress or Progress(max(info.lines - 1, 0), stream, start=skip)

    import_id = int(record["id"])
    done = skip
    rejected_total = int(record["afgewezen"])
    with _open(path, info.encoding) as handle:
        reader = csv.reader(handle, delimiter=delimiter)
        next(reader, None)
        rows = _numbered(reader, skip)
        while True:
            chunk = [r for _, r in zip(range(batch), rows, strict=False)]
            if not chunk:
                break
            outcome = _batch(database, import_id, kind, mapping, chunk, bron, clock())
            done += len(chunk)
            rejected_total += len(outcome.rejected)
            bar.update(done, rejected_total)
            if after_batch is not None:
                after_batch(done)

    with database.batch() as connection:
        connection.execute(
            sa.update(imports)
            .where(imports.c.id == import_id)
            .values(klaar_op=clock(), bijgewerkt_op=clock())
        )
    bar.update(done, rejected_total, force=True)
    bar.close()
    record = database.read(
        lambda c: (
            c.execute(sa.select(imports).where(imports.c.id == import_id))
            .mappings()
            .one()
        )
    )
    figures = _figures(record)
    figures.resumed_at = skip
    figures.seconds = time.perf_counter() - started
    figures.rejected_file = _write_rejected(
        database, import_id, path, info.encoding, delimiter
    )
    return figures


def _numbered(
    reader: Iterator[list[str]], skip: int
) -> Iterator[tuple[int, list[str]]]:
    for rij, cells in enumerate(reader, start=1):
        if rij > skip:
            yield rij, cells


def _mapping(
    header: list[str], kind: str, path: Path, stream: TextIO | None
) -> list[str | None]:
    aliases = PERSONEN if kind == "personen" else BEDRIJVEN
    mapping: list[str | None] = []
    ignored: list[str] = []
    for name in header:
        column = aliases.get(_normalise_header(name))
        if column is not None and column in mapping:
            raise CannotImport(f"{path}: kolom {name!r} komt twee keer voor")
        mapping.append(column)
        if column is None:
            ignored.append(name)
    if ignored:
        print(
            f"Kolommen die niet worden ingelezen: {', '.join(ignored)}",
            file=stream or sys.stderr,
        )
    needed = ("bsn",) if kind == "personen" else ("rsin", "kvk_nummer")
    if not any(column in mapping for column in needed):
        raise CannotImport(
            f"{path}: de kopregel mist {' of '.join(needed)} (soort {kind})"
        )
    return mapping


def _checkpoint(
    database: Database, key: str, path: Path, kind: str, now: float, restart: bool
) -> sa.RowMapping:
    def work(connection: sa.Connection) -> sa.RowMapping:
        if restart:
            connection.execute(sa.delete(imports).where(imports.c.sleutel == key))
        found = (
            connection.execute(sa.select(imports).where(imports.c.sleutel == key))
            .mappings()
            .first()
        )
        if found is not None:
            return found
        connection.execute(
            sa.insert(imports).values(
                sleutel=key,
                bestand=str(path)[-500:],
                soort=kind,
                rijen_verwerkt=0,
                aangemaakt=0,
                gewijzigd=0,
                ongewijzigd=0,
                afgewezen=0,
                begonnen_op=now,
                bijgewerkt_op=now,
            )
        )
        return (
            connection.execute(sa.select(imports).where(imports.c.sleutel == key))
            .mappings()
            .one()
        )

    return database.write(work)


def _batch(
    database: Database,
    import_id: int,
    kind: str,
    mapping: list[str | None],
    chunk: list[tuple[int, list[str]]],
    bron: Bron,
    now: float,
) -> bulk.Outcome:
    outcome = bulk.Outcome()
    rows: list[bulk.Row] = []
    for rij, cells in chunk:
        named = {c: v for c, v in zip(mapping, cells, strict=False) if c is not None}
        if len(cells) != len(mapping):
            outcome.rejected.append(
                (rij, f"{len(cells)} cellen, de kopregel heeft er {len(mapping)}")
            )
            continue
        checked = bulk.read_row(kind, rij, named)
        if isinstance(checked, str):
            outcome.rejected.append((rij, checked))
        else:
            rows.append(checked)
    columns = {c for c in mapping if c is not None}
    if "geboortedatum" in columns:
        columns.add("geboortedatum_indicator")

    with database.batch() as connection:
        main = NPS if kind == "personen" else NNP
        rejected = bulk.upsert(
            connection,
            main,
            [(r.rij, r.main) for r in rows],
            columns,
            bron,
            now,
            outcome,
        )
        vestigingen = [
            (r.rij, r.vestiging)
            for r in rows
            if r.vestiging is not None and r.rij not in rejected
        ]
        if vestigingen:
            ves_columns = {
                c.replace("bezoek_", "verblijf_")
                for c in columns | {"vestigingsnummer", "handelsnaam"}
            } & set(VES.columns)
            bulk.upsert(connection, VES, vestigingen, ves_columns, bron, now, outcome)
        if outcome.rejected:
            connection.execute(
                sa.insert(import_afwijzingen),
                [
                    {"import_id": import_id, "rij": rij, "reden": reden[:500]}
                    for rij, reden in outcome.rejected
                ],
            )
        connection.execute(
            sa.update(imports)
            .where(imports.c.id == import_id)
            .values(
                rijen_verwerkt=imports.c.rijen_verwerkt + len(chunk),
                aangemaakt=imports.c.aangemaakt + outcome.aangemaakt,
                gewijzigd=imports.c.gewijzigd + outcome.gewijzigd,
                ongewijzigd=imports.c.ongewijzigd + outcome.ongewijzigd,
                afgewezen=imports.c.afgewezen + len(outcome.rejected),
                bijgewerkt_op=now,
            )
        )
    return outcome


def _figures(record: sa.RowMapping) -> Figures:
    return Figures(
        rows=int(record["rijen_verwerkt"]),
        aangemaakt=int(record["aangemaakt"]),
        gewijzigd=int(record["gewijzigd"]),
        ongewijzigd=int(record["ongewijzigd"]),
        afgewezen=int(record["afgewezen"]),
        finished=record["klaar_op"] is not None,
    )


def _write_rejected(
    database: Database, import_id: int, path: Path, encoding: str, delimiter: str
) -> Path | None:
    """``FILE.rejected.csv``: each rejected row with its reason and cells."""
    reasons: dict[int, str] = dict(
        database.read(
            lambda c: c.execute(
                sa.select(import_afwijzingen.c.rij, import_afwijzingen.c.reden)
                .where(import_afwijzingen.c.import_id == import_id)
                .order_by(import_afwijzingen.c.rij)
            ).all()
        )
    )
    target = rejected_path(path)
    if not reasons:
        target.unlink(missing_ok=True)
        return None
    temporary = target.with_name(f".{target.name}.tmp")
    with (
        _open(path, encoding) as source,
        open(temporary, "w", encoding="utf-8", newline="") as out,
    ):
        reader = csv.reader(source, delimiter=delimiter)
        writer = csv.writer(out, delimiter=delimiter)
        header = next(reader, [])
        writer.writerow(["rij", "reden", *header])
        for rij, cells in enumerate(reader, start=1):
            if rij in reasons:
                writer.writerow([rij, reasons[rij], *cells])
    os.replace(temporary, target)
    return target


# The command ----------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="emo klanten import",
        description="Import persons or companies from a CSV file into the "
        "klantregister; resumable after an interruption.",
    )
    parser.add_argument("file", type=Path, help="the CSV file, with a header row")
    parser.add_argument(
        "--kind",
        choices=KINDS,
        help="personen (a bsn column) or bedrijven (rsin/kvk_nummer); "
        "default: from the header",
    )
    parser.add_argument(
        "--database",
        help="the klantregister's database URL (default: EMO_KLANTREGISTER_URL, "
        "else sqlite:///./var/klantregister.db)",
    )
    parser.add_argument(
        "--batch",
        type=int,
        default=DEFAULT_BATCH,
        help=f"rows per transaction and checkpoint (default {DEFAULT_BATCH})",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="forget an earlier (interrupted or finished) import of this file "
        "and start from its first row",
    )
    return parser


def main(argv: list[str]) -> int:
    """``emo klanten import``; returns the exit status."""
    args = _parser().parse_args(argv)
    if args.batch < 1:
        print("emo klanten import: --batch must be at least 1", file=sys.stderr)
        return 2
    try:
        database = Database.open(database_url(args.database))
    except (StufFault, ValueError, sa.exc.SQLAlchemyError) as exc:
        print(
            f"emo klanten import: the klantregister's database cannot be opened "
            f"({type(exc).__name__})",
            file=sys.stderr,
        )
        return 2
    try:
        figures = import_file(
            args.file,
            database,
            kind=args.kind,
            batch=args.batch,
            restart=args.restart,
        )
    except CannotImport as exc:
        print(f"emo klanten import: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "\nemo klanten import: onderbroken; het laatste volledige blok is "
            "opgeslagen. Geef hetzelfde commando opnieuw om verder te gaan.",
            file=sys.stderr,
        )
        return 130
    except (StufFault, sa.exc.SQLAlchemyError) as exc:
        # The batch under way was rolled back; the checkpoint is intact.
        reason = (
            f"{exc.omschrijving} ({exc.details or exc.code})"
            if isinstance(exc, StufFault)
            else f"databasefout ({type(exc).__name__})"
        )
        print(
            f"emo klanten import: {reason}; geef hetzelfde commando opnieuw om "
            "verder te gaan",
            file=sys.stderr,
        )
        return 1
    finally:
        database.close()
    print(_report(args.file, figures))
    return 0


def _report(path: Path, figures: Figures) -> str:
    if figures.finished and not figures.seconds:
        return (
            f"{path} is al ingelezen ({figures.rows:,} rijen); gebruik --restart "
            "om het opnieuw in te lezen"
        )
    lines = [
        f"{path}: {figures.rows:,} rijen"
        + (f" (hervat na rij {figures.resumed_at:,})" if figures.resumed_at else ""),
        f"  aangemaakt   {figures.aangemaakt:,}",
        f"  gewijzigd    {figures.gewijzigd:,}",
        f"  ongewijzigd  {figures.ongewijzigd:,}",
        f"  afgewezen    {figures.afgewezen:,}",
        f"  in {figures.seconds:.1f} s",
    ]
    if figures.rejected_file is not None:
        lines.append(f"  afgewezen rijen en redenen: {figures.rejected_file}")
    return "\n".join(lines)
