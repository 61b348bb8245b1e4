"""The WSDL catalogue in-process: zips, missing distributions, odd requests.

The broker-level behaviour (zeep reading ``?wsdl``, every file served, 404s
over HTTP) is in ``test_zaakregister_wsdl.py``; these cover what needs no
running broker.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
from lxml import etree

from esb.answers import Answer
from esb.wsdl import (
    NS_WSDL,
    NS_WSDL_SOAP,
    Catalogue,
    NotServed,
    answer_for,
    list_distribution,
)
from tests.conftest import ZDS_12, ZDS_1102

ZDS = "soap:/stuf/zds"


def ask(
    catalogue: Catalogue, query: str, *, source: str = ZDS, host: str = "emo:8470"
) -> Answer:
    """``query`` as ``name=value``, asked at /stuf/zds of ``host``."""
    name, _, value = query.partition("=")
    return answer_for(
        catalogue, source, {name: [value]}, host=host, secure=False, path="/stuf/zds"
    )


@pytest.fixture(scope="module")
def zipped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """zds-1.2 as a zip file whose members sit under a folder of their own,
    the way VNG's downloads are packed."""
    path = tmp_path_factory.mktemp("zip") / "zds-1.2-patch.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for file in sorted(ZDS_12.rglob("*")):
            if file.suffix in (".wsdl", ".xsd"):
                name = "ZDS 1.2/" + file.relative_to(ZDS_12).as_posix()
                archive.write(file, name)
    return path


def test_a_zip_distribution_serves_its_members(zipped: Path) -> None:
    """The wrapper finds the ZDS 1.2 WSDLs under the zip's own folder and
    names them by the zip's name; their imports point into the zip too."""
    catalogue = Catalogue([list_distribution(zipped)])
    answer = ask(catalogue, "wsdl=")
    assert answer.status == 200, answer.body
    root = etree.fromstring(answer.body)
    locations = [i.get("location") for i in root.iter(f"{{{NS_WSDL}}}import")]
    assert locations[0] == (
        "http://emo:8470/stuf/zds?wsdl=zds-1.2-patch/ZDS%201.2/zds0120/berichten/"
        "zds0120_beantwoordVraag_zs-dms.wsdl"
    )
    asked = locations[0].split("?wsdl=", 1)[1].replace("%20", " ")
    served = ask(catalogue, f"wsdl={asked}")
    assert served.status == 200, served.body
    assert (
        b'location="http://emo:8470/stuf/zds?wsdl=zds-1.2-patch/ZDS%201.2/0301/'
        b'stuf0301_types.wsdl"' in served.body
    )


def test_without_distributions_the_404_says_so() -> None:
    answer = ask(Catalogue([]), "wsdl=")
    assert answer.status == 404
    assert b"started without schema distributions" in answer.body


def test_zds_11_alone_gives_the_zds_11_wsdl() -> None:
    """With only zds-1.1.02, ``?wsdl`` is ZDS 1.1 (ZKN namespace)."""
    catalogue = Catalogue([list_distribution(ZDS_1102)])
    root = etree.fromstring(ask(catalogue, "wsdl=").body)
    assert root.get("targetNamespace") == "urn:emo:wsdl:zkn0310"
    assert [p.get("name") for p in root.iter(f"{{{NS_WSDL}}}port")] == [
        "BeantwoordVraag",
        "OntvangAsynchroon",
        "VrijeBerichten",
    ]
    missing = ask(catalogue, "wsdl=zds0120")
    assert missing.status == 404
    assert b"zds0120/berichten/zds0120_beantwoordVraag_zs-dms.wsdl" in missing.body


def test_a_plain_http_source_has_no_wsdl() -> None:
    catalogue = Catalogue([list_distribution(ZDS_12)])
    answer = ask(catalogue, "wsdl=", source="http:/formulieren")
    assert answer.status == 404
    assert b"takes bare StUF messages over plain HTTP" in answer.body


def test_an_ipv6_host_is_named_as_given() -> None:
    catalogue = Catalogue([list_distribution(ZDS_12)])
    root = etree.fromstring(ask(catalogue, "wsdl=", host="[::1]:8470").body)
    assert {a.get("location") for a in root.iter(f"{{{NS_WSDL_SOAP}}}address")} == {
        "http://[::1]:8470/stuf/zds"
    }


def test_an_unreadable_distribution_is_a_server_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"not a zip")
    with pytest.raises(NotServed) as raised:
        list_distribution(broken)
    assert raised.value.status == 500
    assert "broken.zip cannot be read" in str(raised.value)
