"""bench/idle_penalty.py: what it times and what it refuses."""

import time

import pytest

from bench import idle_penalty


def test_each_call_is_timed_after_its_pause_and_the_first_tenth_is_not_kept() -> None:
    calls: list[float] = []
    took = idle_penalty.timed(0.01, 10, lambda: calls.append(time.perf_counter()))
    assert len(calls) == 11 and len(took) == 10
    assert all(b - a >= 0.01 for a, b in zip(calls, calls[1:], strict=False))  # the pause is not timed
    assert all(t >= 0 for t in took)


@pytest.mark.parametrize("gaps", ["", "x", "-1,0"])
def test_bad_pauses_are_refused(gaps: str) -> None:
    with pytest.raises(SystemExit):
        idle_penalty.parse_args(["--gaps", gaps])


def test_pauses_are_sorted_and_deduplicated() -> None:
    assert idle_penalty.parse_args(["--gaps", "0.25,0,0.25"]).gaps == [0.0, 0.25]
