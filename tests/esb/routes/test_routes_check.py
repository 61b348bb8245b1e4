"""run_check, behind `emo routes check [FILE]`: every problem, then a verdict."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from esb.routes import run_check

ROOT = Path(__file__).resolve().parents[3]


def test_a_good_file_says_ok_and_exits_zero() -> None:
    """The shipped routes file passes."""
    out = io.StringIO()
    path = ROOT / "config" / "routes.yaml"

    assert run_check(path, environ={}, out=out) == 0
    assert out.getvalue() == f"{path}: OK\n"


def test_a_wrong_file_lists_every_problem_and_exits_one(
    write_routes: Callable[..., Path],
) -> None:
    """One line per problem, file:line:column first, then a count."""
    path = write_routes(
        """
        destinations:
          zaakregister: {type: zaakregister, timeout: never}
        routes:
          - id: zds
            from: /stuf/zds
            steps: [{validate: always}]
            reply: zaakregistr
        """
    )
    out = io.StringIO()

    assert run_check(path, environ={}, out=out) == 1

    assert out.getvalue().splitlines() == [
        f"{path}:2:47: timeout must be a number, not 'never'",
        f"{path}:6:24: unknown validation mode 'always'; expected one of: "
        "strict, report, off",
        f"{path}:7:12: the reply of route 'zds' names destination 'zaakregistr', "
        "which is not declared under destinations (declared: zaakregister)",
        f"{path}: 3 problems",
    ]


def test_without_a_file_the_default_routes_are_checked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No FILE means config/routes.yaml under the working directory."""
    monkeypatch.chdir(ROOT)
    out = io.StringIO()

    assert run_check(environ={}, out=out) == 0
    assert out.getvalue() == "config/routes.yaml: OK\n"
