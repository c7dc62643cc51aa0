"""bench/idle_penalty.py: what it times and what it refuses."""

from types import SimpleNamespace

import pytest

from bench import idle_penalty


def test_each_call_is_timed_after_its_pause_and_the_first_tenth_is_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    # A clock of our own: the pause moves it by 1000, each call by 1, so the pause is seen not to be timed.
    now = [0.0]
    pauses: list[float] = []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        now[0] += 1000

    def operation() -> None:
        now[0] += 1

    monkeypatch.setattr(idle_penalty, "time", SimpleNamespace(sleep=sleep, perf_counter=lambda: now[0]))
    took = idle_penalty.timed(0.01, 10, operation)
    assert pauses == [0.01] * 11
    assert took == [1.0] * 10


@pytest.mark.parametrize("gaps", ["", "x", "-1,0"])
def test_bad_pauses_are_refused(gaps: str) -> None:
    with pytest.raises(SystemExit):
        idle_penalty.parse_args(["--gaps", gaps])


def test_pauses_are_sorted_and_deduplicated() -> None:
    assert idle_penalty.parse_args(["--gaps", "0.25,0,0.25"]).gaps == [0.0, 0.25]
