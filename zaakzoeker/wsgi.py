"""The zaakzoeker inside the broker's daemon, through ``twisted.web.wsgi``.

The broker mounts the resource :func:`mount` returns at the first path
segment ``zaakzoeker``; Twisted's WSGI container then gives Flask
``SCRIPT_NAME=/zaakzoeker`` and the rest as ``PATH_INFO``. Flask blocks
(on the database, on argon2, on files), so requests run in a thread pool
of the zaakzoeker's own: a slow search never holds up the reactor or the
threads that deliver StUF messages. The pool starts when the reactor runs
and stops, finishing the requests under way, when it shuts down.
"""

from __future__ import annotations

from twisted.internet import reactor
from twisted.python.threadpool import ThreadPool
from twisted.web.resource import IResource
from twisted.web.wsgi import WSGIResource

from esb.config import Settings
from zaakzoeker.app import create_app
from zaakzoeker.settings import parse_settings


def mount(settings: Settings) -> IResource:
    """The zaakzoeker as a Twisted resource; raises ConfigError when its
    settings, database or SAML configuration are unusable."""
    checked = parse_settings(settings)
    app = create_app(checked)
    engine = app.extensions["zaakzoeker"].engine

    pool = ThreadPool(minthreads=1, maxthreads=checked.threads, name="zaakzoeker")
    reactor.callWhenRunning(pool.start)
    reactor.addSystemEventTrigger("during", "shutdown", pool.stop)
    reactor.addSystemEventTrigger("after", "shutdown", engine.dispose)
    return WSGIResource(reactor, pool, app)
