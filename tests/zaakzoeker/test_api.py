"""The JSON API: keys per application, searches, one zaak, document content.

A minimal Flask app carries the blueprint (the zaakzoeker's own app adds
pages and sessions around it). The OpenAPI document is checked with
openapi-spec-validator, and every JSON answer in these tests against the
schema the document gives for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import sqlalchemy as sa
import yaml
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate as validate_spec
from werkzeug.test import TestResponse

from registers.zaakregister.blobs import BlobStore
from tests.zaakzoeker import registerdata
from tests.zaakzoeker.registerdata import JANSEN, ZAKEN
from zaakzoeker.api import SPEC, add_client, blueprint, hash_key, revoke_client
from zaakzoeker.database import api_clients_table, open_engine
from zaakzoeker.search import Zoeker

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    with SPEC.open(encoding="utf-8") as stream:
        loaded: dict[str, Any] = yaml.safe_load(stream)
    return loaded


@pytest.fixture(scope="module", params=BACKENDS)
def app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Flask]:
    folder = tmp_path_factory.mktemp("api")
    with registerdata.filled_database(request.param, folder) as (url, documents):
        engine = open_engine(url)
        app = Flask(__name__)
        app.extensions["zaakzoeker"] = SimpleNamespace(
            zoeker=Zoeker(engine), engine=engine, blobs=BlobStore(documents)
        )
        app.register_blueprint(blueprint, url_prefix="/api")
        yield app
        engine.dispose()


@pytest.fixture(scope="module")
def keys(app: Flask) -> dict[str, str]:
    engine = app.extensions["zaakzoeker"].engine
    return {
        "portaal": add_client(engine, "portaal"),
        "archief": add_client(engine, "archief", mag_vertrouwelijk=True),
    }


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


class Checked:
    """Requests with a key; each JSON answer checked against the spec."""

    def __init__(self, client: FlaskClient, spec: dict[str, Any], key: str) -> None:
        self.client = client
        self.spec = spec
        self.key = key

    def get(self, url: str, schema: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.client.get(
            url, headers={"Authorization": f"Bearer {self.key}"}, **kwargs
        )
        return self.check(response, schema, status)

    def post(self, url: str, body: Any, schema: str, status: int = 200) -> Any:
        response = self.client.post(
            url,
            data=json.dumps(body),
            content_type="application/json",
            headers={"Authorization": f"Bearer {self.key}"},
        )
        return self.check(response, schema, status)

    def check(self, response: TestResponse, schema: str, status: int) -> Any:
        assert response.status_code == status, response.get_data(as_text=True)
        assert response.mimetype == "application/json"
        document = response.get_json()
        conforms(self.spec, document, schema)
        return document


def conforms(spec: dict[str, Any], document: Any, schema: str) -> None:
    """``document`` is valid against components/schemas/<schema>."""
    wrapper = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": f"#/components/schemas/{schema}",
        "components": spec["components"],
    }
    jsonschema.Draft202012Validator(
        wrapper, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(document)


@pytest.fixture
def portaal(client: FlaskClient, spec: dict[str, Any], keys: dict[str, str]) -> Checked:
    return Checked(client, spec, keys["portaal"])


@pytest.fixture
def archief(client: FlaskClient, spec: dict[str, Any], keys: dict[str, str]) -> Checked:
    return Checked(client, spec, keys["archief"])


# The document ---------------------------------------------------------------


def test_the_openapi_document_is_valid_and_served_without_a_key(
    client: FlaskClient, spec: dict[str, Any]
) -> None:
    validate_spec(spec)
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.get_json() == spec
    assert spec["openapi"].startswith("3.1")


# Keys -------------------------------------------------------------------------


def test_without_a_valid_key_nothing_but_401(
    client: FlaskClient, spec: dict[str, Any], keys: dict[str, str]
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer niet-de-sleutel"},
    ):
        for url in (
            "/api/zaken",
            "/api/zaken/0392-2025-0000101",
            "/api/zaken/0392-2025-0000101/documenten/0392-D2025-0000101/inhoud",
        ):
            response = client.get(url, headers=headers)
            assert response.status_code == 401, (url, headers)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            conforms(spec, response.get_json(), "Fout")


def test_keys_are_stored_hashed_and_can_be_revoked(
    app: Flask, client: FlaskClient
) -> None:
    engine = app.extensions["zaakzoeker"].engine
    key = add_client(engine, "tijdelijk")
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(api_clients_table.c.sleutel_hash).where(
                api_clients_table.c.naam == "tijdelijk"
            )
        ).scalar_one()
    assert stored == hash_key(key) != key
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/api/zaken", headers=headers).status_code == 200
    assert revoke_client(engine, "tijdelijk")
    assert client.get("/api/zaken", headers=headers).status_code == 401
    assert not revoke_client(engine, "bestaat-niet")


def test_names_of_clients_are_unique(app: Flask) -> None:
    engine = app.extensions["zaakzoeker"].engine
    add_client(engine, "dubbel")
    with pytest.raises(ValueError, match="al een applicatie"):
        add_client(engine, "dubbel")
    with pytest.raises(ValueError, match="1 tot 200"):
        add_client(engine, "  ")


# Searching --------------------------------------------------------------------


def test_search_by_query_parameters(portaal: Checked) -> None:
    found = portaal.get(
        "/api/zaken?zaaktype=B1210&sortering=identificatie&per_pagina=2", "Resultaten"
    )
    assert [z["identificatie"] for z in found["zaken"]] == [
        "0392-2025-0000101",
        "0392-2025-0000106",
    ]
    assert (found["totaal"], found["paginas"], found["per_pagina"]) == (3, 2, 2)
    first = found["zaken"][0]
    assert first["startdatum"] == "2025-01-10"
    assert first["status"] == "In behandeling"
    assert first["href"] == "/api/zaken/0392-2025-0000101"

    second = portaal.get(
        "/api/zaken?zaaktype=B1210&sortering=identificatie&per_pagina=2&pagina=2",
        "Resultaten",
    )
    assert [z["identificatie"] for z in second["zaken"]] == ["1900852"]


def test_search_by_bsn_in_a_post_body(portaal: Checked) -> None:
    """The BSN stays out of the URL."""
    found = portaal.post(
        "/api/zaken/zoeken", {"bsn": JANSEN, "per_pagina": 10}, "Resultaten"
    )
    # 105 is confidential: not for this application.
    assert [z["identificatie"] for z in found["zaken"]] == [
        "0392-2025-0000102",
        "0392-2025-0000101",
    ]


def test_confidential_zaken_only_for_applications_allowed_them(
    portaal: Checked, archief: Checked
) -> None:
    url = "/api/zaken?zaaktype=B0911"
    assert portaal.get(url, "Resultaten")["totaal"] == 0
    assert [z["identificatie"] for z in archief.get(url, "Resultaten")["zaken"]] == [
        "0392-2025-0000105"
    ]
    portaal.get("/api/zaken/0392-2025-0000105", "Fout", 404)
    detail = archief.get("/api/zaken/0392-2025-0000105", "Zaak")
    assert detail["vertrouwelijkheid"] == "VERTROUWELIJK"


@pytest.mark.parametrize(
    ("query", "veld"),
    [
        ("bsn=123", "bsn"),
        ("bsn=123456789", "bsn"),
        ("kvk=abc", "kvk"),
        ("van=01-03-2025", "van"),
        ("van=2025-03-02&tot=2025-03-01", "tot"),
        ("sortering=omschrijving", "sortering"),
        ("pagina=nul", "pagina"),
        ("pagina=0", "pagina"),
        ("per_pagina=500", "per_pagina"),
        ("tekst=%21%21%21", "tekst"),
        ("vertrouwelijk=true", "vertrouwelijk"),
        ("zaak_type=B1210", "zaak_type"),
    ],
)
def test_invalid_parameters_are_400_naming_the_field(
    portaal: Checked, query: str, veld: str
) -> None:
    fout = portaal.get(f"/api/zaken?{query}", "Fout", 400)
    assert fout["veld"] == veld
    assert fout["fout"]


@pytest.mark.parametrize(
    ("body", "veld"),
    [
        ({"bsn": ["111222333"]}, "bsn"),
        ({"pagina": True}, "pagina"),
        ({"per_pagina": 0}, "per_pagina"),
        ({"onbekend": "x"}, "onbekend"),
    ],
)
def test_invalid_post_bodies_are_400(
    portaal: Checked, body: dict[str, Any], veld: str
) -> None:
    assert portaal.post("/api/zaken/zoeken", body, "Fout", 400)["veld"] == veld


def test_a_post_body_that_is_not_an_object(portaal: Checked) -> None:
    for body in ([1, 2], "tekst"):
        fout = portaal.post("/api/zaken/zoeken", body, "Fout", 400)
        assert fout["veld"] is None


# One zaak and its documents ---------------------------------------------------


def test_zaak_in_full(portaal: Checked) -> None:
    zaak = portaal.get("/api/zaken/0392-2025-0000101", "Zaak")
    assert zaak["toelichting"] == ZAKEN[0].toelichting
    assert [s["omschrijving"] for s in zaak["statussen"]] == [
        "Ontvangen",
        "In behandeling",
    ]
    assert zaak["statussen"][0]["datum"] == "2025-01-10T09:00:00+01:00"
    assert zaak["betrokkenen"] == [
        {
            "rol": "Initiator",
            "soort": "natuurlijkPersoon",
            "naam": "J Aanvrager",
            "bsn": JANSEN,
            "kvk_nummer": None,
            "vestigingsnummer": None,
        }
    ]
    [document] = zaak["documenten"]
    assert "inhoud_sleutel" not in document
    assert document["inhoud"] == (
        "/api/zaken/0392-2025-0000101/documenten/0392-D2025-0000101/inhoud"
    )
    assert [b["operation"] for b in zaak["berichten"]] == [
        "creeerZaak",
        "voegZaakdocumentToe",
    ]
    portaal.get("/api/zaken/bestaat-niet", "Fout", 404)


def test_document_content_is_streamed_as_an_attachment(portaal: Checked) -> None:
    response = portaal.client.get(
        "/api/zaken/0392-2025-0000101/documenten/0392-D2025-0000101/inhoud",
        headers={"Authorization": f"Bearer {portaal.key}"},
    )
    assert response.status_code == 200
    assert response.get_data() == b"%PDF-1.4 tekening"
    assert response.mimetype == "application/pdf"
    assert response.content_length == len(b"%PDF-1.4 tekening")
    assert response.headers["Content-Disposition"] == "attachment; filename=brief.pdf"


def test_document_only_through_its_own_zaak(portaal: Checked) -> None:
    """Another zaak's identificatie in the URL does not reach the document."""
    portaal.get(
        "/api/zaken/0392-2025-0000102/documenten/0392-D2025-0000101/inhoud",
        "Fout",
        404,
    )
    portaal.get(
        "/api/zaken/0392-2025-0000101/documenten/bestaat-niet/inhoud", "Fout", 404
    )


def test_confidential_documents_only_for_applications_allowed_them(
    portaal: Checked, archief: Checked
) -> None:
    """Zaak 1900230 is public; its document 190055 (the Issue329 example) is
    VERTROUWELIJK."""
    assert portaal.get("/api/zaken/1900230", "Zaak")["documenten"] == []
    url = "/api/zaken/1900230/documenten/190055/inhoud"
    portaal.get(url, "Fout", 404)
    [document] = archief.get("/api/zaken/1900230", "Zaak")["documenten"]
    assert document["vertrouwelijk_aanduiding"] == "VERTROUWELIJK"
    response = archief.client.get(
        url, headers={"Authorization": f"Bearer {archief.key}"}
    )
    assert response.status_code == 200
    assert response.get_data()[:4] == b"%PDF"
    assert response.content_length == document["grootte"]
    # Nor the confidential zaak's document, however it is asked for.
    portaal.get(
        "/api/zaken/0392-2025-0000105/documenten/0392-D2025-0000105/inhoud",
        "Fout",
        404,
    )


def test_missing_content_is_404_not_a_traceback(
    app: Flask, archief: Checked, tmp_path: Path
) -> None:
    state = app.extensions["zaakzoeker"]
    real = state.blobs
    state.blobs = BlobStore(tmp_path / "leeg")
    try:
        fout = archief.get(
            "/api/zaken/0392-2025-0000101/documenten/0392-D2025-0000101/inhoud",
            "Fout",
            404,
        )
        assert "ontbreekt" in fout["fout"]
    finally:
        state.blobs = real


def test_a_database_that_does_not_answer_is_503(
    app: Flask, portaal: Checked, tmp_path: Path
) -> None:
    """A database without the zaakregister's tables (or one that is down)
    gets a JSON 503, not a traceback."""
    state = app.extensions["zaakzoeker"]
    real = state.zoeker
    broken = sa.create_engine(f"sqlite:///{tmp_path / 'leeg.db'}")
    state.zoeker = Zoeker(broken)
    try:
        fout = portaal.get("/api/zaken?zaaktype=B1210", "Fout", 503)
        assert fout["veld"] is None
        portaal.get("/api/zaken/0392-2025-0000101", "Fout", 503)
    finally:
        state.zoeker = real
        broken.dispose()
