"""``emo bench``: fresh copies of a message, SOAPActions, and counting answers.

The load runs against real broker processes (``emo run``) and the benchmark
sink (``bench/sink.py``) for a second or two with small numbers; nothing here
asserts a speed, only that every answer is counted under the right outcome
and the figures are printed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from esb.bench import (
    BenchError,
    MessageTemplate,
    References,
    classify,
    derive_soap_action,
    percentile,
    with_referentienummer,
)
from tests.conftest import EXAMPLES, ROOT, ZDS_12
from tests.esb.conftest import EMO, RunningBroker, emo_environment, start_broker

CREEER_ZAAK = EXAMPLES / "haarlem" / "creeerzaakRequest.xml"
GENEREER_ZAAK_ID = (
    EXAMPLES / "gisvg-flow" / "genereerZaakIdentificatie_Di02.request.xml"
)
STRICT_FORWARD = ROOT / "bench" / "forward-strict.yaml"
SINK = ROOT / "bench" / "sink.py"
PYTHON = ROOT / ".venv" / "bin" / "python"


def referentienummers(raw: bytes) -> list[str]:
    root = etree.fromstring(raw)
    return [e.text or "" for e in root.iter("{*}referentienummer")]


# The message ---------------------------------------------------------------


def test_the_first_referentienummer_gets_the_new_value() -> None:
    """Only the text of the first referentienummer element changes; every
    other byte of the message stays as it was."""
    raw = CREEER_ZAAK.read_bytes()
    copy = with_referentienummer(raw, "bench-0001")

    assert referentienummers(copy) == ["bench-0001"]
    original = "e443d87f-69ee-4fd4-b1d9-dd797ffff628"
    assert copy.replace(b"bench-0001", original.encode()) == raw


def test_unique_zaak_also_varies_the_zaak_identificatie() -> None:
    """With --unique-zaak the zaak's object/identificatie gets the fresh value
    too, so each creeerZaak creates a new zaak; nothing else changes."""
    raw = CREEER_ZAAK.read_bytes()
    template = MessageTemplate.from_bytes(raw).with_unique_zaak()
    copy = template.render("bench-0002")

    root = etree.fromstring(copy)
    assert referentienummers(copy) == ["bench-0002"]
    zaak = root.find(".//{*}object/{*}identificatie")
    assert zaak is not None and zaak.text == "bench-0002"
    restored = copy.replace(
        b"<zkn:identificatie>bench-0002<",
        b"<zkn:identificatie>0392-2020-0000027<",
        1,
    ).replace(b"bench-0002", b"e443d87f-69ee-4fd4-b1d9-dd797ffff628")
    assert restored == raw


def test_unique_zaak_needs_a_zaak_identificatie() -> None:
    raw = GENEREER_ZAAK_ID.read_bytes()
    with pytest.raises(BenchError, match="object/identificatie"):
        MessageTemplate.from_bytes(raw).with_unique_zaak()


def test_only_the_first_of_several_referentienummers_changes() -> None:
    """A message that also carries a referentienummer further on (a
    crossRef in a body, say) keeps that one."""
    raw = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b'<a xmlns:S="http://www.egem.nl/StUF/StUF0301"><S:stuurgegevens>'
        b"<S:referentienummer>one</S:referentienummer></S:stuurgegevens>"
        b"<S:referentienummer>two</S:referentienummer></a></s:Body></s:Envelope>"
    )
    assert referentienummers(with_referentienummer(raw, "new")) == ["new", "two"]


def test_an_empty_referentienummer_element_is_filled() -> None:
    """``<StUF:referentienummer/>`` is written out with the value inside."""
    raw = (
        b'<a xmlns:S="http://www.egem.nl/StUF/StUF0301"><S:stuurgegevens>'
        b'<S:referentienummer xsi:nil="false" xmlns:xsi="urn:x"/>'
        b"</S:stuurgegevens></a>"
    )
    assert referentienummers(with_referentienummer(raw, "filled")) == ["filled"]


def test_a_referentienummer_in_a_comment_is_not_taken_for_the_element() -> None:
    """The bytes are spliced where lxml sees the first element, or the
    message is refused: a commented-out one must not be replaced."""
    raw = (
        b"<a><!-- <referentienummer>old</referentienummer> -->"
        b"<referentienummer>real</referentienummer></a>"
    )
    with pytest.raises(BenchError, match="could not locate"):
        MessageTemplate.from_bytes(raw)


def test_a_message_without_referentienummer_is_refused() -> None:
    """Without a referentienummer every copy would be a duplicate."""
    with pytest.raises(BenchError, match="no referentienummer"):
        MessageTemplate.from_bytes(b"<a><b/></a>")


def test_a_message_that_is_not_xml_is_refused() -> None:
    with pytest.raises(BenchError, match="not well-formed"):
        MessageTemplate.from_bytes(b"<a><b></a>")


def test_fresh_referentienummers_are_unique_and_fit_stuf() -> None:
    """Every copy gets its own value of one length, within StUF's Refnummer
    maximum of 40 characters; two runs do not share values."""
    first, second = References(), References()
    values = [first() for _ in range(1000)] + [second() for _ in range(1000)]
    assert len(set(values)) == len(values)
    assert {len(v) for v in values} == {36}


# SOAPActions ---------------------------------------------------------------


def test_soap_action_for_a_zds_12_message() -> None:
    """ZDS 1.2: the zds0120 namespace followed by the element's name."""
    template = MessageTemplate.from_bytes(CREEER_ZAAK.read_bytes())
    assert derive_soap_action(template.body_tag) == (
        "http://www.stufstandaarden.nl/koppelvlak/zds0120/creeerZaak_ZakLk01"
    )


def test_soap_action_for_a_zkn_vrij_bericht() -> None:
    """StUF-ZKN Di02: the ZKN namespace followed by the element's name, as
    GISvg sends it (soapactions.txt in the shared examples)."""
    template = MessageTemplate.from_bytes(GENEREER_ZAAK_ID.read_bytes())
    action = derive_soap_action(template.body_tag)
    assert action == (
        "http://www.egem.nl/StUF/sector/zkn/0310/genereerZaakIdentificatie_Di02"
    )
    listed = (EXAMPLES / "gisvg-flow" / "soapactions.txt").read_text()
    assert action in listed


def test_no_soap_action_for_a_namespace_outside_stuf() -> None:
    assert derive_soap_action("{urn:other}creeerZaak_ZakLk01") is None


# Counting ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, b"<soap:Body><StUF:Bv03Bericht>", "200 Bv03"),
        (200, b"<zakLa01>", "200 other"),
        (
            500,
            b"<soap:Fault><detail><StUF:Fo03Bericht><StUF:body>"
            b"<StUF:code>StUF055</StUF:code>",
            "fault StUF055",
        ),
        (
            400,
            b"<StUF:Fo02Bericht><StUF:body><StUF:code>StUF040</StUF:code>",
            "fault StUF040",
        ),
        (503, b"busy", "http 503"),
    ],
)
def test_answers_are_classified_by_outcome(
    status: int, body: bytes, outcome: str
) -> None:
    """Bv03, any other 200, the StUF foutcode of a fault (SOAP or bare), or
    the HTTP status."""
    assert classify(status, body) == outcome


def test_percentiles_are_nearest_rank() -> None:
    ordered = [float(n) for n in range(1, 101)]
    assert percentile(ordered, 0.50) == 50.0
    assert percentile(ordered, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) == 0.0


# Against real processes ----------------------------------------------------


@dataclass
class Sink:
    process: subprocess.Popen[str]
    url: str

    def counts(self) -> dict[str, int]:
        import urllib.request

        with urllib.request.urlopen(self.url + "count", timeout=10) as answer:
            counted: dict[str, int] = json.loads(answer.read())
        return counted


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    """bench/sink.py on a port of the system's choosing."""
    process = subprocess.Popen(
        [str(PYTHON), str(SINK), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        pytest.fail(f"bench/sink.py did not start: {line}")
    yield Sink(process, line.rsplit(" ", 1)[1].strip())
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="module")
def forwarding_broker(
    tmp_path_factory: pytest.TempPathFactory, sink: Sink
) -> Iterator[RunningBroker]:
    """A broker with bench/forward-strict.yaml: kennisgevingen validated
    strictly, journaled, answered with a Bv03 and forwarded to the sink."""
    base = tmp_path_factory.mktemp("bench-broker")
    (base / "config").mkdir()
    shutil.copy(STRICT_FORWARD, base / "config" / "routes.yaml")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("FORWARD_URL", sink.url + "stuf")
        running = start_broker(base, schemas=(ZDS_12,))
    yield running
    running.stop()


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(EMO), "bench", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=emo_environment(),
    )


def bench_json(*args: str) -> dict[str, Any]:
    done = bench(*args, "--json")
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_every_copy_is_accepted_delivered_and_counted(
    forwarding_broker: RunningBroker, sink: Sink
) -> None:
    """40 copies on 4 connections: 40 answers, all Bv03 (the referentienummers
    are fresh, so none is refused as a duplicate), and 40 distinct messages
    at the sink."""
    before = sink.counts()["distinct"]
    result = bench_json(
        "--url",
        forwarding_broker.url + "/stuf/zds",
        "--message",
        str(CREEER_ZAAK),
        "--count",
        "40",
        "--concurrency",
        "4",
    )

    assert result["sent"] == 40
    assert result["answered"] == 40
    assert result["outcomes"] == {"200 Bv03": 40}
    assert set(result["latency_ms"]) >= {"p50", "p90", "p99"}
    assert 0 < result["latency_ms"]["p50"] <= result["latency_ms"]["p99"]
    # Publishing delivers after the Bv03: wait for the sink to have them all.
    deadline = time.monotonic() + 30
    while sink.counts()["distinct"] < before + 40 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sink.counts()["distinct"] == before + 40


def test_an_open_loop_run_sends_at_the_rate_and_counts(
    forwarding_broker: RunningBroker,
) -> None:
    """``--rate``: 20 copies due at 40 per second, each answered."""
    result = bench_json(
        "--url",
        forwarding_broker.url + "/stuf/zds",
        "--message",
        str(CREEER_ZAAK),
        "--rate",
        "40",
        "--count",
        "20",
        "--concurrency",
        "2",
    )
    assert result["mode"] == "open"
    assert result["target_rate"] == 40.0
    assert result["answered"] == 20
    assert result["outcomes"] == {"200 Bv03": 20}


def test_faults_are_counted_by_their_stuf_code(broker: RunningBroker) -> None:
    """The session's broker has no routes: each copy is refused with StUF040,
    and that is what is counted."""
    result = bench_json(
        "--url",
        broker.url + "/stuf/zds",
        "--message",
        str(CREEER_ZAAK),
        "--count",
        "10",
        "--concurrency",
        "3",
    )
    assert result["outcomes"] == {"fault StUF040": 10}


def test_the_summary_prints_throughput_percentiles_and_the_ceiling(
    forwarding_broker: RunningBroker,
) -> None:
    """The human-readable output: answers per second, p50/p90/p99, the
    outcomes, and with --ceiling the in-process rate and the ratio."""
    done = bench(
        "--url",
        forwarding_broker.url + "/stuf/zds",
        "--message",
        str(CREEER_ZAAK),
        "--duration",
        "1",
        "--concurrency",
        "2",
        "--ceiling",
        "--ceiling-seconds",
        "0.5",
        "--schemas",
        str(ZDS_12),
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "/s" in out
    for word in ("p50", "p90", "p99", "200 Bv03", "ceiling", "ratio"):
        assert word in out, out
    assert "0 violation(s)" in out


def test_a_broker_that_is_not_there_is_reported(tmp_path: Path) -> None:
    """Connection refused: counted as errors, and the exit status says no
    answer came."""
    import socket

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    done = bench(
        "--url",
        f"http://127.0.0.1:{port}/stuf/zds",
        "--message",
        str(CREEER_ZAAK),
        "--count",
        "5",
        "--concurrency",
        "2",
        "--json",
    )
    assert done.returncode == 1
    assert json.loads(done.stdout)["outcomes"] == {"error connect": 2}


def test_a_broker_that_never_answers_times_out_every_copy() -> None:
    """Open loop against a server that takes connections and never answers:
    the copy in flight times out, and copies that waited longer than the
    time-out for a connection are given up unsent, so the run ends."""
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes connections; nobody reads
        port = silent.getsockname()[1]
        done = bench(
            "--url",
            f"http://127.0.0.1:{port}/stuf/zds",
            "--message",
            str(CREEER_ZAAK),
            "--rate",
            "20",
            "--count",
            "10",
            "--concurrency",
            "1",
            "--timeout",
            "0.5",
            "--json",
        )
    outcomes = json.loads(done.stdout)["outcomes"]
    assert sum(outcomes.values()) == 10, outcomes
    assert set(outcomes) <= {"error timeout", "error timeout (not sent)"}
    assert done.returncode == 1


def test_bad_options_are_explained() -> None:
    """A URL that is not http://, or --ceiling without schemas."""
    done = bench("--url", "ftp://x/", "--message", str(CREEER_ZAAK))
    assert done.returncode == 2
    assert "http://" in done.stderr
    done = bench("--message", str(CREEER_ZAAK), "--ceiling")
    assert done.returncode == 2
    assert "--schemas" in done.stderr
