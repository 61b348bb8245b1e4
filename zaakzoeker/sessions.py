"""Server-side sessions: a random id in a cookie, the data in ``zzk_sessions``.

The cookie holds 32 random bytes (URL-safe base64) and nothing else; the
row is keyed by the SHA-256 of that value, so someone who reads the table
cannot take over a session with what they find there. Everything a session
knows stays in the row: who logged in (columns ``gebruiker`` and
``rollen``), a citizen's BSN (column ``bsn``, never in the JSON of
``data``), and in ``data`` the CSRF token, a pending SAML request, a
search's filters.

- **Renewal**: :meth:`ServerSession.renew` (at login) gives the session a
  new id; the old row is deleted when the response is saved, so an id fixed
  before login (session fixation) is worthless after it.
- **End**: :meth:`ServerSession.end` (at logout) deletes the row and the
  cookie.
- **Idle expiry**: a row is dead once ``verloopt`` (last use plus
  ``session_minutes``) has passed; it is ignored when read, and swept out now
  and then.

Rows are written only when the data changed, or at most once a minute to
record that the session is still in use, so reading pages costs no writes.

With ``binding: post`` an identity provider posts its answer to the ACS
from another site, and a ``SameSite=Lax`` cookie does not come along with a
cross-site POST. While such a SAML login is pending, a second cookie
(``zaakzoeker_saml``) therefore carries the session id with
``SameSite=None`` (which browsers accept only with ``Secure``, so over
HTTPS), sent only to the ACS paths; login renews the session and deletes it.
With ``binding: artifact`` (the default) the IdP sends the browser back by a
top-level GET, which carries the ``Lax`` cookie, so no second cookie is set.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from zaakzoeker.database import sessions_table as table

COOKIE = "zaakzoeker"
ACS_COOKIE = "zaakzoeker_saml"
ACS_PATHS = ("/digid/acs", "/saml/acs")
# How often a session in use gets its last use written.
TOUCH_SECONDS = 60.0
# How often expired rows are swept out (by whichever request comes first).
SWEEP_SECONDS = 300.0
# Session keys kept in columns of their own rather than in the JSON.
BSN = "bsn"
GEBRUIKER = "gebruiker"
ROLLEN = "rollen"


def _key(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("ascii", "replace")).hexdigest()


class ServerSession(CallbackDict[str, Any], SessionMixin):
    """The data of one session; Flask's ``session`` during a request."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        session_id: str | None = None,
        gebruikt: float = 0.0,
    ) -> None:
        def on_update(_self: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.session_id = session_id
        self.new = session_id is None
        self.gebruikt = gebruikt
        self.modified = False
        self.previous_id: str | None = None
        self.ended = False
        # The ACS path the SAML cookie goes to while a login is pending.
        self.acs_path: str | None = None

    def renew(self) -> None:
        """Empty the session and give it a new id (at login); the old id
        stops working."""
        if self.session_id is not None and self.previous_id is None:
            self.previous_id = self.session_id
        self.clear()
        self.session_id = None
        self.new = True
        self.modified = True

    def end(self) -> None:
        """End the session: its row and its cookie go (at logout)."""
        self.clear()
        self.ended = True
        self.modified = True


class DatabaseSessions(SessionInterface):
    """Flask's session interface on ``zzk_sessions``."""

    def __init__(
        self,
        engine: sa.Engine,
        *,
        idle_seconds: float,
        secure: bool,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.idle_seconds = idle_seconds
        self.secure = secure
        self.clock = clock
        self._lock = threading.Lock()
        self._last_sweep = 0.0

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        session_id = request.cookies.get(COOKIE) or request.cookies.get(ACS_COOKIE)
        if not session_id or len(session_id) > 100:
            return ServerSession()
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(table).where(table.c.id == _key(session_id))
            ).first()
        if row is None or row.verloopt < self.clock():
            # Unknown, ended or idle too long: a fresh session, new id.
            return ServerSession()
        try:
            data = json.loads(row.data)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {}
        if row.bsn:
            data[BSN] = row.bsn
        if row.gebruiker:
            data[GEBRUIKER] = row.gebruiker
        if row.rollen:
            data[ROLLEN] = row.rollen.split()
        return ServerSession(data, session_id, row.laatst_gebruikt)

    def save_session(
        self, app: Flask, session: SessionMixin, response: Response
    ) -> None:
        assert isinstance(session, ServerSession)
        path = self.get_cookie_path(app)
        now = self.clock()
        with self.engine.begin() as connection:
            if session.previous_id is not None:
                connection.execute(
                    sa.delete(table).where(table.c.id == _key(session.previous_id))
                )
                self._forget_acs(response, path)
            if session.ended:
                if session.session_id is not None:
                    connection.execute(
                        sa.delete(table).where(table.c.id == _key(session.session_id))
                    )
                response.delete_cookie(COOKIE, path=path, httponly=True)
                self._forget_acs(response, path)
                return
            if session.new:
                if not session.modified or not session:
                    return  # nothing to keep: no row, no cookie
                session.session_id = secrets.token_urlsafe(32)
                connection.execute(
                    sa.insert(table).values(
                        id=_key(session.session_id),
                        aangemaakt=now,
                        **self._columns(session, now),
                    )
                )
            elif session.modified:
                assert session.session_id is not None
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == _key(session.session_id))
                    .values(**self._columns(session, now))
                )
            elif now - session.gebruikt >= TOUCH_SECONDS:
                assert session.session_id is not None
                connection.execute(
                    sa.update(table)
                    .where(table.c.id == _key(session.session_id))
                    .values(laatst_gebruikt=now, verloopt=now + self.idle_seconds)
                )
            else:
                return
            self._sweep(connection, now)
        response.set_cookie(
            COOKIE,
            session.session_id,
            path=path,
            httponly=True,
            secure=self.secure,
            samesite="Lax",
        )
        if session.acs_path is not None:
            response.set_cookie(
                ACS_COOKIE,
                session.session_id,
                max_age=int(self.idle_seconds),
                path=path.rstrip("/") + session.acs_path,
                httponly=True,
                secure=self.secure,
                samesite="None" if self.secure else "Lax",
            )
        response.vary.add("Cookie")

    def _forget_acs(self, response: Response, path: str) -> None:
        for acs in ACS_PATHS:
            response.delete_cookie(
                ACS_COOKIE, path=path.rstrip("/") + acs, httponly=True
            )

    def _columns(self, session: ServerSession, now: float) -> dict[str, Any]:
        data = {
            key: value
            for key, value in session.items()
            if key not in (BSN, GEBRUIKER, ROLLEN)
        }
        rollen = session.get(ROLLEN) or []
        return {
            "data": json.dumps(data),
            "bsn": session.get(BSN),
            "gebruiker": session.get(GEBRUIKER),
            "rollen": " ".join(rollen),
            "laatst_gebruikt": now,
            "verloopt": now + self.idle_seconds,
        }

    def _sweep(self, connection: sa.Connection, now: float) -> None:
        with self._lock:
            if now - self._last_sweep < SWEEP_SECONDS:
                return
            self._last_sweep = now
        connection.execute(sa.delete(table).where(table.c.verloopt < now))

    def get_cookie_path(self, app: Flask) -> str:
        # Under the broker the application lives at /zaakzoeker (SCRIPT_NAME);
        # its cookies are not sent to the broker's other paths.
        from flask import request

        return (request.script_root or "") + "/"
