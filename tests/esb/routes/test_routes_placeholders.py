"""${NAME} placeholders: filled from the environment, or precise errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from esb.routes import RoutesError, check_routes, load_routes
from esb.routes.placeholders import fill

ENVIRON = {"HOST": "zaken.example.nl", "EMPTY": "", "PORT": "8443"}


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("no placeholders", "no placeholders"),
        ("https://${HOST}:${PORT}/stuf", "https://zaken.example.nl:8443/stuf"),
        ("${MISSING:-./var}/dead", "./var/dead"),
        ("${HOST:-other}", "zaken.example.nl"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${EMPTY}", ""),
        ("${MISSING:-}", ""),
        ("${MISSING:-a:-b}", "a:-b"),
        ("cost $5, $${HOST}", "cost $5, ${HOST}"),
        ("$$", "$$"),
    ],
)
def test_placeholders_are_filled_like_a_shell_does(text: str, filled: str) -> None:
    """${NAME}, ${NAME:-default} (also for empty values) and $${ as a literal."""
    assert fill(text, ENVIRON) == (filled, [])


def test_value_of_a_variable_is_not_searched_again() -> None:
    """A variable's value containing ${...} stays as it is."""
    assert fill("${X}", {"X": "${HOST}"}) == ("${HOST}", [])


@pytest.mark.parametrize(
    ("text", "offset", "message"),
    [
        ("url: ${NOPE}", 5, "environment variable 'NOPE' is not set"),
        ("a${OPEN", 1, "placeholder '${' is not closed by '}'"),
        ("${}", 0, "'${}' is not a placeholder"),
        ("x ${1ST}", 2, "'${1ST}' is not a placeholder"),
        ("${A B}", 0, "'${A B}' is not a placeholder"),
    ],
)
def test_bad_placeholders_say_what_and_where(
    text: str, offset: int, message: str
) -> None:
    """Each failing placeholder gives its offset and the reason."""
    _, (error,) = fill(text, ENVIRON)

    assert error.offset == offset
    assert message in error.message


def test_every_missing_variable_of_one_value_is_reported() -> None:
    """Two missing variables in one value are two errors."""
    _, errors = fill("${A}/${B}", {})

    assert [error.offset for error in errors] == [0, 5]


def test_missing_variable_names_the_variable_line_and_column(
    write_routes: Callable[..., Path],
) -> None:
    """The problem points at the placeholder itself, quoted or not."""
    path = write_routes(
        """
        destinations:
          forward:
            type: http
            url: https://${FORWARD_HOST}/stuf
            token: "secret-${TOKEN}"
        routes:
          - {id: r, from: /stuf/zds, publish: forward}
        """
    )

    found = check_routes(path, {})

    assert [(p.line, p.column, p.message) for p in found] == [
        (
            4,
            18,
            "environment variable 'FORWARD_HOST' is not set (used as ${FORWARD_HOST})",
        ),
        (5, 20, "environment variable 'TOKEN' is not set (used as ${TOKEN})"),
    ]


def test_placeholders_work_in_every_value(write_routes: Callable[..., Path]) -> None:
    """Route ids, sources, match values and destination references are values."""
    path = write_routes(
        """
        destinations:
          zr: {type: zaakregister}
        routes:
          - id: ${ID}
            from: soap:${PATH}
            match: {zender: {organisatie: "${GEMEENTE}"}}
            reply: ${NAME}
        """
    )

    table = load_routes(
        path, {"NAME": "zr", "ID": "zds", "PATH": "/stuf/zds", "GEMEENTE": "0363"}
    )

    (route,) = table.routes
    assert (route.id, route.sources, route.destinations) == (
        "zds",
        ("soap:/stuf/zds",),
        ("zr",),
    )
    assert route.match.zender is not None
    assert route.match.zender.organisatie == frozenset({"0363"})


def test_keys_are_not_filled(write_routes: Callable[..., Path]) -> None:
    """A placeholder in a key stays as written (and is no valid name)."""
    path = write_routes(
        """
        destinations:
          ${NAME}: {type: zaakregister}
        routes:
          - {id: r, from: /stuf/zds, reply: zr}
        """
    )

    with pytest.raises(RoutesError) as caught:
        load_routes(path, {"NAME": "zr"})

    first, second = caught.value.problems
    assert first.message.startswith("'${NAME}' is not a valid destination")
    assert "names destination 'zr', which is not declared" in second.message


def test_default_environment_is_os_environ(
    write_routes: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without an environ mapping, os.environ fills the placeholders."""
    monkeypatch.setenv("EMO_TEST_ROUTE_ID", "from-os-environ")
    path = write_routes(
        """
        destinations: {z: {type: zaakregister}}
        routes:
          - {id: "${EMO_TEST_ROUTE_ID}", from: /stuf/zds, reply: z}
        """
    )

    assert load_routes(path).routes[0].id == "from-os-environ"
