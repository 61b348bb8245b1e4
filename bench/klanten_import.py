"""Benchmark of ``emo klanten import``: the issue's figure, 100,000 rows in
under a minute on SQLite, and the same import interrupted and resumed.

Runs the real command (``.venv/bin/emo klanten import``) as a child process
on a generated file of made-up persons (valid BSNs, Dutch-looking addresses;
one row in 50,000 with a BSN failing the 11-test, to be rejected), in a
temporary directory:

1. a clean import, timed from start to exit, with the rows per second;
2. the same file into a fresh database, the process killed with SIGKILL
   once about 40% is committed, then the same command again: the time of
   the resumed run, and a check that every valid person is there once with
   one history row.

Run: ``.venv/bin/python bench/klanten_import.py [--rows N] [--database URL]``
(``--database`` a PostgreSQL URL to measure that instead; its tables are
emptied first). The load average is printed with the figures: other work on
the machine moves them.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from registers.klantregister.database import Database  # noqa: E402
from registers.klantregister.entiteiten import NPS  # noqa: E402
from registers.klantregister.model import imports, metadata  # noqa: E402
from tests.registers.klantregister.csvdata import write_persons  # noqa: E402

EMO = ROOT / ".venv" / "bin" / "emo"
BROKEN = ["123456789", "Anna", "", "Jansen", "1980-01-01", "V"] + [""] * 7


def _command(path: Path, url: str) -> list[str]:
    return [str(EMO), "klanten", "import", str(path), "--database", url]


def _run(path: Path, url: str) -> float:
    """The import to its end; returns the CPU seconds it used (user and
    system), which other work on the machine does not inflate the way it
    does the wall time. Its progress bar (stderr) is shown only when it
    fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(_command(path, url), capture_output=True, text=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"emo klanten import failed:\n{done.stderr[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def _count(database: Database, table: sa.Table) -> int:
    return int(
        database.read(
            lambda c: c.execute(
                sa.select(sa.func.count()).select_from(table)
            ).scalar_one()
        )
    )


def _empty(url: str) -> None:
    database = Database.open(url)
    try:
        with database.engine.begin() as connection:
            for table in reversed(metadata.sorted_tables):
                connection.execute(table.delete())
    finally:
        database.close()


def _clean_run(path: Path, url: str, rows: int) -> tuple[float, float]:
    """Wall and CPU seconds of a clean import."""
    started = time.perf_counter()
    cpu = _run(path, url)
    seconds = time.perf_counter() - started
    database = Database.open(url)
    try:
        stored = _count(database, NPS.table)
    finally:
        database.close()
    expected = rows - rows // 50_000
    assert stored == expected, f"{stored} persons stored, {expected} expected"
    return seconds, cpu


def _interrupted_run(path: Path, url: str, rows: int) -> tuple[int, float]:
    """Kill the import at about 40%, resume it; rows done when killed and
    seconds of the resumed run."""
    process = subprocess.Popen(
        _command(path, url), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    database = Database.open(url)
    try:
        done = 0
        while process.poll() is None and done < rows * 0.4:
            time.sleep(0.02)
            try:
                done = int(
                    database.read(
                        lambda c: c.execute(
                            sa.select(sa.func.max(imports.c.rijen_verwerkt))
                        ).scalar()
                    )
                    or 0
                )
            except Exception:  # the import is migrating or holds the lock
                continue
        if process.poll() is not None:
            raise SystemExit("the import finished before it could be killed")
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        killed_at = _count(database, NPS.table)

        started = time.perf_counter()
        _run(path, url)
        seconds = time.perf_counter() - started

        expected = rows - rows // 50_000
        persons = _count(database, NPS.table)
        history = _count(database, NPS.history)
        assert persons == expected, f"{persons} persons after resuming"
        assert history == expected, f"{history} history rows after resuming"
        return killed_at, seconds
    finally:
        database.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", help="a PostgreSQL URL (default: SQLite)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="emo-klanten-bench-") as folder:
        base = Path(folder)
        path = base / "klanten.csv"
        broken = {n: BROKEN for n in range(50_000, args.rows + 1, 50_000)}
        write_persons(path, args.rows, broken=broken)
        size = path.stat().st_size / 1_000_000

        def url(name: str) -> str:
            if args.database:
                _empty(args.database)
                return str(args.database)
            return f"sqlite:///{base / name}"

        seconds, cpu = _clean_run(path, url("clean.db"), args.rows)
        killed_at, resumed = _interrupted_run(path, url("killed.db"), args.rows)

    backend = "PostgreSQL" if args.database else "SQLite"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"emo klanten import, {args.rows:,} rows ({size:.1f} MB), {backend}")
    print(
        f"  clean import:  {seconds:6.1f} s wall ({args.rows / seconds:,.0f} rows/s), "
        f"{cpu:.1f} s CPU"
    )
    print(
        f"  killed (SIGKILL) with {killed_at:,} persons committed; resumed run "
        f"{resumed:.1f} s; every person once, one history row each"
    )
    print(f"  load average before exit: {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
