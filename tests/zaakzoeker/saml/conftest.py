"""One IdP playing DigiD per test module, for the module's ``settings``.

Each module defines the fixture ``settings`` (a
:class:`~zaakzoeker.saml.config.SamlSettings` from
:func:`tests.zaakzoeker.sp.sp_settings` in ``folder``); ``idp`` and
``login`` build on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.zaakzoeker.idp import RunningIdp, start_idp
from tests.zaakzoeker.sp import USERS
from zaakzoeker.saml.config import SamlSettings
from zaakzoeker.saml.login import SamlLogin


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("saml")


@pytest.fixture(scope="module")
def idp(folder: Path, settings: SamlSettings) -> Iterator[RunningIdp]:
    """The IdP, knowing the citizens of ``USERS``."""
    running = start_idp(folder, folder / "sp.xml", USERS)
    yield running
    running.stop()


@pytest.fixture
def login(idp: RunningIdp, settings: SamlSettings) -> Iterator[SamlLogin]:
    """A new service provider; the IdP answers with the level asked for."""
    idp.level = None
    yield SamlLogin(settings)
    idp.level = None
