"""The benchmark's generator keeps working: 1,000 zaken, searchable.

The benchmark itself (bench/zaakzoeker_bench.py, a million zaken) is not a
test; this checks only that the generator's data is what the zaakzoeker
expects: valid BSNs, a current status per zaak, and searches that find it.
"""

from __future__ import annotations

import random

import pytest
import sqlalchemy as sa

from bench.zaakzoeker_generate import generate, valid_bsn
from registers.klantregister.nummers import passes_elfproef
from zaakzoeker.database import open_engine
from zaakzoeker.search import Filters, Zoeker


@pytest.mark.postgres
def test_generator_fills_a_searchable_register(postgres_url: str) -> None:
    summary = generate(postgres_url, 1000, batch=300)
    assert summary.zaken == 1000
    assert summary.statussen >= 1000
    assert summary.rollen >= 1000

    engine = open_engine(postgres_url)
    try:
        with engine.connect() as connection:
            bsns = connection.execute(
                sa.text("SELECT DISTINCT bsn FROM zrg_rollen WHERE bsn IS NOT NULL")
            ).scalars()
            assert all(passes_elfproef(bsn) for bsn in bsns)
            current = connection.execute(
                sa.text("SELECT count(*) FROM zzk_huidige_status")
            ).scalar_one()
            assert current == 1000
            bsn, expected = connection.execute(
                sa.text(
                    "SELECT bsn, count(DISTINCT zaak_id) FROM zrg_rollen "
                    "WHERE bsn IS NOT NULL GROUP BY bsn ORDER BY 2 DESC, 1 LIMIT 1"
                )
            ).one()
        zoeker = Zoeker(engine)
        assert zoeker.zoek(Filters(bsn=bsn, vertrouwelijk=True)).totaal == expected
        assert zoeker.zoek(Filters(tekst="kerkstraat")).totaal > 0
        assert zoeker.zoek(Filters(zaaktype="B1210")).totaal > 0
    finally:
        engine.dispose()

    # A second run adds to what is there, numbering on.
    assert generate(postgres_url, 10, seed=8).zaken == 10
    engine = open_engine(postgres_url)
    try:
        with engine.connect() as connection:
            assert (
                connection.execute(
                    sa.text("SELECT count(*) FROM zrg_zaken")
                ).scalar_one()
                == 1010
            )
    finally:
        engine.dispose()


def test_generated_bsns_pass_the_11_test() -> None:
    rng = random.Random(3)
    assert all(passes_elfproef(valid_bsn(rng)) for _ in range(1000))
