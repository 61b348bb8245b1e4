"""The zaakzoeker's Flask application: pages, API, sessions, security.

:func:`create_app` builds it from checked settings: the database (migrated),
the blob store of the zaakregister, server-side sessions, CSRF protection on
every form (the API, authenticated by token, is exempt), the SAML logins
that are configured, and the security headers every answer carries:

- ``Content-Security-Policy``: nothing but this application's own style
  sheet; no script at all, no frames (``frame-ancestors 'none'``), forms
  only to this application and to the configured identity providers (a
  login or logout form's answer redirects there, and Chromium applies
  ``form-action`` to that redirect);
- ``X-Frame-Options: DENY`` for browsers without CSP level 2;
- ``Cache-Control: no-store`` on every page and download (they are
  personal); the style sheet may be cached;
- ``Referrer-Policy: same-origin``: a zaak identificatie in a URL does not
  travel to another site (and Flask-WTF, which over HTTPS demands a Referer
  of this site on every form, still gets one); ``X-Content-Type-Options:
  nosniff``.

Every request is logged as one event (method, path, status, milliseconds),
never with its query string or form, so no BSN reaches the log.

Errors are pages for people, except under ``/api``: there an unknown path,
a wrong method (with ``Allow``), a body too large or a failure answers in
the API's own JSON, ``{"fout": text, "veld": null}``, as the API's other
errors do (``zaakzoeker/openapi.yaml``, schema ``Fout``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import Flask, Response, g, request, url_for
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]
from lxml import etree
from twisted.logger import Logger
from twisted.python.failure import Failure
from werkzeug.exceptions import HTTPException

from esb.errors import ConfigError
from registers.zaakregister.blobs import BlobStore
from zaakzoeker.accounts import Pogingen
from zaakzoeker.sessions import DatabaseSessions
from zaakzoeker.settings import SamlSectie, ZaakzoekerSettings

if TYPE_CHECKING:
    from zaakzoeker.search import Zoeker

log = Logger(namespace="zaakzoeker")

# The largest request body (a login form, a search posted as JSON).
MAX_BODY = 1024 * 1024


@dataclass
class Zaakzoeker:
    """What the pages and the API share: ``app.extensions["zaakzoeker"]``."""

    settings: ZaakzoekerSettings
    engine: sa.Engine
    zoeker: Zoeker
    blobs: BlobStore
    digid: Any | None = None  # zaakzoeker.saml.login.SamlLogin
    medewerkers_saml: Any | None = None
    pogingen: Pogingen = field(default_factory=Pogingen)


def create_app(
    settings: ZaakzoekerSettings, *, engine: sa.Engine | None = None
) -> Flask:
    """The zaakzoeker as a WSGI application.

    ``engine`` is opened (and migrated) from the settings when not given.
    Raises ConfigError when the database or a SAML configuration is unusable.
    """
    from zaakzoeker.search import Zoeker

    if engine is None:
        engine = _open_engine(settings.database_url)
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        # A token lives as long as its session (which expires when idle).
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=MAX_BODY,
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.session_interface = DatabaseSessions(
        engine,
        idle_seconds=settings.session_minutes * 60.0,
        secure=settings.secure_cookies,
    )
    csrf = CSRFProtect(app)

    state = Zaakzoeker(
        settings=settings,
        engine=engine,
        zoeker=Zoeker(engine),
        blobs=BlobStore(settings.documents),
        digid=_saml_login(settings.digid, settings.public_url),
        medewerkers_saml=_saml_login(settings.medewerkers_saml, settings.public_url),
    )
    app.extensions["zaakzoeker"] = state

    from zaakzoeker import pages
    from zaakzoeker.api import blueprint as api

    csrf.exempt(api)
    app.register_blueprint(api, url_prefix="/api")
    pages.register(app, csrf)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        if _api_request():
            return _api_http_error(exc)
        return pages.http_fout(exc)

    @app.errorhandler(Exception)
    def _server_error(exc: Exception) -> Response:
        if _api_request():
            log.failure(
                "Zaakzoeker API request failed: {path}",
                failure=Failure(exc),
                path=request.path,
            )
            return _api_error(500, "er ging iets mis; probeer het later opnieuw")
        return pages.server_fout(exc)

    policy = _content_security_policy(settings)

    @app.before_request
    def _started() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        # A download sets a stricter policy of its own.
        headers.setdefault("Content-Security-Policy", policy)
        headers["X-Frame-Options"] = "DENY"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        started = g.get("started")
        log.info(
            "{method} {path} {status} {ms:.1f} ms",
            method=request.method,
            path=request.script_root + request.path,
            status=response.status_code,
            ms=(time.perf_counter() - started) * 1000 if started else 0.0,
        )
        return response

    return app


def _api_request() -> bool:
    """Whether the request is for the JSON API (whether or not a route of
    the API matched)."""
    return request.path == "/api" or request.path.startswith("/api/")


def _api_error(status: int, fout: str) -> Response:
    return Response(
        json.dumps({"fout": fout, "veld": None}, ensure_ascii=False),
        status=status,
        mimetype="application/json",
    )


def _api_http_error(exc: HTTPException) -> Response:
    """An HTTP error under ``/api`` as the API's JSON."""
    status = exc.code or 500
    if status == 404:
        spec = url_for("api.openapi")
        return _api_error(404, f"onbekend pad {request.path}; de paden staan in {spec}")
    if status == 405:
        valid = sorted(getattr(exc, "valid_methods", None) or ())
        response = _api_error(
            405,
            f"methode {request.method} kan niet op {request.path}"
            + (f"; wel: {', '.join(valid)}" if valid else ""),
        )
        if valid:
            response.headers["Allow"] = ", ".join(valid)
        return response
    if status == 413:
        return _api_error(413, f"de body is te groot: hoogstens {MAX_BODY // 1024} KiB")
    return _api_error(status, exc.description or exc.name)


def _open_engine(url: str) -> sa.Engine:
    from sqlalchemy.exc import SQLAlchemyError

    from registers.zaakregister.database import Database
    from zaakzoeker.database import open_engine

    try:
        # The zaakzoeker's migrations build on the zaakregister's tables.
        Database.open(url, pool_size=1).close()
        return open_engine(url)
    except (SQLAlchemyError, ValueError) as exc:
        shown = sa.make_url(url).render_as_string(hide_password=True)
        raise ConfigError(
            f"zaakzoeker: cannot open the database {shown}: {exc}"
        ) from exc


def _saml_login(sectie: SamlSectie | None, public_url: str) -> Any | None:
    if sectie is None:
        return None
    from zaakzoeker.saml.login import SamlLogin

    if sectie.binding == "artifact" and not _artifact_resolution(sectie):
        raise ConfigError(
            f"zaakzoeker.{sectie.naam}: binding artifact, but the IdP's metadata "
            f"{sectie.idp_metadata} names no ArtifactResolutionService (SOAP) "
            "to resolve artifacts at; set binding: post if the IdP posts its answer"
        )
    try:
        return SamlLogin(sectie.saml_settings(public_url))
    except ConfigError:
        raise
    except Exception as exc:
        # pysaml2 raises many kinds for a bad key, certificate or metadata.
        raise ConfigError(f"zaakzoeker.{sectie.naam}: {exc}") from exc


def _content_security_policy(settings: ZaakzoekerSettings) -> str:
    form_targets = ["'self'"]
    for sectie in (settings.digid, settings.medewerkers_saml):
        if sectie is not None:
            form_targets += sorted(_idp_origins(sectie))
    return "; ".join(
        (
            "default-src 'none'",
            "style-src 'self'",
            "img-src 'self'",
            f"form-action {' '.join(dict.fromkeys(form_targets))}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
        )
    )


_MD = "urn:oasis:names:tc:SAML:2.0:metadata"
_SOAP_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"


def _idp_metadata(sectie: SamlSectie) -> etree._Element:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    try:
        return etree.parse(str(sectie.idp_metadata), parser).getroot()
    except (OSError, etree.XMLSyntaxError) as exc:
        raise ConfigError(
            f"zaakzoeker.{sectie.naam}.idp_metadata {sectie.idp_metadata}: {exc}"
        ) from exc


def _idp_origins(sectie: SamlSectie) -> set[str]:
    """The origins of the identity provider's endpoints, from its metadata:
    a login or logout answer redirects the browser there."""
    origins = set()
    for element in _idp_metadata(sectie).iter():
        location = element.get("Location")
        if location is None:
            continue
        parts = urlsplit(location)
        if parts.scheme in ("http", "https") and parts.netloc:
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return origins


def _artifact_resolution(sectie: SamlSectie) -> bool:
    """Whether the IdP's metadata names where to resolve an artifact (SAML
    bindings 3.6.4: an ArtifactResolutionService with the SOAP binding)."""
    root = _idp_metadata(sectie)
    services = root.iterfind(
        f".//{{{_MD}}}IDPSSODescriptor/{{{_MD}}}ArtifactResolutionService"
    )
    return any(
        service.get("Binding") == _SOAP_BINDING and service.get("Location")
        for service in services
    )
