"""bench/harness.py: the figure line comes last, and any problem or failure fails the run."""

import argparse

import pytest

from bench import harness


def test_the_figure_line_is_printed_last_and_a_clean_run_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.bench_main("bench/x.py", lambda: ("teams=405 p99_ms=0.5", [])) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "teams=405 p99_ms=0.5"


def test_a_problem_fails_the_run_though_the_figure_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert harness.bench_main("bench/x.py", lambda: ("drops=1", ["1 stream connection dropped"])) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[-1] == "drops=1"
    assert "1 stream connection dropped" in err


def test_an_unexpected_status_fails_the_run() -> None:
    def run() -> tuple[str, list[str]]:
        raise harness.BenchError("POST /api/v1/orders/ answered 500, expected 201")

    assert harness.bench_main("bench/x.py", run) == 1


def test_percentiles_are_nearest_rank() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert [harness.percentile(samples, q) for q in (1, 50, 99, 100)] == [1.0, 50.0, 99.0, 100.0]
    assert harness.percentile([3.0], 99) == 3.0


def test_a_url_off_this_machine_is_refused() -> None:
    parser = argparse.ArgumentParser()
    harness.require_loopback(parser, database_url="postgres://postgres@127.0.0.1:5432/postgres")
    with pytest.raises(SystemExit):
        harness.require_loopback(parser, redis_url="redis://db.example.org:6379/12")
