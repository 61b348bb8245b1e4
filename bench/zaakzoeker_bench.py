"""How fast the zaakzoeker searches a large zaakregister.

    .venv/bin/python bench/zaakzoeker_bench.py \\
        postgresql+psycopg://postgres@127.0.0.1:5432/zaakzoeker_bench

Fill the database first with ``bench/zaakzoeker_generate.py``. Each kind of
search runs ``--queries`` times with inputs drawn from the database (BSNs,
zaaktypen) or from the generator's vocabulary (free text), through
:meth:`zaakzoeker.search.Zoeker.zoek` exactly as the pages and the API call
it: the first page of 25, newest first, with the total count, as an employee
without access to confidential zaken. Prints p50, p95 and the maximum in
milliseconds per kind, and how many zaken the searches found on average.

Targets (issue 7): p95 under 200 ms by BSN and by zaaktype, under 500 ms for
free text, with 1,000,000 zaken; zaaktype and status together
(``zaaktype+status``) under 200 ms as well since migration 0002.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if __name__ == "__main__":  # run as a script: the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.zaakzoeker_generate import ONDERWERPEN, STATUSSEN, STRATEN
from zaakzoeker.database import open_engine
from zaakzoeker.search import Filters, Zoeker

GENERIC = ("aanvraag", "melding", "bezwaar", "vergunning", "aanvrager", "buren")


def percentile(ordered: list[float], fraction: float) -> float:
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def _free_text(rng: random.Random) -> str:
    words = [*ONDERWERPEN, *STRATEN, *GENERIC]
    if rng.random() < 0.5:
        return rng.choice(words)
    return f"{rng.choice(ONDERWERPEN)} {rng.choice(STRATEN)}"


def run(
    url: str,
    queries: int,
    *,
    seed: int = 11,
    warmup: int = 20,
    report: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    rng = random.Random(seed)
    engine = open_engine(url)
    zoeker = Zoeker(engine)
    with engine.connect() as connection:
        zaken = connection.execute(sa.text("SELECT count(*) FROM zrg_zaken")).scalar()
        bsns = list(
            connection.execute(
                sa.text(
                    "SELECT bsn FROM zrg_rollen TABLESAMPLE SYSTEM (2) "
                    "WHERE bsn IS NOT NULL LIMIT :n"
                ),
                {"n": queries * 5},
            ).scalars()
        )
        zaaktypen = list(
            connection.execute(
                sa.text("SELECT DISTINCT zaaktype_code FROM zrg_zaken")
            ).scalars()
        )
    kinds: dict[str, Callable[[], Filters]] = {
        "bsn": lambda: Filters(bsn=rng.choice(bsns)),
        "zaaktype": lambda: Filters(zaaktype=rng.choice(zaaktypen)),
        "tekst": lambda: Filters(tekst=_free_text(rng)),
        "status": lambda: Filters(status=rng.choice(STATUSSEN)),
        "zaaktype+status": lambda: Filters(
            zaaktype=rng.choice(zaaktypen), status=rng.choice(STATUSSEN)
        ),
        "geen filter": lambda: Filters(),
    }
    results: dict[str, Any] = {
        "zaken": zaken,
        "queries": queries,
        "load": os.getloadavg()[0],
        "kinds": {},
    }
    for kind, make in kinds.items():
        for _ in range(warmup):
            zoeker.zoek(make())
        timings: list[float] = []
        found: list[int] = []
        for _ in range(queries):
            filters = make()
            began = time.perf_counter()
            pagina = zoeker.zoek(filters)
            timings.append((time.perf_counter() - began) * 1000)
            found.append(pagina.totaal)
        timings.sort()
        results["kinds"][kind] = {
            "p50_ms": round(statistics.median(timings), 1),
            "p95_ms": round(percentile(timings, 0.95), 1),
            "max_ms": round(timings[-1], 1),
            "mean_found": round(statistics.mean(found)),
        }
        if report:
            report(kind, results["kinds"][kind])
    engine.dispose()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "url", help="postgresql+psycopg://... (filled by the generator)"
    )
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", action="store_true", help="print JSON")
    options = parser.parse_args(argv)

    def line(kind: str, figures: dict[str, Any]) -> None:
        print(
            f"{kind:<16} {figures['p50_ms']:>8} {figures['p95_ms']:>8} "
            f"{figures['max_ms']:>8} {figures['mean_found']:>8}",
            flush=True,
        )

    if not options.json:
        print(f"{'search':<16} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'found':>8}")
    results = run(
        options.url,
        options.queries,
        seed=options.seed,
        warmup=options.warmup,
        report=None if options.json else line,
    )
    if options.json:
        print(json.dumps(results, indent=2))
    else:
        print(
            f"{results['zaken']} zaken, {results['queries']} searches per kind; "
            f"load average {results['load']:.2f} at the start, "
            f"{os.getloadavg()[0]:.2f} at the end"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
