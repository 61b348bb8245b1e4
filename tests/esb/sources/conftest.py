"""An in-process broker service with real routes, journal and destinations.

The source tests run :class:`~esb.app.BrokerService` as ``emo run`` does
(the routed dispatcher, a SQLite journal in the test's folder, the real file
and AMQP adapters), inside the test process, with the reactor in a
background thread (:mod:`tests.esb.sources.reactor_thread`). No schema set
is loaded, so bodies are not validated; what the sources decide depends only
on the answer, and malformed XML is refused all the same (StUF055, plek
client).
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from esb.app import BrokerService
from esb.config import Settings
from esb.dispatch import close_runtime, prepare_dispatcher
from tests.conftest import EXAMPLES
from tests.esb.sources.reactor_thread import in_reactor, start_reactor

_ENVELOPED = (EXAMPLES / "haarlem" / "creeerzaakRequest.xml").read_bytes()
_REF = re.compile(rb"<stuf:referentienummer>[^<]*</stuf:referentienummer>")


def kennisgeving(referentienummer: str) -> bytes:
    """A real creeerZaak_ZakLk01 (haarlem, ZDS 1.2), bare, with this
    referentienummer: what an application drops in a folder or a queue."""
    root = etree.fromstring(_ENVELOPED)
    body = next(child for child in root.iter() if child.tag.endswith("ZakLk01"))
    bare = etree.tostring(body, xml_declaration=True, encoding="UTF-8")
    return _REF.sub(
        b"<stuf:referentienummer>"
        + referentienummer.encode()
        + b"</stuf:referentienummer>",
        bare,
        count=1,
    )


def referentienummer_of(data: bytes) -> str | None:
    found = re.search(rb"<stuf:referentienummer>([^<]*)<", data)
    return found.group(1).decode() if found else None


class Service:
    """A broker service in this process, with a routes file to rewrite."""

    def __init__(self, base: Path, routes: str) -> None:
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.routes_path = base / "routes.yaml"
        self.write_routes(routes)
        settings = Settings(
            config_dir=base / "config",
            data_dir=base / "data",
            port=0,
            routes_file=self.routes_path,
        )
        self.service = BrokerService(settings, prepare_dispatcher, close_runtime)
        self.started = False

    def write_routes(self, routes: str) -> None:
        self.routes_path.write_text(textwrap.dedent(routes).lstrip())

    def start(self) -> None:
        in_reactor(self.service.start)
        self.started = True
        in_reactor(self.service.sources.settled)

    def reload(self) -> None:
        result = in_reactor(self.service.reload)
        assert result.ok, result.text
        # The sources are re-applied after the swap; wait until they are.
        in_reactor(self.service.sources.settled)

    def source(self, name: str) -> object:
        return self.service.sources.running[name][1]

    def stop(self) -> None:
        if self.started:
            in_reactor(self.service.stop)
            self.started = False

    def with_max_bytes(self, max_bytes: int) -> Service:
        self.service.settings = replace(self.service.settings, max_body_bytes=max_bytes)
        self.service.sources.max_bytes = max_bytes
        return self


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    """Makes an (unstarted) in-process broker service for a routes text;
    every one made is stopped after the test."""
    start_reactor()
    made: list[Service] = []

    def make(routes: str) -> Service:
        running = Service(tmp_path / f"service-{len(made)}", routes)
        made.append(running)
        return running

    yield make
    for running in made:
        running.stop()
