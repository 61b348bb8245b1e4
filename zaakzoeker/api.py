"""The zaakzoeker's JSON API, for a municipality's own portal and apps.

Described by ``openapi.yaml`` (OpenAPI 3.1), served at ``/api/openapi.json``.
Every other route needs ``Authorization: Bearer <key>``: one key per
application, made with :func:`add_client` (the key is shown once; the
database keeps its SHA-256). An application sees confidential zaken and
documents only when it was registered with ``mag_vertrouwelijk``; to one
without, a confidential zaak does not exist (404).

A search by BSN can also be POSTed as JSON to ``/api/zaken/zoeken``, so the
BSN stays out of URLs and the access logs of proxies in between.

Errors are JSON ``{"fout": text, "veld": name or null}``: 400 for a filter
or parameter that cannot be used, 401 without a valid key, 404 for what does
not exist or may not be seen, 503 when the database does not answer.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from flask import Blueprint, Response, current_app, g, request, send_file, url_for
from twisted.logger import Logger

from zaakzoeker.database import api_clients_table
from zaakzoeker.results import NL, DocumentInfo, Pagina, ZaakDetail, ZaakRegel
from zaakzoeker.search import Ongeldig, Zoeker, parse_filters, parse_positive

log = Logger(namespace="zaakzoeker.api")

blueprint = Blueprint("api", __name__, url_prefix="/api")

SPEC = Path(__file__).resolve().parent / "openapi.yaml"
PARAMETERS = frozenset(
    {
        "identificatie",
        "bsn",
        "kvk",
        "zaaktype",
        "status",
        "van",
        "tot",
        "tekst",
        "sortering",
        "pagina",
        "per_pagina",
    }
)


# Clients ----------------------------------------------------------------


def hash_key(key: str) -> str:
    """What the database keeps of a key: its SHA-256, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def add_client(engine: sa.Engine, naam: str, mag_vertrouwelijk: bool = False) -> str:
    """Register an application; returns its new key (shown only now).

    Raises ValueError when the name is empty, too long or already taken.
    """
    naam = naam.strip()
    if not naam or len(naam) > 200:
        raise ValueError("de naam van een applicatie is 1 tot 200 tekens")
    key = secrets.token_urlsafe(32)
    try:
        with engine.begin() as connection:
            connection.execute(
                api_clients_table.insert().values(
                    naam=naam,
                    sleutel_hash=hash_key(key),
                    mag_vertrouwelijk=mag_vertrouwelijk,
                    actief=True,
                    aangemaakt=time.time(),
                )
            )
    except sa.exc.IntegrityError as exc:
        raise ValueError(f"er is al een applicatie met de naam {naam!r}") from exc
    return key


def revoke_client(engine: sa.Engine, naam: str) -> bool:
    """Stop an application's key from working; False when there is none."""
    with engine.begin() as connection:
        result = connection.execute(
            api_clients_table.update()
            .where(api_clients_table.c.naam == naam)
            .values(actief=False)
        )
    return result.rowcount > 0


@dataclass(frozen=True)
class ApiClient:
    """An application that presented a valid key."""

    naam: str
    mag_vertrouwelijk: bool


def _client(engine: sa.Engine, key: str) -> ApiClient | None:
    clients = api_clients_table.c
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(clients.naam, clients.mag_vertrouwelijk).where(
                clients.sleutel_hash == hash_key(key), clients.actief.is_(True)
            )
        ).first()
    return None if row is None else ApiClient(row.naam, bool(row.mag_vertrouwelijk))


# Requests ---------------------------------------------------------------


def _state() -> Any:
    return current_app.extensions["zaakzoeker"]


def _fout(status: int, fout: str, veld: str | None = None) -> Response:
    response = Response(
        json.dumps({"fout": fout, "veld": veld}, ensure_ascii=False),
        status=status,
        mimetype="application/json",
    )
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="zaakzoeker"'
    return response


def _json(document: Any) -> Response:
    return Response(
        json.dumps(document, ensure_ascii=False, default=_default),
        mimetype="application/json",
    )


def _default(value: object) -> str:
    if isinstance(value, datetime):
        # RFC 3339 wants an offset; StUF moments are Dutch local time.
        if value.tzinfo is None:
            value = value.replace(tzinfo=NL)
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")


@blueprint.before_request
def _authenticate() -> Response | None:
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return _fout(401, "geef de sleutel van de applicatie: Authorization: Bearer …")
    client = _client(_state().engine, key.strip())
    if client is None:
        return _fout(401, "onbekende of ingetrokken sleutel")
    g.api_client = client
    return None


@blueprint.errorhandler(Ongeldig)
def _ongeldig(error: Ongeldig) -> Response:
    return _fout(400, error.reden, error.veld)


@blueprint.errorhandler(sa.exc.SQLAlchemyError)
def _database(error: sa.exc.SQLAlchemyError) -> Response:
    # The engines hide bound parameters (BSNs) from error texts.
    log.error("Zaakzoeker API: database error {error}", error=str(error))
    return _fout(
        503, "de database van het zaakregister antwoordt niet; probeer het later"
    )


def _mag_vertrouwelijk() -> bool:
    client: ApiClient = g.api_client
    return client.mag_vertrouwelijk


# Routes -----------------------------------------------------------------


@blueprint.get("/openapi.json")
def openapi() -> Response:
    return _json(_spec())


@blueprint.get("/zaken")
def zaken() -> Response:
    return _zoek({key: request.args.get(key, "") for key in request.args})


@blueprint.post("/zaken/zoeken")
def zaken_zoeken() -> Response:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _fout(400, "de body moet een JSON-object zijn")
    values: dict[str, str] = {}
    for key, value in body.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            return _fout(400, "moet een tekst of een getal zijn", str(key))
        values[str(key)] = str(value)
    return _zoek(values)


def _zoek(values: dict[str, str]) -> Response:
    unknown = sorted(set(values) - PARAMETERS)
    if unknown:
        return _fout(400, "onbekende parameter", unknown[0])
    filters = parse_filters(values, vertrouwelijk=_mag_vertrouwelijk())
    zoeker: Zoeker = _state().zoeker
    pagina = zoeker.zoek(
        filters,
        sortering=values.get("sortering") or "-startdatum",
        pagina=parse_positive("pagina", values.get("pagina"), 1),
        per_pagina=parse_positive("per_pagina", values.get("per_pagina"), 25),
    )
    return _json(_pagina(pagina))


@blueprint.get("/zaken/<identificatie>")
def zaak(identificatie: str) -> Response:
    detail = _zichtbare_zaak(identificatie)
    if detail is None:
        return _fout(404, "zaak niet gevonden")
    return _json(_detail(detail))


@blueprint.get("/zaken/<identificatie>/documenten/<document>/inhoud")
def inhoud(identificatie: str, document: str) -> Response:
    if _zichtbare_zaak(identificatie) is None:
        return _fout(404, "zaak niet gevonden")
    info = _state().zoeker.document(identificatie, document)
    if info is None or not _zichtbaar(info):
        return _fout(404, "document niet gevonden bij deze zaak")
    if not info.inhoud_sleutel:
        return _fout(404, "dit document heeft (nog) geen inhoud")
    try:
        stream = _state().blobs.open(info.inhoud_sleutel)
    except FileNotFoundError:
        return _fout(404, "de inhoud van dit document ontbreekt in de opslag")
    response = send_file(
        stream,
        mimetype=_content_type(info),
        as_attachment=True,
        download_name=info.bestandsnaam or f"{info.identificatie}",
        conditional=False,
    )
    response.content_length = os.fstat(stream.fileno()).st_size
    return response


def _zichtbare_zaak(identificatie: str) -> ZaakDetail | None:
    detail: ZaakDetail | None = _state().zoeker.zaak(identificatie)
    if detail is None or (detail.vertrouwelijk and not _mag_vertrouwelijk()):
        return None
    return detail


def _zichtbaar(document: DocumentInfo) -> bool:
    return not document.vertrouwelijk or _mag_vertrouwelijk()


def _content_type(document: DocumentInfo) -> str:
    # A content type is what the sender gave; formaat is free text that is
    # often one too ("application/pdf"), sometimes not ("PDF").
    for candidate in (document.content_type, document.formaat):
        if candidate and "/" in candidate and " " not in candidate.strip():
            return candidate.strip()
    return "application/octet-stream"


# JSON shapes (openapi.yaml describes them) -----------------------------


def _regel(regel: ZaakRegel) -> dict[str, Any]:
    document = asdict(regel)
    document["href"] = url_for("api.zaak", identificatie=regel.identificatie)
    return document


def _pagina(pagina: Pagina) -> dict[str, Any]:
    return {
        "zaken": [_regel(regel) for regel in pagina.regels],
        "pagina": pagina.pagina,
        "per_pagina": pagina.per_pagina,
        "totaal": pagina.totaal,
        "totaal_exact": pagina.totaal_exact,
        "paginas": pagina.paginas,
    }


def _detail(detail: ZaakDetail) -> dict[str, Any]:
    document = _regel(detail.regel)
    for name in ("toelichting", "bronorganisatie", "registratiedatum", "resultaat"):
        document[name] = getattr(detail, name)
    document["statussen"] = [asdict(status) for status in detail.statussen]
    document["betrokkenen"] = [asdict(b) for b in detail.betrokkenen]
    document["berichten"] = [asdict(b) for b in detail.berichten]
    document["documenten"] = [
        _document(detail.identificatie, d) for d in detail.documenten if _zichtbaar(d)
    ]
    return document


def _document(zaak: str, document: DocumentInfo) -> dict[str, Any]:
    shown = asdict(document)
    # The storage key is the register's business, not the client's.
    del shown["inhoud_sleutel"]
    shown["inhoud"] = (
        url_for("api.inhoud", identificatie=zaak, document=document.identificatie)
        if document.inhoud_sleutel
        else None
    )
    return shown


@cache
def _spec() -> dict[str, Any]:
    with SPEC.open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.safe_load(stream)
    return loaded
