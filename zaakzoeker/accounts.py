"""Local employee accounts, for installations without their own SAML IdP.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's
second recommended parameter set); a hash made with weaker parameters is
replaced at the next successful login. A login for a name that does not
exist still costs one hash check, so the answer's timing does not tell
which names exist.

Roles, each including what the one before it may do::

    medewerker      searches and opens every zaak that is not confidential
    vertrouwelijk   also the confidential zaken and documents
    beheerder       the same as vertrouwelijk (accounts are managed with the
                    command line: ``emo zaakzoeker account ...``)

The command line::

    emo zaakzoeker account add NAME --rol medewerker [--password-stdin]
    emo zaakzoeker account list
    emo zaakzoeker account disable NAME

and for the applications of the JSON API (zaakzoeker.api), which are no
accounts but are managed the same way::

    emo zaakzoeker api-client add NAME [--vertrouwelijk]
    emo zaakzoeker api-client list
    emo zaakzoeker api-client revoke NAME

``api-client add`` prints the new key, alone on standard output so a script
can take it, and only then: the database keeps its SHA-256.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from esb.config import Settings
from esb.errors import ConfigError
from zaakzoeker.settings import ROLLEN, parse_settings

MIN_PASSWORD = 12
MAX_NAME = 200

_hasher = PasswordHasher()


def _table() -> sa.Table:
    # Imported when used: the command line builds its parser from this
    # module, and the database module pulls in the whole zaakregister.
    from zaakzoeker.database import accounts_table

    return accounts_table


@functools.cache
def _dummy() -> str:
    """Checked against when a name is unknown, so that costs as much as a
    known one (made at first use: the command line need not pay for it)."""
    return _hasher.hash("geen account met deze naam")


class AccountFout(ValueError):
    """An account command or login that cannot be done; the text says why."""


@dataclass(frozen=True, slots=True)
class Account:
    naam: str
    rol: str
    actief: bool
    aangemaakt: float


def mag_vertrouwelijk(rol: str) -> bool:
    """Whether an employee in ``rol`` may see confidential zaken."""
    return rol in ("vertrouwelijk", "beheerder")


def _check_name(naam: str) -> str:
    naam = naam.strip()
    if not naam or len(naam) > MAX_NAME or any(c.isspace() for c in naam):
        raise AccountFout(f"een accountnaam is 1 tot {MAX_NAME} tekens zonder spaties")
    return naam


def add(engine: sa.Engine, naam: str, rol: str, wachtwoord: str) -> Account:
    """Create an active account; raises AccountFout when it cannot."""
    table = _table()
    naam = _check_name(naam)
    if rol not in ROLLEN:
        raise AccountFout(f"onbekende rol {rol!r}; kies uit {', '.join(ROLLEN)}")
    if len(wachtwoord) < MIN_PASSWORD:
        raise AccountFout(f"het wachtwoord is te kort: minstens {MIN_PASSWORD} tekens")
    now = time.time()
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.insert(table).values(
                    naam=naam,
                    wachtwoord_hash=_hasher.hash(wachtwoord),
                    rollen=rol,
                    actief=True,
                    aangemaakt=now,
                )
            )
    except IntegrityError as exc:
        raise AccountFout(f"er is al een account {naam!r}") from exc
    return Account(naam, rol, True, now)


def accounts(engine: sa.Engine) -> list[Account]:
    """Every account, by name."""
    table = _table()
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.naam,
                table.c.rollen,
                table.c.actief,
                table.c.aangemaakt,
            ).order_by(table.c.naam)
        )
        return [
            Account(r.naam, _rol(r.rollen), bool(r.actief), r.aangemaakt) for r in rows
        ]


def _rol(rollen: str) -> str:
    """The strongest role named in the ``rollen`` column."""
    named = set(rollen.split())
    return next((rol for rol in reversed(ROLLEN) if rol in named), "medewerker")


def disable(engine: sa.Engine, naam: str) -> None:
    """Refuse every later login of ``naam``; raises AccountFout if unknown."""
    table = _table()
    with engine.begin() as connection:
        found = connection.execute(
            sa.update(table).where(table.c.naam == naam).values(actief=False)
        )
    if found.rowcount == 0:
        raise AccountFout(f"geen account {naam!r}")


def verify(engine: sa.Engine, naam: str, wachtwoord: str) -> Account | None:
    """The active account ``naam`` if ``wachtwoord`` is its password."""
    table = _table()
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(table).where(table.c.naam == naam.strip())
        ).first()
    stored = row.wachtwoord_hash if row is not None else _dummy()
    try:
        _hasher.verify(stored, wachtwoord)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or not row.actief:
        return None
    if _hasher.check_needs_rehash(stored):
        with engine.begin() as connection:
            connection.execute(
                sa.update(table)
                .where(table.c.id == row.id)
                .values(wachtwoord_hash=_hasher.hash(wachtwoord))
            )
    return Account(row.naam, _rol(row.rollen), True, row.aangemaakt)


class Pogingen:
    """Failed logins per account name, kept in this process.

    After ``maximum`` failures for one name within ``venster`` seconds,
    further attempts for that name are refused until the oldest failure
    is that old. Argon2 makes each guess slow already; this stops a patient
    guesser. Unknown names count like known ones, so the refusal tells
    nothing about which names exist.
    """

    def __init__(
        self,
        maximum: int = 5,
        venster: float = 15 * 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.maximum = maximum
        self.venster = venster
        self.clock = clock
        self._lock = threading.Lock()
        self._mislukt: dict[str, list[float]] = {}

    def _recent(self, naam: str, now: float) -> list[float]:
        key = naam.strip().casefold()
        recent = [t for t in self._mislukt.get(key, []) if now - t < self.venster]
        if recent:
            self._mislukt[key] = recent
        else:
            self._mislukt.pop(key, None)
        return recent

    def geblokkeerd(self, naam: str) -> bool:
        with self._lock:
            return len(self._recent(naam, self.clock())) >= self.maximum

    def mislukt(self, naam: str) -> None:
        with self._lock:
            now = self.clock()
            if len(self._mislukt) > 10_000:
                # Forget names whose failures are all old.
                for key in list(self._mislukt):
                    self._recent(key, now)
            self._recent(naam, now)
            self._mislukt.setdefault(naam.strip().casefold(), []).append(now)

    def gelukt(self, naam: str) -> None:
        with self._lock:
            self._mislukt.pop(naam.strip().casefold(), None)


# The command line -------------------------------------------------------------


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``emo zaakzoeker account add|list|disable`` and
    ``emo zaakzoeker api-client add|list|revoke``."""
    zaakzoeker = commands.add_parser("zaakzoeker", help="the zaakzoeker")
    groups = zaakzoeker.add_subparsers(dest="zaakzoeker_command", required=True)
    account = groups.add_parser("account", help="local employee accounts")
    verbs = account.add_subparsers(dest="account_command", required=True)
    adding = verbs.add_parser("add", help="create an account")
    adding.add_argument("name")
    adding.add_argument("--rol", required=True, choices=ROLLEN)
    adding.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    listing = verbs.add_parser("list", help="list the accounts")
    disabling = verbs.add_parser("disable", help="refuse an account's logins")
    disabling.add_argument("name")

    client = groups.add_parser("api-client", help="applications using the JSON API")
    client_verbs = client.add_subparsers(dest="client_command", required=True)
    client_adding = client_verbs.add_parser(
        "add", help="register an application and print its new key (only now)"
    )
    client_adding.add_argument("name")
    client_adding.add_argument(
        "--vertrouwelijk",
        action="store_true",
        help="the application may see confidential zaken and documents",
    )
    client_listing = client_verbs.add_parser("list", help="list the applications")
    revoking = client_verbs.add_parser(
        "revoke", help="stop an application's key from working"
    )
    revoking.add_argument("name")
    for parser in (
        adding,
        listing,
        disabling,
        client_adding,
        client_listing,
        revoking,
    ):
        parser.add_argument("--config", default="config", help="configuration folder")
        parser.add_argument("--data", help="data folder (default ./var)")


def command(settings: Settings, args: argparse.Namespace) -> int:
    """``emo zaakzoeker account|api-client ...`` on the zaakzoeker's
    database."""
    from sqlalchemy.exc import SQLAlchemyError

    from zaakzoeker.database import open_engine

    url = parse_settings(settings).database_url
    try:
        engine = open_engine(url)
    except (SQLAlchemyError, ValueError) as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        raise ConfigError(
            f"cannot open the zaakzoeker's database {shown}: {exc}"
        ) from exc
    try:
        if args.zaakzoeker_command == "api-client":
            return run_api_client(engine, args)
        return run(engine, args)
    finally:
        engine.dispose()


def run(
    engine: sa.Engine,
    args: argparse.Namespace,
    *,
    read_password: Callable[[str], str] = getpass.getpass,
) -> int:
    """Carry out ``emo zaakzoeker account ...``; 0 on success, 1 on refusal."""
    try:
        if args.account_command == "add":
            if args.password_stdin:
                wachtwoord = sys.stdin.readline().rstrip("\r\n")
            else:
                wachtwoord = read_password("Wachtwoord: ")
                if read_password("Nog eens: ") != wachtwoord:
                    raise AccountFout("de wachtwoorden verschillen")
            made = add(engine, args.name, args.rol, wachtwoord)
            print(f"account {made.naam} ({made.rol}) aangemaakt")
        elif args.account_command == "list":
            for found in accounts(engine):
                state = "actief" if found.actief else "uitgeschakeld"
                since = time.strftime("%Y-%m-%d", time.localtime(found.aangemaakt))
                print(f"{found.naam}\t{found.rol}\t{state}\tsinds {since}")
        elif args.account_command == "disable":
            disable(engine, args.name)
            print(f"account {args.name} uitgeschakeld")
    except AccountFout as exc:
        print(f"emo: {exc}", file=sys.stderr)
        return 1
    return 0


@dataclass(frozen=True, slots=True)
class ApiClientRegel:
    """An application of the JSON API as ``api-client list`` shows it."""

    naam: str
    mag_vertrouwelijk: bool
    actief: bool
    aangemaakt: float


def api_clients(engine: sa.Engine) -> list[ApiClientRegel]:
    """Every application of the JSON API, by name (never their keys)."""
    from zaakzoeker.database import api_clients_table as table

    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                table.c.naam,
                table.c.mag_vertrouwelijk,
                table.c.actief,
                table.c.aangemaakt,
            ).order_by(table.c.naam)
        )
        return [
            ApiClientRegel(
                r.naam, bool(r.mag_vertrouwelijk), bool(r.actief), r.aangemaakt
            )
            for r in rows
        ]


def run_api_client(engine: sa.Engine, args: argparse.Namespace) -> int:
    """Carry out ``emo zaakzoeker api-client ...``; 0 on success, 1 on
    refusal."""
    from zaakzoeker.api import add_client, revoke_client

    if args.client_command == "add":
        try:
            key = add_client(engine, args.name, mag_vertrouwelijk=args.vertrouwelijk)
        except ValueError as exc:
            print(f"emo: {exc}", file=sys.stderr)
            return 1
        print(key)
        sys.stdout.flush()
        scope = "ook" if args.vertrouwelijk else "geen"
        print(
            f"applicatie {args.name.strip()} aangemaakt ({scope} vertrouwelijke "
            "zaken); de sleutel hierboven wordt niet nog eens getoond: geef hem "
            "als 'Authorization: Bearer <sleutel>'",
            file=sys.stderr,
        )
    elif args.client_command == "list":
        for found in api_clients(engine):
            state = "actief" if found.actief else "ingetrokken"
            scope = "met" if found.mag_vertrouwelijk else "zonder"
            since = time.strftime("%Y-%m-%d", time.localtime(found.aangemaakt))
            print(f"{found.naam}\t{scope} vertrouwelijke zaken\t{state}\tsinds {since}")
    elif args.client_command == "revoke":
        naam = args.name.strip()
        if not revoke_client(engine, naam):
            print(f"emo: geen applicatie {naam!r}", file=sys.stderr)
            return 1
        print(f"applicatie {naam} ingetrokken")
    return 0
