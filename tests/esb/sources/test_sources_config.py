"""The ``sources:`` section of a routes file, and what the broker's answer
means for a source.

Mistakes are reported like every other mistake in a routes file: all of
them, each with its line and column, in words an admin can act on.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from esb.answers import Answer, confirmation_answer, fault_answer
from esb.errors import SchemaViolation, StufFault, Violation
from esb.message import Party, Stuurgegevens
from esb.routes import RoutesError, check_routes, load_routes
from esb.sources import read_answer
from esb.sources.amqp import AmqpSourceSettings
from esb.sources.files import FileSourceSettings

ROUTES_TAIL = """
destinations:
  out: {type: file, path: /tmp/emo-out}
routes:
  - id: r
    from: [file:inbox, amqp:stuf-in]
    publish: out
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "routes.yaml"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def problems_of(tmp_path: Path, text: str) -> list[tuple[int, int, str]]:
    found = check_routes(write(tmp_path, text), {})
    return [(problem.line, problem.column, problem.message) for problem in found]


def test_sources_are_loaded_with_their_settings_typed(tmp_path: Path) -> None:
    """Each source is a SourceDefinition under its kind:name, numbers as
    numbers, placeholders filled."""
    path = write(
        tmp_path,
        """
        sources:
          inbox:
            type: file
            path: ${INBOX}
            stable_seconds: 1
            marker: .ready
            poll_seconds: 0.5
          stuf-in:
            type: amqp
            url: amqp://guest:guest@127.0.0.1:5672/%2F
            queue: stuf-in
            prefetch: 32
        """
        + ROUTES_TAIL,
    )

    table = load_routes(path, {"INBOX": "/srv/emo/inbox"})

    inbox = table.source_definitions["file:inbox"]
    assert (inbox.name, inbox.type, inbox.source, inbox.line) == (
        "inbox",
        "file",
        "file:inbox",
        2,
    )
    assert dict(inbox.settings) == {
        "path": "/srv/emo/inbox",
        "stable_seconds": 1.0,
        "marker": ".ready",
        "poll_seconds": 0.5,
    }
    amqp = table.source_definitions["amqp:stuf-in"]
    assert amqp.settings["prefetch"] == 32
    assert FileSourceSettings.from_settings(inbox.settings).stable_seconds == 1.0
    assert FileSourceSettings.from_settings(inbox.settings).concurrency == 16
    settings = AmqpSourceSettings.from_definition(amqp)
    assert (settings.queue, settings.prefetch, settings.error_exchange) == (
        "stuf-in",
        32,
        None,
    )


def test_an_amqp_source_reads_the_queue_of_its_name_by_default(
    tmp_path: Path,
) -> None:
    """queue: is optional; amqp:stuf-in reads queue stuf-in."""
    path = write(
        tmp_path,
        """
        sources:
          inbox: {type: file, path: /tmp/in}
          stuf-in: {type: amqp, url: "amqp://127.0.0.1/"}
        """
        + ROUTES_TAIL,
    )

    definition = load_routes(path, {}).source_definitions["amqp:stuf-in"]

    assert AmqpSourceSettings.from_definition(definition).queue == "stuf-in"


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        pytest.param(
            "  inbox: {type: file}\n  stuf-in: {type: amqp, url: 'amqp://h/'}\n",
            [(2, 10, "missing key 'path' in source 'inbox'")],
            id="missing-path",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in, stable_seconds: -1}\n"
            "  stuf-in: {type: amqp, url: 'amqp://h/'}\n",
            [(2, 50, "stable_seconds of source 'inbox' must be at least 0, not -1")],
            id="negative-seconds",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in, markr: .ready}\n"
            "  stuf-in: {type: amqp, url: 'amqp://h/'}\n",
            [
                (
                    2,
                    34,
                    "unknown key 'markr' in source 'inbox' (type file); "
                    "did you mean 'marker'?",
                )
            ],
            id="unknown-key",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n"
            "  stuf-in: {type: amqp, url: 'http://user:geheim@h/'}\n",
            [
                (
                    3,
                    30,
                    "url of source 'stuf-in' must be an AMQP URL such as "
                    "amqp://user:password@host:5672/%2F, not 'http://user:***@h/'",
                )
            ],
            id="not-an-amqp-url-password-masked",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n"
            "  stuf-in: {type: amqp, url: 'amqp://h/', prefetch: 0}\n",
            [(3, 53, "prefetch of source 'stuf-in' must be at least 1, not 0")],
            id="prefetch-zero",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n"
            "  stuf-in: {type: soap, url: 'amqp://h/'}\n",
            [
                (
                    3,
                    19,
                    "source 'stuf-in' has type 'soap'; soap sources are EMO's own "
                    "web server's",
                )
            ],
            id="web-server-kind",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n"
            "  stuf-in: {type: amqp, url: 'amqp://h/'}\n"
            "  again: {type: file, path: /in/}\n",
            [(4, 3, "source 'again' reads the same folder as source 'inbox' (line 2)")],
            id="same-folder-twice",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n"
            "  stuf-in: {type: amqp, url: 'amqp://h/'}\n"
            "  idle: {type: file, path: /idle}\n",
            [
                (
                    4,
                    3,
                    "source 'idle' is read, but no route takes messages from file:idle",
                )
            ],
            id="unused-source",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n",
            [
                (
                    8,
                    24,
                    "route 'r' takes messages from amqp:stuf-in, but no source "
                    "'stuf-in' is declared under sources (declared: file:inbox)",
                )
            ],
            id="undeclared-source",
        ),
        pytest.param(
            "  inbox: {type: file, path: /in}\n  stuf-in: {type: file, path: /other}\n",
            [
                (
                    9,
                    24,
                    "route 'r' takes messages from amqp:stuf-in, but source "
                    "'stuf-in' has type file: write file:stuf-in",
                )
            ],
            id="wrong-kind",
        ),
    ],
)
def test_each_mistake_in_sources_is_reported_where_it_is(
    tmp_path: Path, sources: str, expected: list[tuple[int, int, str]]
) -> None:
    """One problem per mistake, at its line and column."""
    found = problems_of(tmp_path, "sources:\n" + sources + ROUTES_TAIL)

    assert [(line, column) for line, column, _ in found] == [
        (line, column) for line, column, _ in expected
    ], found
    for (_, _, message), (_, _, text) in zip(found, expected, strict=True):
        assert message.startswith(text), message


def test_every_mistake_in_sources_is_reported_at_once(tmp_path: Path) -> None:
    """A file with several mistakes lists them all, in file order."""
    found = problems_of(
        tmp_path,
        """
        sources:
          inbox: {type: file, poll_seconds: 0}
          stuf-in: {type: amqp, url: "amqp://h/", exchange_type: topical}
        """
        + ROUTES_TAIL,
    )

    assert [line for line, _, _ in found] == [2, 2, 3]
    with pytest.raises(RoutesError):
        load_routes(write(tmp_path, "sources: {}\n" + ROUTES_TAIL), {})


def test_a_route_from_an_undeclared_file_or_amqp_source_is_an_error(
    tmp_path: Path,
) -> None:
    """Nothing would ever arrive at a source nobody declared: the file does
    not load, and the problem names the source and its line."""
    problems = check_routes(write(tmp_path, ROUTES_TAIL), {})

    texts = [str(problem) for problem in problems]
    assert any("no source 'inbox' is declared" in text for text in texts), texts
    assert any("no source 'stuf-in' is declared" in text for text in texts), texts


# What an answer means ------------------------------------------------------------

REQUEST = Stuurgegevens(
    berichtcode="Lk01",
    zender=Party(organisatie="0392", applicatie="MORPLUS"),
    ontvanger=Party(applicatie="ZSH"),
    referentienummer="ref-1",
)
SYSTEM = Party(applicatie="EMO")


def test_a_bv03_means_journaled() -> None:
    """Status 200 with a Bv03: ok, with EMO's message id."""
    answer = confirmation_answer(REQUEST, system=SYSTEM, referentienummer="emo-id-1")

    verdict = read_answer(answer)

    assert verdict.ok and not verdict.retry
    assert verdict.message_id == "emo-id-1"
    assert b"Bv03Bericht" in verdict.answer and b"Envelope" not in verdict.answer


def test_a_client_fault_is_final_and_says_why() -> None:
    """plek client: not retried; code, omschrijving, details and every
    schema violation are in the reason."""
    fault = SchemaViolation(
        [Violation(12, "/zakLk01/object", "element omschrijving is te lang")]
    )
    answer = fault_answer(fault, REQUEST, system=SYSTEM, referentienummer="emo-id-2")

    verdict = read_answer(answer)

    assert not verdict.ok and not verdict.retry
    assert (verdict.code, verdict.plek) == ("StUF055", "client")
    assert verdict.schema_errors == (
        "regel 12, /zakLk01/object: element omschrijving is te lang",
    )
    reason = verdict.reason(file="a.xml")
    assert reason.splitlines()[:5] == [
        "file: a.xml",
        "EMO message id: emo-id-2",
        "code: StUF055",
        "plek: client",
        "omschrijving: Berichtbody is niet conform schema in sectormodel",
    ]
    assert "line 12, /zakLk01/object: element omschrijving is te lang" in reason


def test_a_server_fault_is_worth_another_try() -> None:
    """plek server (journal, route, destination): retry."""
    fault = StufFault("StUF046", plek="server", details="journaal vol")
    answer = fault_answer(fault, REQUEST, system=SYSTEM, referentienummer="x")

    verdict = read_answer(answer)

    assert verdict.retry and verdict.code == "StUF046"
    assert verdict.summary == "StUF046 (server): Opslaan bericht niet mogelijk"


def test_a_destination_answer_with_status_200_is_journaled_whatever_it_says() -> None:
    """Request-reply: the destination's own answer came after the journal."""
    verdict = read_answer(Answer(200, b"<La01Bericht>antwoord</La01Bericht>"))

    assert verdict.ok and verdict.answer.endswith(
        b"<La01Bericht>antwoord</La01Bericht>"
    )


def test_a_soap_fault_without_a_foutbericht_keeps_its_faultstring() -> None:
    """A destination's bare SOAP Fault: its faultcode decides the plek."""
    body = (
        b'<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>'
        b"<s:Fault><faultcode>s:Client</faultcode><faultstring>nee</faultstring>"
        b"</s:Fault></s:Body></s:Envelope>"
    )

    verdict = read_answer(Answer(500, body))

    assert (verdict.plek, verdict.omschrijving, verdict.retry) == (
        "client",
        "nee",
        False,
    )
