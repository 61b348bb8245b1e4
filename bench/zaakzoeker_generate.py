"""Fill a zaakregister in PostgreSQL with generated zaken for the zaakzoeker.

    .venv/bin/python bench/zaakzoeker_generate.py \\
        postgresql+psycopg://postgres@127.0.0.1:5432/zaakzoeker_bench \\
        --zaken 1000000

Each zaak gets a zaaktype (some types far more common than others, as in a
real municipality), a Dutch omschrijving and toelichting made of phrases,
one to four statussen, an initiator (a citizen with a BSN that passes the
11-test, or a company with a KvK number) and sometimes a belanghebbende.
Citizens have several zaken each. The data goes straight into the
zaakregister's tables with COPY, not through messages: a million zaken in
minutes. The zaakzoeker's triggers are off during the load
(session_replication_role replica) and what they keep is rebuilt after it
in one statement; then the database is vacuumed and analysed.

The database is migrated first (zaakregister and zaakzoeker); zaken already
in it stay, new ones continue the numbering.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

if __name__ == "__main__":  # run as a script: the project's packages
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from zaakzoeker.database import open_engine, rebuild

# (code, omschrijving, weight, phrases for the omschrijving)
ZAAKTYPEN: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("B1210", "Omgevingsvergunning", 30, ("Aanvraag omgevingsvergunning",)),
    ("B1026", "Melding openbare ruimte", 25, ("Melding", "Klacht over")),
    ("B0335", "Parkeervergunning", 15, ("Aanvraag parkeervergunning",)),
    ("B0911", "Bijzondere bijstand", 10, ("Aanvraag bijzondere bijstand",)),
    ("B0475", "Evenementenvergunning", 6, ("Aanvraag evenementenvergunning",)),
    ("B1185", "Bezwaarschrift", 5, ("Bezwaar tegen besluit over",)),
    ("B0257", "Kapvergunning", 5, ("Aanvraag kapvergunning voor",)),
    ("B0740", "Verhuizing doorgeven", 5, ("Verhuizing naar",)),
    ("B0512", "Gehandicaptenparkeerkaart", 3, ("Aanvraag gehandicaptenparkeerkaart",)),
    ("B0618", "Schuldhulpverlening", 3, ("Aanmelding schuldhulpverlening",)),
    ("B1344", "Wmo-voorziening", 3, ("Aanvraag maatwerkvoorziening Wmo",)),
    ("B0020", "Afvalcontainer", 2, ("Aanvraag extra afvalcontainer",)),
    ("B0199", "Ontheffing", 2, ("Aanvraag ontheffing",)),
    ("B0801", "Terrasvergunning", 2, ("Aanvraag terrasvergunning",)),
    ("B0433", "Drank- en horecavergunning", 1, ("Aanvraag drank- en horeca",)),
    (
        "B0914",
        "Kwijtschelding gemeentelijke belastingen",
        2,
        ("Verzoek kwijtschelding",),
    ),
    ("B0377", "Leerlingenvervoer", 1, ("Aanvraag leerlingenvervoer",)),
    ("B1503", "Huwelijk of partnerschap", 1, ("Melding voorgenomen huwelijk",)),
    ("B0065", "Standplaatsvergunning", 1, ("Aanvraag standplaats markt",)),
    ("B1777", "Reclamevergunning", 1, ("Aanvraag reclamevergunning",)),
)
ONDERWERPEN = (
    "dakkapel",
    "uitbouw",
    "schuur",
    "carport",
    "zonnepanelen",
    "boom",
    "hekwerk",
    "steiger",
    "kozijnen",
    "aanbouw",
    "tuinhuis",
    "overkapping",
    "zwembad",
    "loswal",
    "woonboot",
    "bedrijfspand",
    "winkelpui",
    "verbouwing",
    "lantaarnpaal",
    "stoeptegels",
    "zwerfafval",
    "geluidsoverlast",
    "hondenpoep",
    "parkeerplaats",
    "laadpaal",
    "fietsenrek",
    "speeltuin",
    "kermis",
    "braderie",
    "sportdag",
    "concert",
    "rommelmarkt",
    "wasmachine",
    "rolstoel",
    "traplift",
    "huishoudelijke hulp",
    "woningaanpassing",
    "energietoeslag",
)
STRATEN = (
    "Kerkstraat",
    "Dorpsstraat",
    "Molenweg",
    "Schoolstraat",
    "Stationsweg",
    "Julianastraat",
    "Beatrixlaan",
    "Wilhelminastraat",
    "Nieuwstraat",
    "Kastanjelaan",
    "Eikenlaan",
    "Lindelaan",
    "Spaarne",
    "Zijlweg",
    "Kleverparkweg",
    "Rijksstraatweg",
    "Amsterdamstraat",
    "Grote Markt",
    "Gedempte Oude Gracht",
    "Oranjeboomstraat",
    "Leidsevaart",
    "Houtplein",
    "Kenaupark",
    "Florapark",
    "Prinsenhof",
    "Raaks",
    "Botermarkt",
    "Zuiderhoutlaan",
    "Emmaplein",
    "Bakenessergracht",
)
ZINNEN = (
    "Aanvrager wil een {onderwerp} plaatsen aan de {straat}.",
    "De buren aan de {straat} hebben bezwaar gemaakt.",
    "Aanvullende gegevens zijn opgevraagd bij de aanvrager.",
    "Situatietekening en foto's van de {onderwerp} zijn bijgevoegd.",
    "Welstandscommissie adviseert positief over de {onderwerp}.",
    "Locatiebezoek gepland aan de {straat}.",
    "Aanvraag is compleet en in behandeling genomen.",
    "Telefonisch contact gehad met de aanvrager over de {onderwerp}.",
    "Advies gevraagd aan de brandweer.",
    "Termijn verlengd met zes weken wegens drukte.",
    "Aanvrager ontvangt binnenkort bericht over de beslissing.",
    "Melding doorgestuurd naar de afdeling beheer openbare ruimte.",
    "Spoedeisend: gevaarlijke situatie bij de {onderwerp} aan de {straat}.",
    "Betaling van de leges is ontvangen.",
)
STATUSSEN = ("Ontvangen", "In behandeling", "Besluit genomen", "Afgehandeld")
VERTROUWELIJKHEID = (
    (None, 60),
    ("OPENBAAR", 25),
    ("ZAAKVERTROUWELIJK", 10),
    ("VERTROUWELIJK", 4),
    ("GEHEIM", 1),
)
ACHTERNAMEN = (
    "Jansen",
    "de Vries",
    "van den Berg",
    "Bakker",
    "Visser",
    "Smit",
    "Meijer",
    "de Boer",
    "Mulder",
    "de Groot",
    "Bos",
    "Vos",
    "Peters",
    "Hendriks",
    "van Leeuwen",
    "Dekker",
    "Brouwer",
    "de Wit",
    "Dijkstra",
    "Smits",
)
BEDRIJVEN = (
    "Bouwbedrijf",
    "Installatiebedrijf",
    "Evenementenbureau",
    "Café",
    "Bakkerij",
    "Architectenbureau",
    "Hoveniersbedrijf",
    "Stichting",
    "Vereniging",
)
FIRST_DAY = date(2015, 1, 1)
DAYS = (date(2026, 11, 30) - FIRST_DAY).days


@dataclass
class Summary:
    zaken: int
    statussen: int
    rollen: int
    seconds: float


def valid_bsn(rng: random.Random) -> str:
    """Nine digits that pass the 11-test (weights 9..2 and -1)."""
    while True:
        digits = [rng.randrange(10) for _ in range(8)]
        if digits[0] == 0:
            continue
        total = sum(d * w for d, w in zip(digits, range(9, 1, -1), strict=True))
        check = total % 11
        if check < 10:
            return "".join(map(str, digits)) + str(check)


def _stuf(day: date) -> str:
    return day.strftime("%Y%m%d")


class _Generator:
    """Rows for the zaakregister's tables, one zaak at a time."""

    def __init__(self, rng: random.Random, citizens: int) -> None:
        self.rng = rng
        self.bsns = [valid_bsn(rng) for _ in range(citizens)]
        self.kvks = [f"{rng.randrange(10_000_000, 99_999_999)}" for _ in range(5000)]
        self.types = [t for t in ZAAKTYPEN]
        self.type_weights = [t[2] for t in ZAAKTYPEN]
        self.vertrouwelijk = [v for v, _ in VERTROUWELIJKHEID]
        self.vertrouwelijk_weights = [w for _, w in VERTROUWELIJKHEID]

    def zaak(
        self, zaak_id: int, status_id: int, rol_id: int
    ) -> tuple[tuple[Any, ...], list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rng = self.rng
        code, type_omschrijving, _w, phrases = rng.choices(
            self.types, self.type_weights
        )[0]
        start = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
        onderwerp = rng.choice(ONDERWERPEN)
        straat = rng.choice(STRATEN)
        omschrijving = (
            f"{rng.choice(phrases)} {onderwerp} {straat} {rng.randrange(1, 200)}"
        )
        toelichting = " ".join(
            zin.format(onderwerp=rng.choice(ONDERWERPEN), straat=straat)
            for zin in rng.sample(ZINNEN, rng.randrange(1, 4))
        )
        count = rng.choices((1, 2, 3, 4), (25, 35, 20, 20))[0]
        gepland = start + timedelta(weeks=rng.choice((2, 6, 8, 12, 26)))
        einde = gepland if count == 4 else None
        moment = time.mktime(start.timetuple())
        identificatie = f"0392-{start.year}-{zaak_id:08d}"
        zaak = (
            zaak_id,
            identificatie,
            "0392",
            omschrijving,
            toelichting,
            code,
            type_omschrijving,
            _stuf(start),
            _stuf(start),
            _stuf(gepland) if rng.random() < 0.95 else None,
            _stuf(einde) if einde else None,
            rng.choices(self.vertrouwelijk, self.vertrouwelijk_weights)[0],
            "GENERATOR",
            moment,
            moment,
        )
        statussen = []
        day = start
        for volgnummer in range(1, count + 1):
            statussen.append(
                (
                    status_id + volgnummer - 1,
                    zaak_id,
                    code,
                    str(volgnummer),
                    STATUSSEN[volgnummer - 1],
                    _stuf(day) + f"{rng.randrange(8, 17):02d}0000000",
                    "medewerker",
                    f"mdw{rng.randrange(1, 80):03d}",
                    moment,
                )
            )
            day += timedelta(days=rng.randrange(1, 30))
        rollen = [self._initiator(rol_id, zaak_id)]
        if rng.random() < 0.2:
            bsn = rng.choice(self.bsns)
            rollen.append(
                (
                    rol_id + 1,
                    zaak_id,
                    "Belanghebbende",
                    "natuurlijkPersoon",
                    bsn,
                    None,
                    rng.choice(ACHTERNAMEN),
                    "A",
                )
            )
        return zaak, statussen, rollen

    def _initiator(self, rol_id: int, zaak_id: int) -> tuple[Any, ...]:
        rng = self.rng
        if rng.random() < 0.1:
            return (
                rol_id,
                zaak_id,
                "Initiator",
                "nietNatuurlijkPersoon",
                None,
                rng.choice(self.kvks),
                f"{rng.choice(BEDRIJVEN)} {rng.choice(ACHTERNAMEN)}",
                None,
            )
        # Skewed: some citizens have many zaken, most a few.
        index = min(int(rng.paretovariate(1.2)) - 1, len(self.bsns) - 1)
        bsn = self.bsns[(index * 7919 + rng.randrange(len(self.bsns))) % len(self.bsns)]
        return (
            rol_id,
            zaak_id,
            "Initiator",
            "natuurlijkPersoon",
            bsn,
            None,
            rng.choice(ACHTERNAMEN),
            rng.choice("ABCDEJKMPW"),
        )


ZAAK_COLUMNS = (
    "id, identificatie, bronorganisatie, omschrijving, toelichting, "
    "zaaktype_code, zaaktype_omschrijving, startdatum, registratiedatum, "
    "einddatum_gepland, einddatum, vertrouwelijkheid, aangemaakt_door, "
    "aangemaakt_op, gewijzigd_op"
)
STATUS_COLUMNS = (
    "id, zaak_id, zkt_code, volgnummer, omschrijving, datum_status_gezet, "
    "gezet_door_soort, gezet_door_identificatie, geregistreerd_op"
)
ROL_COLUMNS = "id, zaak_id, rol, soort, bsn, kvk_nummer, naam, voorletters"


def _next_id(connection: sa.Connection, table: str) -> int:
    found = connection.execute(sa.text(f"SELECT max(id) FROM {table}")).scalar()
    return int(found or 0) + 1


def _batches(total: int, size: int) -> Iterator[int]:
    done = 0
    while done < total:
        step = min(size, total - done)
        yield step
        done += step


def generate(
    url: str,
    zaken: int,
    *,
    seed: int = 7,
    batch: int = 50_000,
    report: Any = None,
) -> Summary:
    """Add ``zaken`` generated zaken to the PostgreSQL database at ``url``."""
    began = time.monotonic()
    engine = open_engine(url)
    if engine.dialect.name != "postgresql":
        engine.dispose()
        raise ValueError("the generator loads PostgreSQL (COPY); give a postgresql URL")
    rng = random.Random(seed)
    generator = _Generator(rng, citizens=max(10, zaken // 3))
    totals = Summary(0, 0, 0, 0.0)
    try:
        with engine.connect() as connection:
            zaak_id = _next_id(connection, "zrg_zaken")
            status_id = _next_id(connection, "zrg_statussen")
            rol_id = _next_id(connection, "zrg_rollen")
            connection.commit()
            raw = connection.connection.driver_connection
            assert raw is not None
            for size in _batches(zaken, batch):
                zaak_rows, status_rows, rol_rows = [], [], []
                for _ in range(size):
                    zaak, statussen, rollen = generator.zaak(zaak_id, status_id, rol_id)
                    zaak_rows.append(zaak)
                    status_rows.extend(statussen)
                    rol_rows.extend(rollen)
                    zaak_id += 1
                    status_id += len(statussen)
                    rol_id += len(rollen)
                with raw.cursor() as cursor:
                    # Triggers off (this session only): zzk_huidige_status is
                    # rebuilt in one statement at the end.
                    cursor.execute("SET session_replication_role = replica")
                    for table, columns, rows in (
                        ("zrg_zaken", ZAAK_COLUMNS, zaak_rows),
                        ("zrg_statussen", STATUS_COLUMNS, status_rows),
                        ("zrg_rollen", ROL_COLUMNS, rol_rows),
                    ):
                        with cursor.copy(
                            f"COPY {table} ({columns}) FROM STDIN"
                        ) as copy:
                            for row in rows:
                                copy.write_row(row)
                    cursor.execute("SET session_replication_role = origin")
                raw.commit()
                totals.zaken += len(zaak_rows)
                totals.statussen += len(status_rows)
                totals.rollen += len(rol_rows)
                if report:
                    report(f"{totals.zaken} zaken ({time.monotonic() - began:.0f} s)")
            for table in ("zrg_zaken", "zrg_statussen", "zrg_rollen"):
                connection.execute(
                    sa.text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
                )
            connection.commit()
            if report:
                report("current statuses and full-text index")
            rebuild(connection)
            if report:
                report("vacuum and analyse")
        # VACUUM (outside a transaction) sets the visibility map, so counts
        # can use index-only scans, as on a database that has been running.
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text(
                    "VACUUM ANALYZE zrg_zaken, zrg_statussen, zrg_rollen, "
                    "zzk_huidige_status, zzk_zaak_tekst"
                )
            )
    finally:
        engine.dispose()
    totals.seconds = time.monotonic() - began
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="postgresql+psycopg://... (the zaakregister)")
    parser.add_argument("--zaken", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=50_000)
    options = parser.parse_args(argv)
    summary = generate(
        options.url,
        options.zaken,
        seed=options.seed,
        batch=options.batch,
        report=lambda text: print(text, flush=True),
    )
    print(
        f"{summary.zaken} zaken, {summary.statussen} statussen, "
        f"{summary.rollen} rollen in {summary.seconds:.0f} s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
