"""The service provider's side of the SAML tests, facing the IdP of idp.py.

:func:`sp_settings` makes DigiD's service provider with fresh keys and
writes its metadata where :func:`~tests.zaakzoeker.idp.start_idp` reads it;
:func:`refused` reads a refusal; :func:`forms` the forms of the IdP's pages.
The fixtures on top of these are in saml/conftest.py.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.zaakzoeker.idp import make_sp_keys
from zaakzoeker.saml.answer import SamlIdentity
from zaakzoeker.saml.config import SamlSettings, sp_metadata
from zaakzoeker.saml.errors import SamlFout

# The citizens the IdP knows, by login name.
USERS = {
    "burger1": "999993653",
    "burger2": "999990019",
    "ongeldig": "123456789",  # fails the 11-test
}
# Where the zaakzoeker would be; nothing listens there, the tests call
# SamlLogin directly.
SP = "http://127.0.0.1:8080/zaakzoeker"


def sp_settings(
    folder: Path,
    public: str = SP,
    *,
    sls_url: str | None = None,
    acs_binding: str = "post",
) -> SamlSettings:
    """DigiD's service provider at ``public``, with new keys under
    ``folder``/sp and the IdP's metadata expected at ``folder``/idp.xml;
    its own metadata is written to ``folder``/sp.xml."""
    keys = make_sp_keys(folder)
    settings = SamlSettings(
        sp_entity_id=f"{public}/digid/metadata",
        acs_url=f"{public}/digid/acs",
        sls_url=sls_url,
        sp_key_file=keys.key_file,
        sp_cert_file=keys.cert_file,
        idp_metadata_file=folder / "idp.xml",
        required_level="midden",
        acs_binding=acs_binding,
    )
    (folder / "sp.xml").write_bytes(sp_metadata(settings))
    return settings


def refused(
    finish: Callable[[str, str], SamlIdentity], answer: str, request_id: str
) -> SamlFout:
    """The refusal ``finish`` (a login's finish or finish_artifact) gives
    ``answer``; its text names no BSN."""
    with pytest.raises(SamlFout) as caught:
        finish(answer, request_id)
    for bsn in USERS.values():
        assert bsn not in str(caught.value)
    return caught.value


def decoded(saml_response: str) -> str:
    return base64.b64decode(saml_response).decode("utf-8")


def encoded(xml: str) -> str:
    return base64.b64encode(xml.encode("utf-8")).decode("ascii")


class _Forms(HTMLParser):
    """The forms of a page: action, method and the named fields' values."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                {
                    "@action": values.get("action", ""),
                    "@method": values.get("method", "get"),
                }
            )
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1][values["name"]] = values.get("value", "")


def forms(page: str) -> list[dict[str, str]]:
    """The forms of an HTML page, each as its fields' values by name, with
    "@action" and "@method"."""
    parser = _Forms()
    parser.feed(page)
    return parser.forms
