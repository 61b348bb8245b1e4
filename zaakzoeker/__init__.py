"""The zaakzoeker: employees search every zaak, citizens see their own.

A Flask application served by the broker's daemon under ``/zaakzoeker/``
(through ``twisted.web.wsgi``), reading the zaakregister's database
directly. Its own tables (sessions, accounts, API clients, the full-text
index) carry the prefix ``zzk_`` and their own Alembic history.
"""
