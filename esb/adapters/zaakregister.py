"""Zaakregister destination: EMO's own register, in the broker's process.

Settings in the routes file (all optional)::

    type: zaakregister
    database: postgresql+psycopg://emo@db/emo   # SQLAlchemy URL
    documents: /srv/emo/documenten              # folder for document content
    organisatie: "0392"                         # gemeentecode in identificaties
    identificatie_pattern: "{organisatie}-{year}-{seq:07d}"
    document_identificatie_pattern: "{organisatie}-D{year}-{seq:07d}"
    document_link: "https://dms.example/{identificatie}"
    zender: {organisatie: "0392", applicatie: ZRG}   # when a request names
                                                     # no ontvanger to echo
    pool_size: 8                                # database connections

``database`` defaults to ``EMO_ZAAKREGISTER_URL``, else to the SQLite file
``./var/zaakregister.db`` (relative to the broker's working directory: an
adapter is not told the data folder). ``documents`` defaults to the folder
``zaakregister-documenten`` beside a SQLite database, else
``./var/zaakregister-documenten``.

Per message the adapter takes the body out of the payload (the SOAP envelope
the sender sent, or the bare message), hands it with the broker's
identification to :meth:`registers.zaakregister.Zaakregister.handle` in a
thread (the register blocks on its database), and puts the answer in a SOAP
envelope. A StufFault of the register goes back as a SOAP Fault with status
500, which the dispatcher passes to the sender as it is; a fault with plek
server (the database is down) is worth a retry.

Registers opened by adapters are shared per database URL, so a route reload
(which builds new adapters) does not open a second engine on the same
database.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from twisted.internet import defer
from twisted.logger import Logger

from esb.adapters.base import Delivered, DeliveryError, Outbound
from esb.adapters.blocking import run_blocking
from esb.answers import fault_answer
from esb.envelope import open_envelope, parse_xml, soap_envelope
from esb.errors import ConfigError, StufFault
from esb.identify import identify
from esb.message import Party, Stuurgegevens
from registers.zaakregister import Config, Pattern, Zaakregister, inhoud
from registers.zaakregister.database import Database
from registers.zaakregister.identificaties import DOCUMENT_PATTERN, ZAAK_PATTERN

log = Logger()

URL_VARIABLE = "EMO_ZAAKREGISTER_URL"
DEFAULT_URL = "sqlite:///./var/zaakregister.db"
DOCUMENTS_FOLDER = "zaakregister-documenten"
CONTENT_TYPE = "text/xml; charset=utf-8"
# A payload larger than this is parsed with its document content streamed to
# the blob store (registers.zaakregister.inhoud); smaller ones take lxml's
# faster C parser whole.
STREAM_BYTES = 1024 * 1024


class _Shared:
    """Open databases by URL, counted by the adapters that use them."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.databases: dict[str, tuple[Database, int]] = {}

    def acquire(self, url: str, pool_size: int) -> Database:
        with self.lock:
            if url in self.databases:
                database, users = self.databases[url]
            else:
                database, users = Database.open(url, pool_size=pool_size), 0
            self.databases[url] = (database, users + 1)
            return database

    def release(self, url: str) -> None:
        with self.lock:
            if url not in self.databases:
                return
            database, users = self.databases[url]
            if users > 1:
                self.databases[url] = (database, users - 1)
            else:
                del self.databases[url]
                database.close()


_shared = _Shared()


def open_database(url: str, pool_size: int = 8) -> Database:
    """The register's database at ``url``, shared with every adapter and
    event source of this process that uses it; :func:`release_database` it."""
    return _shared.acquire(url, pool_size)


def release_database(url: str) -> None:
    _shared.release(url)


def database_url(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str:
    """The ``database`` setting, else EMO_ZAAKREGISTER_URL, else SQLite."""
    return str(settings.get("database") or environ.get(URL_VARIABLE) or DEFAULT_URL)


def documents_folder(settings: Mapping[str, Any], url: str) -> Path:
    """The ``documents`` setting, else beside a SQLite file, else ./var."""
    if settings.get("documents"):
        return Path(str(settings["documents"]))
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return Path(parsed.database).parent / DOCUMENTS_FOLDER
    return Path("var") / DOCUMENTS_FOLDER


class ZaakregisterAdapter:
    """Delivers ZDS messages to the zaakregister and returns its answers."""

    def __init__(self, name: str, register: Zaakregister, url: str) -> None:
        self.name = name
        self.register = register
        self.url = url
        self._closed = False

    @classmethod
    def from_settings(
        cls,
        name: str,
        settings: Mapping[str, Any],
        timeout: float,
        *,
        environ: Mapping[str, str] = os.environ,
    ) -> ZaakregisterAdapter:
        url = database_url(settings, environ)
        config = _config(name, settings, url)
        pool_size = int(settings.get("pool_size", 8))
        try:
            config.documents.mkdir(parents=True, exist_ok=True)
            database = _shared.acquire(url, pool_size)
        except (OSError, ValueError, sa.exc.SQLAlchemyError) as exc:
            raise ConfigError(
                f"destination '{name}': the zaakregister cannot open "
                f"{sa.make_url(url).render_as_string(hide_password=True)}: {exc}"
            ) from exc
        return cls(name, Zaakregister(database, config), url)

    def deliver(self, outbound: Outbound) -> defer.Deferred[Delivered]:
        return run_blocking(self._deliver, outbound)

    def _deliver(self, outbound: Outbound) -> Delivered:
        # Parse: the payload is what the sender sent (an envelope at
        # /stuf/zds), or what a route's steps made of it; a large one with
        # its document content decoded into the blob store on the way.
        # Identify: the broker did; a delivery resumed from the journal may
        # come without.
        prestored: list[str] = []
        try:
            if len(outbound.payload) > STREAM_BYTES:
                root, prestored = inhoud.parse(outbound.payload, self.register.blobs)
            else:
                root = parse_xml(outbound.payload)
            is_envelope = isinstance(root.tag, str) and root.tag.endswith("}Envelope")
            body = open_envelope(root).body if is_envelope else root
            identification = outbound.identification or identify(
                body, outbound.soap_action
            )
        except StufFault as fault:
            for key in prestored:
                self.register.blobs.delete(key)
            raise self._refused(fault, None, outbound) from fault

        # Handle and answer: the answer serialised in its envelope, document
        # content streamed into it from the blob store.
        try:
            answer = self.register.answer(
                identification, body, soap_envelope, prestored=prestored
            )
        except StufFault as fault:
            raise self._refused(
                fault, identification.stuurgegevens, outbound
            ) from fault
        except Exception as exc:
            log.failure(
                "Zaakregister failed on message {id} ({operation})",
                id=outbound.message_id,
                operation=identification.operation,
            )
            internal = StufFault(
                "StUF058",
                "Interne fout in het zaakregister",
                plek="server",
                details=f"bericht {outbound.message_id}: zie het log van EMO",
            )
            error = self._refused(internal, identification.stuurgegevens, outbound)
            # A defect fails the same way every time: not worth a retry.
            error.retryable = False
            raise error from exc
        return Delivered(answer=answer, content_type=CONTENT_TYPE, status=200)

    def _refused(
        self, fault: StufFault, request: Stuurgegevens | None, outbound: Outbound
    ) -> DeliveryError:
        log.info(
            "Zaakregister refused message {id}: {code} ({plek}) {omschrijving}",
            id=outbound.message_id,
            code=fault.code,
            plek=fault.plek,
            omschrijving=fault.omschrijving,
        )
        answer = fault_answer(
            fault,
            request,
            system=self.register.config.system,
            referentienummer=uuid.uuid4().hex,
        )
        return DeliveryError(
            f"zaakregister: {fault.code} {fault.omschrijving}",
            retryable=fault.plek == "server",
            answer=answer.body,
            status=answer.status,
        )

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            _shared.release(self.url)


def _config(name: str, settings: Mapping[str, Any], url: str) -> Config:
    try:
        zaak_pattern = Pattern.parse(
            str(settings.get("identificatie_pattern") or ZAAK_PATTERN)
        )
        document_pattern = Pattern.parse(
            str(settings.get("document_identificatie_pattern") or DOCUMENT_PATTERN)
        )
    except ValueError as exc:
        raise ConfigError(f"destination '{name}': {exc}") from exc
    zender = settings.get("zender") or {}
    if not isinstance(zender, Mapping) or (zender and not zender.get("applicatie")):
        raise ConfigError(
            f"destination '{name}': 'zender' needs at least an 'applicatie'"
        )
    system = Party(
        organisatie=_text(zender.get("organisatie")),
        applicatie=str(zender.get("applicatie") or "EMO"),
        administratie=_text(zender.get("administratie")),
    )
    organisatie = _text(settings.get("organisatie"))
    link = settings.get("document_link")
    config = Config(
        documents=documents_folder(settings, url),
        organisatie=organisatie,
        zaak_pattern=zaak_pattern,
        document_pattern=document_pattern,
        system=system,
    )
    return replace(config, document_link=str(link)) if link else config


def _text(value: object) -> str | None:
    return None if value in (None, "") else str(value)
