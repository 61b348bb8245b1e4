"""RetryPolicy.delay: exponential back-off with a cap and jitter."""

from __future__ import annotations

import pytest

from esb.routes import RetryPolicy

POLICY = RetryPolicy(attempts=10, initial=2.0, multiplier=3.0, cap=100.0, jitter=0.25)


def test_without_jitter_the_delay_grows_by_the_multiplier_up_to_the_cap() -> None:
    """initial, initial*multiplier, ... and never above cap."""
    policy = RetryPolicy(attempts=10, initial=2.0, multiplier=3.0, cap=100.0, jitter=0)

    assert [policy.delay(n) for n in range(1, 7)] == [2, 6, 18, 54, 100, 100]


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 5, 50])
def test_jitter_keeps_the_delay_between_its_bounds(attempt: int) -> None:
    """With rand in [0, 1) the delay lies in [base*(1-jitter), base]."""
    base = min(100.0, 2.0 * 3.0 ** (attempt - 1))

    longest = POLICY.delay(attempt, rand=lambda: 0.0)
    shortest = POLICY.delay(attempt, rand=lambda: 0.999999)
    middle = POLICY.delay(attempt, rand=lambda: 0.5)

    assert longest == base
    assert shortest == pytest.approx(base * 0.75, rel=1e-5)
    assert shortest < middle < longest
    assert middle == pytest.approx(base * 0.875)


def test_huge_attempt_numbers_give_the_cap_instead_of_overflowing() -> None:
    """multiplier ** attempt overflows a float long before anyone cares: cap."""
    assert POLICY.delay(10_000, rand=lambda: 0.0) == 100.0


def test_attempts_count_from_one() -> None:
    """delay(0) is a programming error, not a zero delay."""
    with pytest.raises(ValueError):
        POLICY.delay(0)


@pytest.mark.parametrize(
    "arguments",
    [
        {"attempts": 0},
        {"initial": -1},
        {"initial": 10, "cap": 5},
        {"multiplier": 0.5},
        {"jitter": 1.5},
    ],
)
def test_impossible_policies_are_refused(arguments: dict[str, float]) -> None:
    """A policy that could not work is a ValueError when built in code."""
    with pytest.raises(ValueError):
        RetryPolicy(**arguments)  # type: ignore[arg-type]
