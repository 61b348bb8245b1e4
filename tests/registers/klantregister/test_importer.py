"""``emo klanten import``: bulk import, its report, and resuming it."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from registers.klantregister import store
from registers.klantregister.database import Database
from registers.klantregister.entiteiten import NNP, NPS, VES
from registers.klantregister.importer import (
    CannotImport,
    Progress,
    import_file,
    main,
    rejected_path,
)
from registers.klantregister.model import imports
from tests.conftest import ROOT
from tests.registers.klantregister.csvdata import HEADER, person, write_persons

BROKEN_BSN = [
    "123456789",
    "Anna",
    "",
    "Jansen",
    "1980-01-01",
    "V",
    "",
    "",
    "",
    "",
    "",
    "",
    "",
]
BROKEN_DATE = [
    "100000009",
    "Anna",
    "",
    "Jansen",
    "1980-02-30",
    "X",
    "",
    "",
    "",
    "9999",
    "",
    "",
    "",
]


class Interrupted(Exception):
    pass


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    opened = Database.open(database_url)
    yield opened
    opened.close()


def count(database: Database, table: sa.Table) -> int:
    return int(
        database.read(
            lambda c: c.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
        )
    )


def quiet() -> io.StringIO:
    return io.StringIO()


def test_a_file_of_persons_is_imported_with_history(
    tmp_path: Path, database: Database
) -> None:
    """Every row becomes a person, with one history row (T, bron import:)."""
    path = tmp_path / "klanten.csv"
    bsns = write_persons(path, 55)

    figures = import_file(path, database, batch=10, stream=quiet())

    assert (figures.rows, figures.aangemaakt, figures.afgewezen) == (55, 55, 0)
    assert count(database, NPS.table) == 55
    assert count(database, NPS.history) == 55
    subject = database.read(lambda c: store.find(c, NPS, {"bsn": bsns[3]}))
    assert subject is not None
    assert subject.gegevens["geslachtsnaam"] == "Visser"
    assert subject.gegevens["verblijf_postcode"] == "1003DN"
    assert subject.gegevens["geboortedatum"] == "19430404"
    [row] = database.read(lambda c: store.history(c, NPS, subject.id))
    assert (row["mutatiesoort"], row["bron"]) == ("T", "import:klanten.csv")
    assert figures.rejected_file is None


def test_rejected_rows_are_listed_beside_the_file(
    tmp_path: Path, sqlite_url: str
) -> None:
    """FILE.rejected.csv holds each rejected row, its number, its reason and
    its cells; the reasons hold no BSN. The command still succeeds."""
    path = tmp_path / "klanten.csv"
    write_persons(path, 20, broken={4: BROKEN_BSN, 9: BROKEN_DATE})

    status = main([str(path), "--database", sqlite_url, "--batch", "7"])

    assert status == 0
    with open(rejected_path(path), encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter=";"))
    assert rows[0] == ["rij", "reden", *HEADER]
    assert [r[0] for r in rows[1:]] == ["4", "9"]
    assert "elfproef" in rows[1][1] and "123456789" not in rows[1][1]
    assert rows[1][2:] == BROKEN_BSN
    assert "geboortedatum" in rows[2][1] and "geslachtsaanduiding" in rows[2][1]
    assert "postcode" in rows[2][1]


def test_an_interrupted_import_goes_on_where_it_stopped(
    tmp_path: Path, database: Database
) -> None:
    """Interrupted after two batches, the same import resumes at row 21:
    every person once, one history row each, every rejection reported."""
    path = tmp_path / "klanten.csv"
    write_persons(path, 55, broken={4: BROKEN_BSN, 33: BROKEN_BSN})

    def stop_after_two(done: int) -> None:
        if done == 20:
            raise Interrupted

    with pytest.raises(Interrupted):
        import_file(
            path, database, batch=10, stream=quiet(), after_batch=stop_after_two
        )
    assert count(database, NPS.table) == 19

    figures = import_file(path, database, batch=10, stream=quiet())

    assert figures.resumed_at == 20
    assert (figures.rows, figures.aangemaakt, figures.afgewezen) == (55, 53, 2)
    assert count(database, NPS.table) == 53
    assert count(database, NPS.history) == 53
    assert figures.rejected_file is not None
    listed = figures.rejected_file.read_text(encoding="utf-8").splitlines()
    assert [line.split(";")[0] for line in listed[1:]] == ["4", "33"]


@pytest.mark.slow
def test_an_import_killed_with_sigkill_resumes_without_duplicates(
    tmp_path: Path,
) -> None:
    """A real crash: the import process is killed mid-way; running the same
    command again finishes the file, and no person is there twice."""
    path = tmp_path / "klanten.csv"
    write_persons(path, 30_000)
    url = f"sqlite:///{tmp_path / 'klantregister.db'}"
    command = [
        sys.executable,
        "-c",
        "import sys; from registers.klantregister.importer import main; "
        "sys.exit(main(sys.argv[1:]))",
        str(path),
        "--database",
        url,
        "--batch",
        "500",
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    database = Database.open(url)
    try:
        deadline = time.monotonic() + 120
        done = 0
        while done < 5_000 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            done = (
                database.read(
                    lambda c: c.execute(
                        sa.select(sa.func.max(imports.c.rijen_verwerkt))
                    ).scalar()
                )
                or 0
            )
        assert process.poll() is None, "the import finished before it could be killed"
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        partial = count(database, NPS.table)
        assert 0 < partial < 30_000

        assert main([str(path), "--database", url, "--batch", "500"]) == 0
        assert count(database, NPS.table) == 30_000
        assert count(database, NPS.history) == 30_000
    finally:
        database.close()
        if process.poll() is None:
            process.kill()


def test_a_finished_file_is_not_imported_twice(tmp_path: Path, sqlite_url: str) -> None:
    """The same file again is reported as done; --restart imports it again,
    finding every person unchanged."""
    path = tmp_path / "klanten.csv"
    write_persons(path, 12)
    database = Database.open(sqlite_url)
    try:
        import_file(path, database, stream=quiet())
        again = import_file(path, database, stream=quiet())
        assert again.finished and again.aangemaakt == 12 and again.seconds == 0
        restarted = import_file(path, database, restart=True, stream=quiet())
        assert (restarted.aangemaakt, restarted.ongewijzigd) == (0, 12)
        assert count(database, NPS.history) == 12
    finally:
        database.close()


def test_a_row_changes_only_the_columns_its_file_has(
    tmp_path: Path, database: Database
) -> None:
    """A second file with fewer columns: its values (an empty cell clears),
    and the columns it lacks keep theirs; history W."""
    first = tmp_path / "eerste.csv"
    bsns = write_persons(first, 3)
    import_file(first, database, stream=quiet())
    second = tmp_path / "tweede.csv"
    second.write_text(
        f"bsn;achternaam;e-mail\n{bsns[0]};Jansen-Bakker;\n{bsns[1]};Vries;"
        "klant1@example.nl\n",
        encoding="utf-8",
    )

    figures = import_file(second, database, stream=quiet())

    assert (figures.gewijzigd, figures.ongewijzigd) == (1, 1)
    subject = database.read(lambda c: store.find(c, NPS, {"bsn": bsns[0]}))
    assert subject is not None
    assert subject.gegevens["geslachtsnaam"] == "Jansen-Bakker"
    assert subject.gegevens["emailadres"] is None
    assert subject.gegevens["voornamen"] == "Anna"
    rows = database.read(lambda c: store.history(c, NPS, subject.id))
    assert [r["mutatiesoort"] for r in rows] == ["T", "W"]


def test_companies_and_their_vestigingen_are_imported(
    tmp_path: Path, database: Database
) -> None:
    """A bedrijven file (found from its header): each row a niet-natuurlijk
    persoon, and its vestiging when the row has a vestigingsnummer."""
    path = tmp_path / "bedrijven.csv"
    path.write_text(
        "rsin,kvk,statutaire naam,rechtsvorm,postcode,huisnummer,plaats,"
        "vestigingsnummer,handelsnaam\n"
        "001234560,12345678,Acme B.V.,Besloten vennootschap,3511AA,1,Utrecht,"
        "000012345678,Acme Utrecht\n"
        ",87654321,Bakkerij Mug,Eenmanszaak,1234AB,2,Zwolle,,\n"
        ",,Naamloos,,,,,,\n",
        encoding="utf-8",
    )

    figures = import_file(path, database, stream=quiet())

    assert (figures.rows, figures.afgewezen) == (3, 1)
    assert count(database, NNP.table) == 2
    vestiging = database.read(
        lambda c: store.find(c, VES, {"vestigingsnummer": "000012345678"})
    )
    assert vestiging is not None
    assert vestiging.gegevens["kvk_nummer"] == "12345678"
    assert vestiging.gegevens["verblijf_woonplaats"] == "Utrecht"
    bakkerij = database.read(lambda c: store.find(c, NNP, {"kvk_nummer": "87654321"}))
    assert bakkerij is not None and bakkerij.gegevens["bezoek_postcode"] == "1234AB"


def test_a_windows_1252_file_is_read(tmp_path: Path, database: Database) -> None:
    """A file that is not UTF-8 is read as Windows-1252 (Excel's)."""
    path = tmp_path / "excel.csv"
    path.write_bytes("bsn;achternaam\n111222333;Hoëvenaar\n".encode("cp1252"))

    import_file(path, database, stream=quiet())

    subject = database.read(lambda c: store.find(c, NPS, {"bsn": "111222333"}))
    assert subject is not None and subject.gegevens["geslachtsnaam"] == "Hoëvenaar"


def test_a_file_without_a_key_column_is_refused(
    tmp_path: Path, sqlite_url: str
) -> None:
    """No bsn column: exit status 2 and nothing imported."""
    path = tmp_path / "zonder.csv"
    path.write_text("achternaam;postcode\nJansen;1234AB\n", encoding="utf-8")
    database = Database.open(sqlite_url)
    try:
        with pytest.raises(CannotImport, match="bsn"):
            import_file(path, database, stream=quiet())
    finally:
        database.close()

    assert main([str(path), "--database", sqlite_url]) == 2
    assert main([str(tmp_path / "missing.csv"), "--database", sqlite_url]) == 2


def test_the_progress_bar_writes_a_line_per_tenth_off_a_terminal() -> None:
    """Not a terminal (a log file): one line per tenth, no carriage returns."""
    stream = io.StringIO()
    ticks = iter(range(100))
    progress = Progress(1000, stream, clock=lambda: float(next(ticks)))
    for done in range(0, 1001, 50):
        progress.update(done, 0)

    lines = stream.getvalue().splitlines()
    assert len(lines) == 11
    assert "\r" not in stream.getvalue()
    assert lines[-1].startswith("[" + "#" * 30 + "] 100% 1,000/1,000 rijen")


def test_person_rows_use_plain_spreadsheet_names() -> None:
    """The test data uses spreadsheet names (achternaam, straat, e-mail)."""
    assert "achternaam" in HEADER and len(person(0, "100000009")) == len(HEADER)
