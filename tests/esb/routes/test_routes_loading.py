"""Loading routes files: the shipped ones, and every kind of mistake with its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from esb.errors import ConfigError
from esb.routes import (
    Destination,
    RetryPolicy,
    RouteProblem,
    RoutesError,
    SetStuurgegevens,
    Transform,
    Validate,
    Wiretap,
    check_routes,
    load_routes,
)

ROOT = Path(__file__).resolve().parents[3]
WriteRoutes = Callable[..., Path]

# The smallest file that loads: one route, one destination.
MINIMAL = """
destinations:
  zaakregister:
    type: zaakregister
routes:
  - id: zds
    from: soap:/stuf/zds
    reply: zaakregister
"""


def problems(path: Path, environ: dict[str, str] | None = None) -> list[RouteProblem]:
    return check_routes(path, environ or {})


def only_problem(path: Path, environ: dict[str, str] | None = None) -> RouteProblem:
    found = problems(path, environ)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


# -- the shipped files ------------------------------------------------------------


def test_default_routes_send_zds_to_zaakregister_and_bg_to_klantregister() -> None:
    """config/routes.yaml: /stuf/zds replies from the zaakregister, /stuf/bg
    from the klantregister, and the default validation mode is report."""
    table = load_routes(ROOT / "config" / "routes.yaml", {})

    assert table.sources() == {"soap:/stuf/zds", "soap:/stuf/bg"}
    zds, bg = table.routes
    assert (zds.sources, zds.mode, zds.destinations) == (
        ("soap:/stuf/zds",),
        "reply",
        ("zaakregister",),
    )
    assert (bg.sources, bg.mode, bg.destinations) == (
        ("soap:/stuf/bg",),
        "reply",
        ("klantregister",),
    )
    assert zds.match.everything and bg.match.everything
    assert not zds.alters_message and not bg.alters_message
    assert table.destinations["zaakregister"].type == "zaakregister"
    assert table.destinations["klantregister"].type == "klantregister"
    assert table.validation.default == "report"
    assert table.source_file == str(ROOT / "config" / "routes.yaml")


def test_forward_example_publishes_kennisgevingen_with_retry_and_dead_letter() -> None:
    """config/examples/forward-http.yaml: Lk01 is published to ${FORWARD_URL}
    with retries and a file dead letter under ${EMO_DATA:-./var}."""
    table = load_routes(
        ROOT / "config" / "examples" / "forward-http.yaml",
        {"FORWARD_URL": "https://zaken.example.nl/stuf"},
    )

    forward_route, zds = table.routes
    assert forward_route.mode == "publish"
    assert forward_route.destinations == ("forward",)
    assert forward_route.match.berichtcode == frozenset({"Lk01"})
    assert (zds.mode, zds.destinations) == ("reply", ("zaakregister",))

    forward = table.destinations["forward"]
    assert forward.type == "http"
    assert forward.settings["url"] == "https://zaken.example.nl/stuf"
    assert forward.timeout == 10
    assert forward.retry == RetryPolicy(14, 2, 2, 600, 0.2)
    assert forward.dead_letter == "dead-letter"
    dead_letter = table.destinations["dead-letter"]
    assert dead_letter.type == "file"
    assert dead_letter.settings["path"] == "./var/dead-letter"


def test_forward_example_takes_emo_data_from_the_environment() -> None:
    """${EMO_DATA:-./var} uses EMO_DATA when it is set."""
    table = load_routes(
        ROOT / "config" / "examples" / "forward-http.yaml",
        {"FORWARD_URL": "http://sink", "EMO_DATA": "/srv/emo"},
    )

    assert table.destinations["dead-letter"].settings["path"] == "/srv/emo/dead-letter"


def test_forward_example_without_forward_url_names_the_variable_and_line() -> None:
    """A missing variable is a load error with the variable's name and line."""
    path = ROOT / "config" / "examples" / "forward-http.yaml"
    line = next(
        number
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if "${FORWARD_URL}" in text and not text.lstrip().startswith("#")
    )

    with pytest.raises(RoutesError) as caught:
        load_routes(path, {})

    (problem,) = caught.value.problems
    assert problem.line == line
    assert "FORWARD_URL" in problem.message
    assert isinstance(caught.value, ConfigError)


# -- a file that loads ------------------------------------------------------------


def test_full_route_file_loads_every_section(write_routes: WriteRoutes) -> None:
    """Every section and key of the format is read into the model."""
    write_routes(IDENTITY_XSLT, "copy.xsl")
    path = write_routes(
        """
        version: 1
        validation:
          default: off
          senders:
            - applicatie: GISVG
              mode: strict
            - applicatie: GISVG
              organisatie: "1900"
              mode: report
        destinations:
          zaakregister:
            type: zaakregister
            timeout: 5.5
            retry: {attempts: 3, initial: 0.5, multiplier: 3, cap: 20, jitter: 0}
            dead_letter: dead
          audit:
            type: amqp
            exchange: stuf.audit
            durable: true
            headers: {x-emo: [a, b]}
          dead:
            type: file
            path: /var/emo/dead
        sources:
          inbox: {type: file, path: /var/emo/inbox}
        routes:
          - id: zaken
            description: all zaken
            from: [/stuf/zds, "http:/stuf/plain/", file:inbox]
            namespaces: {z: "http://www.egem.nl/StUF/sector/zkn/0310"}
            match:
              operation: [creeerZaak, updateZaak]
              berichtcode: Lk01
              entiteittype: ZAK
              mutatiesoort: [T, W]
              flavour: zds-1.1
              soap_action: '"http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01"'
              zender: {organisatie: "1900", applicatie: [GISVG, OTHER]}
              ontvanger: {applicatie: ZDS}
              xpath: "z:object/z:identificatie"
            steps:
              - validate: strict
              - transform: copy.xsl
              - transform: {stylesheet: copy.xsl, parameters: {a: "x'y"}}
              - set: {ontvanger.applicatie: ZSH, zender.gebruiker: null}
              - wiretap: audit
            publish: [zaakregister, audit]
        """
    )

    table = load_routes(path, {})

    (route,) = table.routes
    assert route.sources == ("soap:/stuf/zds", "http:/stuf/plain", "file:inbox")
    assert route.description == "all zaken"
    assert route.mode == "publish" and route.destinations == ("zaakregister", "audit")
    match = route.match
    assert match.operation == frozenset({"creeerZaak", "updateZaak"})
    assert match.mutatiesoort == frozenset({"T", "W"})
    assert match.soap_action == frozenset(
        {"http://www.egem.nl/StUF/sector/zkn/0310/creeerZaak_Lk01"}
    )
    assert match.zender is not None and match.zender.organisatie == frozenset({"1900"})
    assert match.zender.applicatie == frozenset({"GISVG", "OTHER"})
    assert match.ontvanger is not None and match.ontvanger.applicatie == frozenset(
        {"ZDS"}
    )
    assert match.xpath_text == ("z:object/z:identificatie",)
    validate, first, second, set_step, wiretap = route.steps
    assert isinstance(set_step, SetStuurgegevens) and isinstance(wiretap, Wiretap)
    assert set_step.fields == (
        ("ontvanger", "applicatie", "ZSH"),
        ("zender", "gebruiker", None),
    )
    assert wiretap.destination == "audit"
    assert validate == Validate("strict", validate.line)
    assert isinstance(first, Transform) and isinstance(second, Transform)
    assert first.xslt is second.xslt, "one stylesheet is compiled once per load"
    assert second.parameters == {"a": "x'y"}
    assert route.validation == "strict" and route.wiretaps == ("audit",)
    assert route.alters_message

    zaakregister = table.destinations["zaakregister"]
    assert zaakregister == Destination(
        "zaakregister",
        "zaakregister",
        {},
        5.5,
        RetryPolicy(3, 0.5, 3, 20, 0),
        "dead",
        zaakregister.line,
    )
    audit = table.destinations["audit"]
    assert dict(audit.settings) == {
        "exchange": "stuf.audit",
        "durable": True,
        "headers": {"x-emo": ("a", "b")},
    }
    assert audit.timeout == 30 and audit.retry == RetryPolicy()
    assert table.validation.default == "off"
    assert [
        (s.organisatie, s.applicatie, s.mode) for s in table.validation.senders
    ] == [
        (None, "GISVG", "strict"),
        ("1900", "GISVG", "report"),
    ]


IDENTITY_XSLT = """<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
  <xsl:param name="a"/>
  <xsl:template match="@*|node()">
    <xsl:copy><xsl:apply-templates select="@*|node()"/></xsl:copy>
  </xsl:template>
</xsl:stylesheet>
"""


def test_yaml_anchors_and_merge_keys_share_settings(write_routes: WriteRoutes) -> None:
    """Anchors, aliases and << merge keys work for shared destination settings."""
    path = write_routes(
        """
        destinations:
          primary: &http
            type: http
            url: http://a
            retry: &patient {attempts: 20, cap: 3600}
          secondary:
            <<: *http
            url: http://b
          other:
            type: http
            url: http://c
            retry: *patient
        routes:
          - {id: r, from: /stuf/zds, publish: [primary, secondary, other]}
        """
    )

    table = load_routes(path, {})

    assert table.destinations["secondary"].settings["url"] == "http://b"
    assert table.destinations["secondary"].retry.attempts == 20
    assert table.destinations["other"].retry.cap == 3600


def test_plain_settings_are_typed_after_placeholders_are_filled(
    write_routes: WriteRoutes,
) -> None:
    """A plain ${PORT} becomes a number, a quoted one stays text."""
    path = write_routes(
        """
        destinations:
          queue:
            type: amqp
            port: ${PORT}
            name: "${PORT}"
            vhost: ~
        routes:
          - {id: r, from: /stuf/zds, publish: queue}
        """
    )

    settings = load_routes(path, {"PORT": "5672"}).destinations["queue"].settings

    assert settings == {"port": 5672, "name": "5672", "vhost": None}


def test_match_values_keep_leading_zeros(write_routes: WriteRoutes) -> None:
    """organisatie 0392 stays the text '0392' (YAML would read 0123 as octal)."""
    path = write_routes(
        """
        destinations: {z: {type: zaakregister}}
        routes:
          - id: r
            from: /stuf/zds
            match: {zender: {organisatie: [0392, 0123]}}
            reply: z
        """
    )

    (route,) = load_routes(path, {}).routes

    assert route.match.zender is not None
    assert route.match.zender.organisatie == frozenset({"0392", "0123"})


def test_settings_check_of_an_adapter_reports_at_the_destination(
    write_routes: WriteRoutes,
) -> None:
    """An adapter's settings check speaks through the checker, with the line."""
    path = write_routes(
        """
        destinations:
          forward:
            type: http
        routes:
          - {id: r, from: /stuf/zds, publish: forward}
        """
    )

    def check_http(settings: object) -> list[str]:
        return [] if "url" in settings else ["missing setting 'url'"]  # type: ignore[operator]

    found = check_routes(path, {}, adapters={"http": check_http})

    assert [(p.line, p.message) for p in found] == [
        (2, "destination 'forward' (type http): missing setting 'url'")
    ]


# -- every kind of mistake, with its line -------------------------------------------


def position(text: str, at: str) -> tuple[int, int]:
    """The 1-based line and column where ``at`` first occurs in ``text``."""
    offset = text.index(at)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def with_destination(extra: str) -> str:
    """MINIMAL with ``extra`` lines added to destination zaakregister."""
    return MINIMAL.replace(
        "    type: zaakregister\n", "    type: zaakregister\n" + extra
    )


# (file text, the text the problem points at, what the message says); when
# that text holds a '|', the problem points just after it.
MISTAKES = [
    pytest.param(
        MINIMAL + "rotues: []\n",
        "rotues",
        "unknown key 'rotues' in the routes file; did you mean 'routes'? "
        "expected one of: version, validation, destinations, routes",
        id="unknown-top-key",
    ),
    pytest.param(
        MINIMAL + "    destinaton: zaakregister\n",
        "destinaton",
        "unknown key 'destinaton' in a route; expected one of: id, description, "
        "from, namespaces, match, steps, reply, publish",
        id="unknown-route-key",
    ),
    pytest.param(
        with_destination("    timout: 5\n"),
        "timout",
        "unknown key 'timout' in destination 'zaakregister'; did you mean 'timeout'?",
        id="near-miss-destination-key",
    ),
    pytest.param(
        MINIMAL + "  - id: zds\n    from: /stuf/bg\n    reply: zaakregister\n",
        "id: zds\n    from: /stuf/bg",
        "route id 'zds' is used twice; first at line 5",
        id="duplicate-route-id",
    ),
    pytest.param(
        MINIMAL.replace("reply: zaakregister", "reply: zaakregistr"),
        "zaakregistr\n",
        "the reply of route 'zds' names destination 'zaakregistr', which is not "
        "declared under destinations (declared: zaakregister)",
        id="undeclared-destination",
    ),
    pytest.param(
        MINIMAL.replace("reply: zaakregister", "publish: [zaakregister, nowhere]"),
        "nowhere",
        "the publish of route 'zds' names destination 'nowhere', which is not declared",
        id="undeclared-publish-destination",
    ),
    pytest.param(
        MINIMAL.replace("reply: zaakregister", "publish: [zaakregister, zaakregister]"),
        "zaakregister]",
        "destination 'zaakregister' is listed twice",
        id="publish-twice",
    ),
    pytest.param(
        MINIMAL.replace("reply: zaakregister", "reply: [zaakregister]"),
        "[zaakregister]",
        "reply takes exactly one destination, whose answer goes back to the "
        "sender; to send to several, use publish",
        id="reply-list",
    ),
    pytest.param(
        MINIMAL + "    publish: zaakregister\n",
        "publish",
        "route 'zds' has both reply and publish",
        id="reply-and-publish",
    ),
    pytest.param(
        MINIMAL.replace("    reply: zaakregister\n", ""),
        "id: zds",
        "route 'zds' has no destination; expected 'reply: <destination>' or "
        "'publish: [<destination>, ...]'",
        id="no-destination",
    ),
    pytest.param(
        MINIMAL.replace("    from: soap:/stuf/zds\n", ""),
        "id: zds",
        "missing key 'from' in a route",
        id="missing-from",
    ),
    pytest.param(
        MINIMAL.replace("soap:/stuf/zds", "smtp:stuf"),
        "smtp:stuf",
        "unknown source kind 'smtp' in 'smtp:stuf'; expected one of: soap, http, "
        "file, amqp",
        id="unknown-source-kind",
    ),
    pytest.param(
        MINIMAL.replace("soap:/stuf/zds", "http://elsewhere/stuf"),
        "http://",
        "source 'http://elsewhere/stuf' needs a path on EMO's own server",
        id="source-with-host",
    ),
    pytest.param(
        MINIMAL.replace("soap:/stuf/zds", "[/stuf/zds, 'file:']"),
        "'file:'",
        "source 'file:' needs a name after 'file:'",
        id="source-without-name",
    ),
    pytest.param(
        MINIMAL.replace("type: zaakregister", "type: zaakregistr"),
        "zaakregistr",
        "unknown type 'zaakregistr' for destination 'zaakregister'; expected one "
        "of: amqp, file, http, klantregister, soap, stuf, zaakregister",
        id="unknown-destination-type",
    ),
    pytest.param(
        MINIMAL.replace("    type: zaakregister\n", "    timeout: 3\n"),
        "timeout",
        "missing key 'type' in destination 'zaakregister'",
        id="missing-type",
    ),
    pytest.param(
        with_destination("    timeout: 0\n"),
        "0\n",
        "timeout must be more than 0, not 0",
        id="zero-timeout",
    ),
    pytest.param(
        with_destination("    retry: {attempts: 2.5}\n"),
        "2.5",
        "attempts must be a whole number, not '2.5'",
        id="fractional-attempts",
    ),
    pytest.param(
        with_destination("    retry: {jitter: 1.5}\n"),
        "1.5",
        "jitter must be at least 0 and at most 1, not 1.5",
        id="jitter-above-one",
    ),
    pytest.param(
        with_destination("    retry: {initial: 60, cap: 10}\n"),
        "10}",
        "retry cap (10 s) is less than initial (60 s)",
        id="cap-below-initial",
    ),
    pytest.param(
        with_destination("    retry: {tries: 3}\n"),
        "tries",
        "unknown key 'tries' in the retry of destination 'zaakregister'; expected "
        "one of: attempts, initial, multiplier, cap, jitter",
        id="unknown-retry-key",
    ),
    pytest.param(
        with_destination("    dead_letter: graveyard\n"),
        "graveyard",
        "the dead_letter of destination 'zaakregister' names destination "
        "'graveyard', which is not declared",
        id="undeclared-dead-letter",
    ),
    pytest.param(
        with_destination("    dead_letter: zaakregister\n"),
        "  zaakregister:",
        "dead_letter destinations go round in a circle: zaakregister -> zaakregister",
        id="dead-letter-circle",
    ),
    pytest.param(
        MINIMAL + "    match: {berichtcode: LK01}\n",
        "LK01",
        "unknown berichtcode 'LK01'; expected a StUF berichtcode such as Lk01",
        id="unknown-berichtcode",
    ),
    pytest.param(
        MINIMAL + "    match: {mutatiesoort: X}\n",
        "X}",
        "unknown mutatiesoort 'X'; expected one of: T, W, V, C, F",
        id="unknown-mutatiesoort",
    ),
    pytest.param(
        MINIMAL + "    match: {flavour: zds-2}\n",
        "zds-2",
        "unknown flavour 'zds-2'; expected one of: zds-1.2, zds-1.1, stuf-zkn, stuf-bg",
        id="unknown-flavour",
    ),
    pytest.param(
        MINIMAL + "    match: {zender: {applicatie: GISVG, organization: x}}\n",
        "organization",
        "unknown key 'organization' in zender in route 'zds'; did you mean "
        "'organisatie'?",
        id="unknown-zender-key",
    ),
    pytest.param(
        MINIMAL + "    match: {operation: []}\n",
        "[]",
        "empty list for operation; expected at least one value",
        id="empty-list",
    ),
    pytest.param(
        MINIMAL + "    match: {xpath: 'z:object'}\n",
        "'z:object'",
        "invalid XPath 'z:object': Undefined namespace prefix",
        id="xpath-unknown-prefix",
    ),
    pytest.param(
        MINIMAL + "    match: {xpath: '//ZKN:object['}\n",
        "'//ZKN",
        "invalid XPath '//ZKN:object[': Invalid expression",
        id="xpath-syntax",
    ),
    pytest.param(
        MINIMAL + "    match: {xpath: 'bogus(.)'}\n",
        "'bogus",
        "invalid XPath 'bogus(.)': Unregistered function",
        id="xpath-unknown-function",
    ),
    pytest.param(
        MINIMAL + "    steps: [{validate: strickt}]\n",
        "strickt",
        "unknown validation mode 'strickt'; expected one of: strict, report, off",
        id="bad-mode",
    ),
    pytest.param(
        MINIMAL + "    steps: [{wiretap: zaakregister}, {validate: strict}]\n",
        "validate",
        "validate must be the first step",
        id="validate-not-first",
    ),
    pytest.param(
        MINIMAL + "    steps: [{transfrom: a.xsl}]\n",
        "transfrom",
        "unknown key 'transfrom' in a step of route 'zds'; did you mean 'transform'?",
        id="unknown-step",
    ),
    pytest.param(
        MINIMAL + "    steps:\n      - validate: strict\n        wiretap: x\n",
        "validate: strict",
        "a step is one of validate, transform, set, wiretap; found validate, "
        "wiretap (start each step with its own '-')",
        id="two-steps-in-one",
    ),
    pytest.param(
        MINIMAL + "    steps: [{transform: missing.xsl}]\n",
        "missing.xsl",
        "stylesheet not found: ",
        id="missing-stylesheet",
    ),
    pytest.param(
        MINIMAL + "    steps: [{set: {ontvanger.applicatie: ~}}]\n",
        "~",
        "ontvanger.applicatie cannot be removed",
        id="set-remove-applicatie",
    ),
    pytest.param(
        MINIMAL + "    steps: [{set: {ontvanger.app: ZSH}}]\n",
        "ontvanger.app",
        "unknown key 'ontvanger.app' in set; did you mean 'ontvanger.applicatie'?",
        id="set-unknown-field",
    ),
    pytest.param(
        MINIMAL + "    steps: [{set: {}}]\n",
        "{}",
        "set changes nothing; expected one of: zender.organisatie",
        id="set-nothing",
    ),
    pytest.param(
        MINIMAL + "    namespaces: {'z:y': 'urn:x'}\n",
        "'z:y'",
        "'z:y' is not a namespace prefix",
        id="bad-prefix",
    ),
    pytest.param(
        MINIMAL.replace("- id: zds", "- id: zds route"),
        "zds route",
        "'zds route' is not a valid route id",
        id="bad-route-id",
    ),
    pytest.param(
        MINIMAL + "validation: {default: strict, senders: [{mode: off}]}\n",
        "{mode",
        "missing key 'applicatie' in a validation sender",
        id="sender-without-applicatie",
    ),
    pytest.param(
        MINIMAL
        + "validation:\n  senders:\n    - {applicatie: A, mode: off}\n"
        + "    - {applicatie: A, mode: strict}\n",
        "{applicatie: A, mode: strict}",
        "validation for sender A is given twice; first at line 10",
        id="duplicate-sender",
    ),
    pytest.param(
        with_destination("    type: zaakregister\n"),
        "type: zaakregister\n    |type",
        "duplicate key 'type' in destination 'zaakregister'; first at line 3",
        id="duplicate-key",
    ),
    pytest.param(
        MINIMAL + "version: 2\n",
        "2",
        "unknown version '2'; expected 1",
        id="unknown-version",
    ),
    pytest.param(
        MINIMAL.replace("routes:\n  - id: zds", "routes:\n  -\n  - id: zds"),
        "  -|\n  - id: zds",
        "expected a mapping (key: value) for a route, found nothing",
        id="empty-route",
    ),
    pytest.param(
        "destinations: {z: {type: zaakregister}}\nroutes: []\n",
        "[]",
        "no routes: the broker would take no message",
        id="no-routes",
    ),
    pytest.param(
        MINIMAL + "  - id: later\n    from: /stuf/zds\n    reply: zaakregister\n",
        "  - id: later",
        "route 'later' can never be chosen: route 'zds' (line 5) takes every "
        "message from soap:/stuf/zds before it",
        id="unreachable-route",
    ),
    pytest.param(
        MINIMAL + "  - id: broken: yes\n",
        ": yes",
        "not valid YAML: mapping values are not allowed here",
        id="yaml-syntax",
    ),
]


@pytest.mark.parametrize(("text", "at", "expected"), MISTAKES)
def test_each_mistake_is_reported_where_it_is(
    write_routes: WriteRoutes, text: str, at: str, expected: str
) -> None:
    """Every kind of mistake is one problem, pointing at the offending text."""
    text = text.lstrip("\n")
    before, bar, after = at.partition("|")
    offset = text.index(before + after) + (len(before) if bar else 0)
    line, column = position(text, text[offset:])

    problem = only_problem(write_routes(text))

    assert expected in problem.message, str(problem)
    assert (problem.line, problem.column) == (line, column), str(problem)


def test_empty_file_is_a_problem_about_the_whole_file(
    write_routes: WriteRoutes,
) -> None:
    """An empty file says what it should contain."""
    problem = only_problem(write_routes(""))

    assert problem.line == 0
    assert "the routes file is empty; expected 'destinations' and 'routes'" in str(
        problem
    )


def test_every_mistake_is_reported_not_just_the_first(
    write_routes: WriteRoutes,
) -> None:
    """One check lists all mistakes in file order, each with its own line."""
    path = write_routes(
        """
        destinations:
          zaakregister:
            type: zaakregister
            timeout: soon
        routes:
          - id: zds
            from: /stuf/zds
            match: {berichtcode: Lk99}
            reply: nowhere
          - id: bg
            from: ${BG_PATH}
            reply: zaakregister
        """
    )

    found = problems(path)

    assert [(p.line, p.message.split(";")[0]) for p in found] == [
        (4, "timeout must be a number, not 'soon'"),
        (8, "unknown berichtcode 'Lk99'"),
        (
            9,
            "the reply of route 'zds' names destination 'nowhere', which is not "
            "declared under destinations (declared: zaakregister)",
        ),
        (11, "environment variable 'BG_PATH' is not set (used as ${BG_PATH})"),
    ]


def test_routes_error_lists_every_problem_as_file_line_column(
    write_routes: WriteRoutes,
) -> None:
    """RoutesError's text has one 'file:line:col: message' line per problem."""
    path = write_routes(MINIMAL.replace("reply: zaakregister", "reply: ${NOPE}"))

    with pytest.raises(RoutesError) as caught:
        load_routes(path, {})

    assert str(caught.value).splitlines() == [
        "1 problem in the routes file:",
        f"{path}:7:12: environment variable 'NOPE' is not set (used as ${{NOPE}})",
    ]


def test_unreadable_file_is_a_problem_about_the_whole_file(tmp_path: Path) -> None:
    """A file that does not exist is reported without a line."""
    (problem,) = check_routes(tmp_path / "absent.yaml", {})

    assert problem.line == 0
    assert str(problem).startswith(f"{tmp_path / 'absent.yaml'}: cannot read")


def test_invalid_xslt_is_reported_with_its_own_error(write_routes: WriteRoutes) -> None:
    """A stylesheet that is XML but not XSLT names what libxslt refused."""
    write_routes(
        '<xsl:stylesheet version="1.0" '
        'xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
        "<xsl:template><xsl:bogus/></xsl:template></xsl:stylesheet>",
        "bad.xsl",
    )
    write_routes("<xsl:stylesheet", "broken.xsl")
    path = write_routes(
        MINIMAL
        + "    steps:\n      - transform: bad.xsl\n      - transform: broken.xsl\n"
    )

    bad, broken = problems(path)

    assert bad.line == 9 and "bad.xsl is not valid XSLT 1.0" in bad.message
    assert broken.line == 10 and "broken.xsl is not well-formed XML" in broken.message


def test_a_dead_letter_circle_is_reported_once(write_routes: WriteRoutes) -> None:
    """a -> b -> a is one problem, and c (leading into it) is not another."""
    path = write_routes(
        """
        destinations:
          b: {type: http, dead_letter: a}
          a: {type: http, dead_letter: b}
          c: {type: http, dead_letter: a}
        routes:
          - {id: r, from: /stuf/zds, publish: [a, c]}
        """
    )

    (problem,) = problems(path)

    assert problem.line == 3
    assert problem.message.endswith("circle: a -> b -> a")
