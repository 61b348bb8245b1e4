"""Errors under /api answer in the API's JSON, not with the pages' HTML.

The whole application (zaakzoeker.app.create_app) on a real zaakregister:
an unknown path, a wrong method, a body too large and a failure under /api
are ``{"fout": ..., "veld": null}`` as the spec's ``Fout`` schema says;
the same mistakes elsewhere stay pages for people.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.zaakzoeker.webapp import (
    ZAAK_A1,
    Zaakzoeker,
    client,
    filled,
    login,
    zaakzoeker,
)
from zaakzoeker.api import SPEC, add_client

__all__ = ["client", "filled", "zaakzoeker"]  # fixtures


def fout(response: TestResponse, status: int) -> str:
    """The ``fout`` of a JSON error answer, checked against the spec."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    document = response.get_json()
    with SPEC.open(encoding="utf-8") as stream:
        spec: dict[str, Any] = yaml.safe_load(stream)
    jsonschema.Draft202012Validator(
        {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": "#/components/schemas/Fout",
            "components": spec["components"],
        }
    ).validate(document)
    assert document["veld"] is None
    text: str = document["fout"]
    return text


@pytest.fixture
def key(zaakzoeker: Zaakzoeker) -> dict[str, str]:
    return {"Authorization": f"Bearer {add_client(zaakzoeker.engine, 'portaal')}"}


@pytest.mark.parametrize(
    "path", ["/api", "/api/", "/api/bestaat-niet", "/api/zaken/x/y/z", "/api/v2/zaken"]
)
def test_unknown_api_paths_are_json_404(client: FlaskClient, path: str) -> None:
    """With or without a key: the paths are public (openapi.json)."""
    text = fout(client.get(path), 404)
    assert text == f"onbekend pad {path}; de paden staan in /api/openapi.json"


def test_unknown_api_path_with_a_key(client: FlaskClient, key: dict[str, str]) -> None:
    assert "onbekend pad" in fout(client.get("/api/zaak", headers=key), 404)


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/api/zaken", "GET, HEAD, OPTIONS"),
        ("POST", "/api/zaken", "GET, HEAD, OPTIONS"),
        ("PUT", f"/api/zaken/{ZAAK_A1}", "GET, HEAD, OPTIONS"),
        ("DELETE", "/api/zaken/zoeken", "GET, HEAD, OPTIONS, POST"),
        ("POST", "/api/openapi.json", "GET, HEAD, OPTIONS"),
    ],
)
def test_wrong_methods_are_json_405_with_allow(
    client: FlaskClient, key: dict[str, str], method: str, path: str, allow: str
) -> None:
    response = client.open(path, method=method, headers=key)
    text = fout(response, 405)
    assert text == f"methode {method} kan niet op {path}; wel: {allow}"
    assert response.headers["Allow"] == allow


def test_a_body_too_large_is_json_413(client: FlaskClient, key: dict[str, str]) -> None:
    body = json.dumps({"tekst": "x" * (1024 * 1024)})
    response = client.post(
        "/api/zaken/zoeken", data=body, content_type="application/json", headers=key
    )
    assert fout(response, 413) == "de body is te groot: hoogstens 1024 KiB"


def test_a_failure_under_api_is_json_500(
    zaakzoeker: Zaakzoeker,
    client: FlaskClient,
    key: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An error the API does not handle itself is logged and answered as
    JSON, without its details."""

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("interne details die de client niet ziet")

    monkeypatch.setattr(zaakzoeker.app.extensions["zaakzoeker"].zoeker, "zaak", broken)
    response = client.get(f"/api/zaken/{ZAAK_A1}", headers=key)
    assert fout(response, 500) == "er ging iets mis; probeer het later opnieuw"
    assert b"interne details" not in response.data
    # The same failure on a page is the pages' error page.
    login(client)
    page = client.get(f"/zaken/{ZAAK_A1}")
    assert page.status_code == 500
    assert page.mimetype == "text/html"
    assert "<h1>Er ging iets mis</h1>" in page.get_data(as_text=True)
    assert b"interne details" not in page.data


def test_the_api_own_errors_are_unchanged(
    client: FlaskClient, key: dict[str, str]
) -> None:
    """The blueprint's own answers still come first: 401, 400, 404."""
    assert "sleutel" in fout(client.get("/api/zaken"), 401)
    response = client.get("/api/zaken?onzin=1", headers=key)
    assert response.status_code == 400
    assert response.get_json() == {"fout": "onbekende parameter", "veld": "onzin"}
    assert fout(client.get("/api/zaken/0392-2025-9999999", headers=key), 404) == (
        "zaak niet gevonden"
    )


def test_outside_the_api_errors_stay_pages(client: FlaskClient) -> None:
    """Paths that only look like the API's, and the pages' own errors."""
    for path in ("/apix", "/bestaat-niet", "/api-docs"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.mimetype == "text/html"
        assert "<h1>Niet gevonden</h1>" in response.get_data(as_text=True)
    wrong = client.delete("/inloggen")
    assert wrong.status_code == 405
    assert wrong.mimetype == "text/html"
    assert wrong.headers["Allow"]
