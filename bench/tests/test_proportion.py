"""bench/ in proportion: no Python file under bench/ grows past 400 lines (bench/README.md, *Layout*)."""

from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent
LIMIT = 400


def test_no_bench_file_is_longer_than_400_lines() -> None:
    lengths = {path.relative_to(BENCH): len(path.read_text().splitlines()) for path in BENCH.rglob("*.py")}
    assert lengths, "no Python file found under bench/"
    assert {path: n for path, n in lengths.items() if n > LIMIT} == {}
