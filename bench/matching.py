#!/usr/bin/env python
"""Candidate search benchmark: the matching query from the demo district's 405 teams to a million.

The team table of a throwaway database grows to each size of --sizes in turn (PostgreSQL COPY,
teams spread over the province as dispatch/demo.py spreads them, about BUSY_SHARE of them with an
order in hand). At each size the same random orders are answered three ways: `search` (the
platform's, timed warm), `search_exhaustive` over every team of the category (brute force, also
an agreement check: any disagreement fails the run), and a NumPy scan of every team in memory.
The last line is the figure for the largest size; speedup_vs_numpy = numpy p99 / search p99.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness, matching_teams  # noqa: E402
from bench.harness import BenchError, log, percentile  # noqa: E402

DISTRICT_TEAMS = 405  # dispatch/demo.py
# Half the orders fall within this distance of the demo district's center (dispatch/demo.py
# places its stations up to 30 km from it), the other half anywhere in the province.
DISTRICT_ORDER_KM = 35.0
DEFAULT_SIZES = (405, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (405, 10_000, 100_000)
# The brute-force scan runs geopy's geodesic on every team of the category, slow at large
# sizes: at least --brute-min samples per size, then only while its time budget lasts.
BRUTE_MIN_SAMPLES = 3
# The NumPy scan's arrays are in memory once loaded: a few scans warm it.
NUMPY_WARMUP = 5
# The base settings: DEBUG would log every query and slow the very thing measured; no Redis is needed.
DJANGO_ENV = {"DJANGO_SETTINGS_MODULE": "config.settings.base", "DJANGO_DEBUG": "false", "REDIS_URL": ""}


# --- figures ------------------------------------------------------------------------


@dataclass
class SizeResult:
    teams: int
    search_s: list[float] = field(default_factory=list)
    first_s: list[float] = field(default_factory=list)  # the warm-up's searches, right after seeding
    brute_s: list[float] = field(default_factory=list)
    numpy_s: list[float] = field(default_factory=list)
    disagreements: int = 0
    empty_answers: int = 0
    candidates: int = 0
    examples: list[str] = field(default_factory=list)


# --- the database -----------------------------------------------------------------------


@contextmanager
def django_on(db_url: str) -> Iterator[None]:
    """Django in this process on the throwaway database; its connections closed before the database goes."""
    os.environ.update(DJANGO_ENV, DATABASE_URL=db_url)
    import django

    django.setup()
    try:
        yield
    finally:
        from django.db import connections

        connections.close_all()


# --- orders ----------------------------------------------------------------------------------


def make_queries(n: int, category_ids: Sequence[int], seed: int, day: date) -> list[Any]:
    """n orders, each with a random category, tomorrow 10:00-12:00: every other one in the demo
    district (within DISTRICT_ORDER_KM of its center), the rest anywhere in the province.

    The district's half gives the 405-team size orders that its teams can take (orders spread
    over the province alone found a team for one order in a hundred there).
    """
    from django.conf import settings

    from dispatch.demo import CENTER, jitter
    from dispatch.matching import MatchQuery

    tz = ZoneInfo(settings.TIME_ZONE)
    start = datetime.combine(day, dtime(10, 0), tz)
    end = datetime.combine(day, dtime(12, 0), tz)
    rng = random.Random(f"{seed}-orders")

    def place(k: int) -> tuple[float, float]:
        if k % 2 == 0:
            return jitter(rng, *CENTER, DISTRICT_ORDER_KM)
        return round(rng.uniform(*matching_teams.LAT_RANGE), 6), round(rng.uniform(*matching_teams.LNG_RANGE), 6)

    queries = []
    for k in range(n):
        lat, lng = place(k)
        queries.append(
            MatchQuery(
                lat=lat,
                lng=lng,
                category_id=rng.choice(list(category_ids)),
                window_start=start,
                window_end=end,
                limit=settings.MATCH_LIMIT,
            )
        )
    return queries


# --- measuring ----------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def measure_size(
    conn: psycopg.Connection,
    teams: int,
    category_ids: Sequence[int],
    warmup: list[Any],
    samples: list[Any],
    brute_min: int,
    brute_seconds: float,
    deadline: float,
) -> SizeResult:
    from dispatch.matching import search_exhaustive
    from dispatch.selectors import search, team_facts

    result = SizeResult(teams=teams)

    # The platform's search, warm: connection open, plans and caches primed by other orders.
    for q in warmup:
        result.first_s.append(timed(lambda q=q: search(q))[1])
    answers = []
    for q in samples:
        match, dt = timed(lambda q=q: search(q))
        result.search_s.append(dt)
        answers.append(match)
        result.candidates += len(match.candidates)
        result.empty_answers += not match.candidates
    log(f"  search: {len(samples)} samples, p99 {percentile(result.search_s, 99) * 1e3:.2f} ms")

    # NumPy: every team held in memory as arrays, loaded once per size (not timed).
    arrays, load_s = timed(lambda: matching_teams.load_arrays(conn, category_ids))
    for q in warmup[:NUMPY_WARMUP]:
        matching_teams.numpy_scan(arrays, q)
    for q in samples:
        _ids, dt = timed(lambda q=q: matching_teams.numpy_scan(arrays, q))
        result.numpy_s.append(dt)
    log(
        f"  numpy: {len(arrays.ids):,} teams loaded in {load_s:.1f} s, "
        f"p99 {percentile(result.numpy_s, 99) * 1e3:.2f} ms"
    )

    # Brute force: geodesic for every team of the category; the facts are read once per category.
    facts_by_category: dict[int, list[Any]] = {}
    spent = 0.0
    for i, q in enumerate(samples):
        if i >= brute_min and spent >= brute_seconds:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"out of time in the brute-force scan at {teams:,} teams")
        if q.category_id not in facts_by_category:
            facts_by_category[q.category_id] = team_facts(category_id=q.category_id)
        expected, dt = timed(lambda q=q: search_exhaustive(q, facts_by_category[q.category_id]))
        spent += dt
        result.brute_s.append(dt)
        got = answers[i].candidates
        if [(c.team, c.score) for c in got] != [(c.team, c.score) for c in expected]:
            result.disagreements += 1
            if len(result.examples) < 3:
                mine, theirs = [(c.team, c.score) for c in got], [(c.team, c.score) for c in expected]
                result.examples.append(
                    f"teams={teams} order {i} ({q.lat}, {q.lng}, category {q.category_id}): "
                    f"search {mine[:5]} vs brute {theirs[:5]}"
                )
    log(
        f"  brute: {len(result.brute_s)} samples in {spent:.1f} s "
        f"({len(facts_by_category)} categories read), disagreements {result.disagreements}"
    )
    return result


# --- report ----------------------------------------------------------------------------------


def ms(samples: Sequence[float], q: float) -> str:
    return f"{percentile(samples, q) * 1e3:.2f}"


def report(results: list[SizeResult]) -> None:
    print(
        f"{'teams':>10}{'first p99':>11}{'search p50':>12}{'p99 ms':>9}{'brute n':>9}{'p50':>10}{'p99 ms':>10}"
        f"{'numpy p50':>11}{'p99 ms':>9}{'speedup':>9}{'agree':>9}{'found':>7}{'empty':>7}"
    )
    for r in results:
        speedup = percentile(r.numpy_s, 99) / percentile(r.search_s, 99)
        print(
            f"{r.teams:>10,}{ms(r.first_s, 99):>11}{ms(r.search_s, 50):>12}{ms(r.search_s, 99):>9}{len(r.brute_s):>9}"
            f"{ms(r.brute_s, 50):>10}{ms(r.brute_s, 99):>10}{ms(r.numpy_s, 50):>11}{ms(r.numpy_s, 99):>9}"
            f"{speedup:>8.1f}x{len(r.brute_s) - r.disagreements:>5}/{len(r.brute_s):<3}"
            f"{r.candidates / max(1, len(r.search_s)):>7.1f}{r.empty_answers:>7}"
        )


# --- main ----------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s.replace("_", "")) for s in text.split(",") if s.strip()})
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of team counts: {text!r}") from exc
    if not sizes or sizes[0] < DISTRICT_TEAMS:
        raise argparse.ArgumentTypeError(f"every size is at least the demo district's {DISTRICT_TEAMS} teams")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (under a minute): sizes 405,10000,100000")
    p.add_argument("--sizes", type=parse_sizes, help="team counts, grown in turn (default 405,10000,100000,1000000)")
    p.add_argument("--samples", type=int, help="timed orders per size (default 300; 60 with --quick)")
    p.add_argument(
        "--brute-seconds",
        type=float,
        help="time budget of the brute-force scan per size, once --brute-min samples are done "
        "(default 40; 2 with --quick)",
    )
    p.add_argument(
        "--brute-min",
        type=int,
        help=f"brute-force samples per size whatever they cost (default {BRUTE_MIN_SAMPLES}; 1 with --quick)",
    )
    p.add_argument("--warmup", type=int, help="other orders searched first, at each size (default: --samples)")
    p.add_argument("--seed", type=int, default=2021, help="seed of the teams and orders drawn (2021)")
    p.add_argument("--max-minutes", type=float, help="give up after this long (default 45; 3 with --quick)")
    p.add_argument("--keep-db", action="store_true", help="leave the database behind, for debugging")
    harness.database_option(p)
    args = p.parse_args(argv)
    if args.sizes is None:
        args.sizes = list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    if args.samples is None:
        args.samples = 60 if args.quick else 300
    if args.warmup is None:
        args.warmup = args.samples
    if args.brute_seconds is None:
        args.brute_seconds = 2.0 if args.quick else 40.0
    if args.max_minutes is None:
        args.max_minutes = 3.0 if args.quick else 45.0
    if args.brute_min is None:
        args.brute_min = 1 if args.quick else BRUTE_MIN_SAMPLES
    if args.warmup < NUMPY_WARMUP:
        p.error(f"--warmup is at least {NUMPY_WARMUP}")
    if not 1 <= args.brute_min <= args.samples or args.brute_seconds < 0 or args.max_minutes <= 0:
        p.error("--brute-min is between 1 and --samples; --brute-seconds and --max-minutes are positive")
    harness.require_loopback(p, database_url=args.database_url)
    return args


def run(args: argparse.Namespace) -> tuple[str, int]:
    """The whole benchmark; returns the figure line and the number of disagreements."""
    deadline = time.monotonic() + args.max_minutes * 60
    name = f"bench_matching_{os.getpid()}"
    load_before = os.getloadavg()[0]
    results: list[SizeResult] = []
    env = {**os.environ, **DJANGO_ENV}
    with (
        harness.seeded_database(args.database_url, name, env, seed_args=("--orders", "0"), keep=args.keep_db) as db_url,
        django_on(db_url),
    ):
        from django.conf import settings

        tomorrow = datetime.now(ZoneInfo(settings.TIME_ZONE)).date() + timedelta(days=1)
        with psycopg.connect(db_url) as conn:
            district = matching_teams.read_district()
            queries = make_queries(args.warmup + args.samples, district.category_ids, args.seed, tomorrow)
            warmup, samples = queries[: args.warmup], queries[args.warmup :]
            rng = random.Random(f"{args.seed}-bench-matching-teams")
            current = matching_teams.team_count(conn)
            if current != DISTRICT_TEAMS:
                raise BenchError(f"the demo seed made {current} teams, expected {DISTRICT_TEAMS}")
            busy = matching_teams.give_district_work(conn, district, rng)
            matching_teams.vacuum_analyze(conn)
            log(f"  {busy} of the district's {current} teams have an order in hand")
            for size in args.sizes:
                if size > current:
                    log(f"growing to {size:,} teams")
                    t1 = time.perf_counter()
                    matching_teams.grow_teams(conn, district, rng, current, size, deadline)
                    vac = matching_teams.vacuum_analyze(conn)
                    log(f"  {size - current:,} teams in {time.perf_counter() - t1:.1f} s (VACUUM ANALYZE {vac:.1f} s)")
                    current = size
                elif size < current:
                    raise BenchError(f"the table already holds {current} teams, more than {size}")
                log(f"measuring at {size:,} teams")
                results.append(
                    measure_size(
                        conn, size, district.category_ids, warmup, samples, args.brute_min, args.brute_seconds, deadline
                    )
                )
    load_after = os.getloadavg()[0]

    print()
    print(
        f"candidate search on PostgreSQL ({name}): {args.samples} random orders per size, "
        f"limit {settings.MATCH_LIMIT}, window {tomorrow} 10:00-12:00 {settings.TIME_ZONE}"
    )
    print(harness.machine(load_before, load_after))
    print("first = the warm-up's searches, right after seeding or growing; search = the timed orders, after them")
    print("found = mean candidates per order; empty = orders with no candidate; agree = brute samples that match")
    report(results)
    examples = [e for r in results for e in r.examples]
    for e in examples:
        print(f"DISAGREEMENT {e}")
    top = results[-1]
    p99 = percentile(top.search_s, 99) * 1e3
    brute = percentile(top.brute_s, 99) * 1e3
    numpy_p99 = percentile(top.numpy_s, 99) * 1e3
    line = (
        f"teams={top.teams} p99_ms={p99:.2f} brute_p99_ms={brute:.1f} numpy_p99_ms={numpy_p99:.2f} "
        f"speedup_vs_numpy={numpy_p99 / p99:.1f}"
    )
    return line, sum(r.disagreements for r in results)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def run_checked() -> tuple[str, list[str]]:
        line, disagreements = run(args)
        return line, [f"{disagreements} brute-force samples disagree with search"] if disagreements else []

    return harness.bench_main("bench/matching.py", run_checked)


if __name__ == "__main__":
    sys.exit(main())
