#!/usr/bin/env python
"""Candidate search benchmark: the matching query at 405 to 1 000 000 teams.

Creates a throwaway PostgreSQL database (`bench_matching_<pid>`), migrates it,
seeds the demo district (405 teams) with `dispatch.demo.seed`, then grows the
team table to each size of `--sizes` in turn with teams spread over the province
as demo.py draws them past the district. The rows (teams, their categories and
the matching index `TeamCell`) go in with PostgreSQL COPY, then VACUUM ANALYZE.
About 5 % of the teams at every size (BUSY_SHARE) hold an order, accepted or in
service, as on a working platform: their loads count, and some teams are full.

At each size the same random orders (half in the demo district, half anywhere in
the province; a category; the window tomorrow 10:00-12:00 Asia/Shanghai) are
answered three ways:

* search   - `dispatch.selectors.search`, as the platform runs it: the indexed
             prefilter in PostgreSQL, the loads, then exact ranking;
* brute    - `dispatch.matching.search_exhaustive` over every team serving the
             category, held in memory: geopy's geodesic for each (a few samples
             at large sizes, within --brute-seconds);
* numpy    - a vectorized haversine over every team held in memory as arrays,
             masked by radius and category, best `limit` by distance.

The search is timed at steady state: first --warmup other random orders (as many
as --samples by default) bring PostgreSQL's buffers to what a server that has been
answering for a while holds, instead of what a fresh seeding and checkpoint left.
Those first searches are timed too and shown apart ("first p99"): at a million
teams the index is larger than the 128 MB of shared buffers this machine's
PostgreSQL has, so right after seeding most index pages come from the OS cache.

Every brute-force sample is also an agreement check: `search` must return the
same teams, in the same order, with the same scores. Any disagreement fails the
run (exit 1) after the table is printed.

    .venv/bin/python bench/matching.py [--quick] [--sizes 405,1000000] [--samples N] [--keep-db]

The last line is the figure, for the largest size:

    teams=… p99_ms=… brute_p99_ms=… numpy_p99_ms=… speedup_vs_numpy=…

speedup_vs_numpy = numpy p99 / search p99.
"""

from __future__ import annotations

import argparse
import io
import math
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
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.lifecycle import BenchError, bench_main, percentile, throwaway_database  # noqa: E402

DISTRICT_TEAMS = 405  # dispatch/demo.py
# The province the teams past the district are spread over (dispatch/demo.py, _seed_teams).
LAT_RANGE = (26.0, 32.5)
LNG_RANGE = (100.0, 108.5)
# Half the orders fall within this distance of the demo district's center (dispatch/demo.py
# places its stations up to 30 km from it), the other half anywhere in the province.
DISTRICT_ORDER_KM = 35.0
DEFAULT_SIZES = (405, 10_000, 100_000, 1_000_000)
QUICK_SIZES = (405, 10_000, 100_000)
# Teams per COPY batch (and per transaction): big enough for COPY to stream, small
# enough to show progress and keep memory flat at a million teams.
CHUNK = 50_000
# The brute-force scan spends geopy's geodesic on every team of the category (about
# 70 µs each, more when no team is near and the search distance widens): at a
# million teams one sample takes tens of seconds. It runs at least --brute-min
# samples per size, then stops when its time budget is spent.
BRUTE_MIN_SAMPLES = 3
# The NumPy scan's arrays are in memory once loaded: a few scans warm it.
NUMPY_WARMUP = 5
EARTH_RADIUS_KM = 6371.0088  # the mean radius, as dispatch.matching uses
# A working platform has teams at work: about this share of the teams holds an order, accepted
# or in service, so loads count and some teams are full. It also keeps the orders table from
# being empty, which no platform's is: on an empty table PostgreSQL counts each team's load
# with a sequential scan, and a rescan of one costs a system call per team.
BUSY_SHARE = 0.05
BUSY_ORDER_COLUMNS = (
    "state, level, priority, description, lat, lng, address, window_start, window_end, contact_name, "
    "contact_phone, idempotency_fingerprint, mode, cascade_queue, checkin_code, reject_reason, summary, "
    "comment, publicity_consent, created_at, updated_at, accepted_at, category_id, placed_by_id, team_id, station_id"
)


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report and its last line."""
    print(message, file=sys.stderr, flush=True)


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
def django_connections_closed() -> Iterator[None]:
    """Close this process's Django connections on the way out, before the database is dropped."""
    try:
        yield
    finally:
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()


def start_django(db_url: str) -> None:
    """Django on the throwaway database, with the base settings and DEBUG off.

    DEBUG would log every query in `connection.queries` and slow the very thing
    measured; no Redis is needed, since matching touches neither cache nor channels.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.base"
    os.environ["DATABASE_URL"] = db_url
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["REDIS_URL"] = ""
    import django

    django.setup()


def migrate_and_seed_district() -> None:
    from django.core.management import call_command
    from django.db import connection

    from dispatch import demo

    call_command("migrate", interactive=False, verbosity=0)
    report = demo.seed(teams=DISTRICT_TEAMS, orders=0)
    if report.teams != DISTRICT_TEAMS:
        raise BenchError(f"the demo seed made {report.teams} teams, expected {DISTRICT_TEAMS}")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


@dataclass(frozen=True)
class District:
    """What new teams hang off: the demo stations (in seeding order) and the categories."""

    stations: tuple[tuple[int, str], ...]
    category_ids: tuple[int, ...]
    emergency_id: int
    staff_user_id: int  # who the benchmark's busy orders say placed them


def read_district() -> District:
    from dispatch.choices import Level
    from dispatch.models import Unit
    from requests_app.models import Category

    # demo.py hands team k the station (k - 1) mod n, in the order it created them.
    stations = list(Unit.objects.filter(level=Level.STATION).order_by("id").values_list("id", "name"))
    categories = list(Category.objects.order_by("id").values_list("id", "code"))
    emergency = [cid for cid, code in categories if code == "emergency"]
    if not stations or not emergency:
        raise BenchError("the demo district has no stations or no emergency category")
    from django.contrib.auth import get_user_model

    staff = get_user_model().objects.filter(staff_profile__isnull=False).order_by("id").values_list("id", flat=True)
    return District(tuple(stations), tuple(cid for cid, _code in categories), emergency[0], staff[0])


def busy_order_row(rng: random.Random, district: District, team: tuple[int, int, float, float, int], now: str) -> str:
    """An order the team has in hand (accepted, or in service), at its home, for the two hours from `now`."""
    team_id, station_id, lat, lng, category_id = team
    state = rng.choice(("accepted", "in_service"))
    until = (datetime.fromisoformat(now) + timedelta(hours=2)).isoformat()
    return _text_row(
        (state, 1, "normal", "", lat, lng, "", now, until, "", "", "", "directed", "[]", "000000", "", "", "")
        + ("f", now, now, now, category_id, district.staff_user_id, team_id, station_id)
    )


def give_district_work(conn: psycopg.Connection, district: District, rng: random.Random) -> int:
    """Orders in hand for about BUSY_SHARE of the demo district's teams (dispatch/demo.py seeds none)."""
    now = datetime.now(ZoneInfo("UTC")).isoformat()
    teams = conn.execute(
        "SELECT t.id, t.unit_id, t.home_lat, t.home_lng, min(c.category_id) FROM volunteers_team t "
        "JOIN volunteers_team_categories c ON c.team_id = t.id GROUP BY t.id ORDER BY t.id"
    ).fetchall()
    busy = [team for team in teams if rng.random() < BUSY_SHARE]
    with conn.cursor() as cur:
        with cur.copy(f"COPY dispatch_order ({BUSY_ORDER_COLUMNS}) FROM STDIN") as copy:
            copy.write("".join(busy_order_row(rng, district, team, now) for team in busy))
        # The index keeps each team's load, as the platform's order transitions do.
        cur.execute("UPDATE dispatch_teamcell SET load = load + 1 WHERE team_id = ANY(%s)", [[t[0] for t in busy]])
    conn.commit()
    return len(busy)


def team_count(conn: psycopg.Connection) -> int:
    return conn.execute("SELECT count(*) FROM volunteers_team").fetchone()[0]


def _text_row(values: Sequence[Any]) -> str:
    # COPY text format; none of the values written here holds a tab, newline or backslash.
    return "\t".join("\\N" if v is None else str(v) for v in values) + "\n"


def grow_teams(
    conn: psycopg.Connection,
    district: District,
    rng: random.Random,
    start: int,
    target: int,
    deadline: float,
) -> None:
    """Teams start+1 .. target, drawn as dispatch/demo.py draws its teams past the district, written with COPY.

    The demo seed is not reused for this: its ORM bulk_create takes hours at a
    million teams, while COPY writes the same rows (Team, its categories and the
    TeamCell index, one row per category served) in a few minutes.
    """
    from dispatch.geo import team_cell
    from dispatch.models import TEAM_FACTS_COPIED

    copied = ", ".join(TEAM_FACTS_COPIED)

    stations = district.stations
    cat_ids = list(district.category_ids)
    now = datetime.now(ZoneInfo("UTC")).isoformat()
    t0 = time.perf_counter()
    written = 0
    total = target - start
    # Teams, categories and cells reference ids read from this very database a moment
    # ago, so the foreign-key triggers (checked per row at commit: millions of index
    # probes) only cost time. Skipping them needs a superuser; without one, they run.
    try:
        conn.execute("SET session_replication_role = replica")
        conn.commit()
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        log("  (not a superuser: foreign keys are checked row by row, seeding is slower)")
    for chunk_start in range(start, target, CHUNK):
        if time.monotonic() > deadline:
            raise BenchError(f"out of time while seeding teams ({written} of {total} written)")
        teams, links, cells, busy = io.StringIO(), io.StringIO(), io.StringIO(), io.StringIO()
        for k in range(chunk_start + 1, min(target, chunk_start + CHUNK) + 1):
            station_id, station_name = stations[(k - 1) % len(stations)]
            lat, lng = round(rng.uniform(*LAT_RANGE), 6), round(rng.uniform(*LNG_RANGE), 6)
            round_the_clock = rng.random() < 0.1
            radius = rng.choice((3, 5, 8, 10, 15))
            capacity = rng.choice((1, 2, 2, 3, 4))
            available_from = "00:00" if round_the_clock else "08:00"
            available_to = "23:59" if round_the_clock else rng.choice(("18:00", "20:00", "21:00"))
            weekdays = "1234567" if round_the_clock or rng.random() < 0.7 else "123456"
            name = f"{station_name.replace('新时代文明实践站', '')}志愿服务队{k}"
            # The team's facts as dispatch.models.TEAM_FACTS_COPIED lists them: the index carries them too.
            facts = (name, capacity, available_from, available_to, weekdays, 0, 0, 0, 0, None)
            teams.write(_text_row((k, station_id, None, lat, lng, float(radius), "t", now, *facts)))
            served = rng.sample(cat_ids, rng.choice((1, 2, 2, 3)))
            if round_the_clock and district.emergency_id not in served:
                served.append(district.emergency_id)
            cell = team_cell(lat, lng, radius)
            busy_now = rng.random() < BUSY_SHARE
            for c in served:
                links.write(f"{k}\t{c}\n")
                # The index keeps each team's load, as the platform's order transitions do.
                cells.write(_text_row((k, c, cell, lat, lng, float(radius), *facts, int(busy_now))))
            if busy_now:
                busy.write(busy_order_row(rng, district, (k, station_id, lat, lng, served[0]), now))
        with conn.cursor() as cur:
            for sql, buf in (
                (
                    "COPY volunteers_team (id, unit_id, leader_id, home_lat, home_lng, radius_km, active, created_at, "
                    f"{copied}) FROM STDIN",
                    teams,
                ),
                ("COPY volunteers_team_categories (team_id, category_id) FROM STDIN", links),
                (
                    f"COPY dispatch_teamcell (team_id, category_id, cell, lat, lng, radius_km, {copied}, load) "
                    "FROM STDIN",
                    cells,
                ),
                (f"COPY dispatch_order ({BUSY_ORDER_COLUMNS}) FROM STDIN", busy),
            ):
                with cur.copy(sql) as copy:
                    copy.write(buf.getvalue())
        conn.commit()
        written = min(target, chunk_start + CHUNK) - start
        rate = written / (time.perf_counter() - t0)
        log(f"  teams {start + written:>9,}/{target:,}  ({rate:,.0f} teams/s)")
    conn.execute("RESET session_replication_role")
    # Rows went in with explicit ids: move each sequence past them, as demo.py does for teams.
    for table in ("volunteers_team", "volunteers_team_categories", "dispatch_teamcell"):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), GREATEST((SELECT max(id) FROM {table}), 1))"
        )
    conn.commit()


def vacuum_analyze(conn: psycopg.Connection) -> float:
    """Fresh statistics and a fresh visibility map (the covering index answers from the index
    alone only then), and the new rows written back to disk before anything is timed."""
    t0 = time.perf_counter()
    conn.autocommit = True
    try:
        for table in ("volunteers_team", "volunteers_team_categories", "dispatch_teamcell", "dispatch_order"):
            conn.execute(f"VACUUM ANALYZE {table}")
        # The seeding wrote a gigabyte at a million teams; left alone, PostgreSQL writes it back
        # in a checkpoint spread over minutes, the very minutes the searches are timed in
        # (seen in the server log). Writing it back now times the search, not the seeding.
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log("  (no right to CHECKPOINT: the first searches may share the disk with its write-back)")
    finally:
        conn.autocommit = False
    return time.perf_counter() - t0


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
        return round(rng.uniform(*LAT_RANGE), 6), round(rng.uniform(*LNG_RANGE), 6)

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


# --- the NumPy scan -------------------------------------------------------------------------


@dataclass
class TeamArrays:
    """Every active team as columns: what an in-memory service would hold."""

    ids: np.ndarray
    lat_rad: np.ndarray
    lng_rad: np.ndarray
    cos_lat: np.ndarray
    radius_km: np.ndarray
    # Bit i set: the team serves category_ids[i].
    categories: np.ndarray
    category_bit: dict[int, int]


def load_arrays(conn: psycopg.Connection, category_ids: Sequence[int]) -> TeamArrays:
    if len(category_ids) > 62:
        raise BenchError("more categories than bits in the NumPy membership mask")
    rows = conn.execute(
        """
        SELECT t.id, t.home_lat, t.home_lng, t.radius_km, COALESCE(bit_or(1::bigint << (k.pos::int - 1)), 0)
        FROM volunteers_team t
        LEFT JOIN volunteers_team_categories c ON c.team_id = t.id
        LEFT JOIN unnest(%s::int[]) WITH ORDINALITY AS k(category_id, pos) ON k.category_id = c.category_id
        WHERE t.active
        GROUP BY t.id
        ORDER BY t.id
        """,
        [list(category_ids)],
    ).fetchall()
    conn.commit()
    table = np.array(rows, dtype=np.float64)
    lat = np.radians(table[:, 1])
    return TeamArrays(
        ids=table[:, 0].astype(np.int64),
        lat_rad=lat,
        lng_rad=np.radians(table[:, 2]),
        cos_lat=np.cos(lat),
        radius_km=table[:, 3].copy(),
        categories=np.array([row[4] for row in rows], dtype=np.int64),
        category_bit={cid: 1 << i for i, cid in enumerate(category_ids)},
    )


def numpy_scan(arrays: TeamArrays, query: Any) -> np.ndarray:
    """Team ids of the best `limit` teams whose radius reaches the point and who serve the category.

    Haversine over every team (no index, no prefilter), then the mask, then the
    nearest `limit`: distance is the simple score here.
    """
    lat0, lng0 = math.radians(query.lat), math.radians(query.lng)
    a = np.sin((arrays.lat_rad - lat0) * 0.5) ** 2 + math.cos(lat0) * arrays.cos_lat * (
        np.sin((arrays.lng_rad - lng0) * 0.5) ** 2
    )
    km = (2 * EARTH_RADIUS_KM) * np.arcsin(np.sqrt(np.minimum(a, 1.0)))
    mask = (km <= arrays.radius_km) & ((arrays.categories & arrays.category_bit[query.category_id]) != 0)
    hits = np.flatnonzero(mask)
    if query.limit is not None and len(hits) > query.limit:
        hits = hits[np.argpartition(km[hits], query.limit - 1)[: query.limit]]
    return arrays.ids[hits[np.argsort(km[hits], kind="stable")]]


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
    arrays, load_s = timed(lambda: load_arrays(conn, category_ids))
    for q in warmup[:NUMPY_WARMUP]:
        numpy_scan(arrays, q)
    for q in samples:
        _ids, dt = timed(lambda q=q: numpy_scan(arrays, q))
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
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL with the right to create databases (env BENCH_DATABASE_URL)",
    )
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
        # One geodesic scan of the 100 000-team size takes about 10 s: a quick run affords one.
        args.brute_min = 1 if args.quick else BRUTE_MIN_SAMPLES
    if args.warmup < NUMPY_WARMUP:
        p.error(f"--warmup is at least {NUMPY_WARMUP}")
    if not 1 <= args.brute_min <= args.samples or args.brute_seconds < 0 or args.max_minutes <= 0:
        p.error("--brute-min is between 1 and --samples; --brute-seconds and --max-minutes are positive")
    host = urlsplit(args.database_url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        p.error(f"--database-url must point at this machine (loopback), not {host}")
    return args


def run(args: argparse.Namespace) -> tuple[str, int]:
    """The whole benchmark; returns the figure line and the number of disagreements."""
    deadline = time.monotonic() + args.max_minutes * 60
    name = f"bench_matching_{os.getpid()}"
    load_before = os.getloadavg()
    results: list[SizeResult] = []
    with throwaway_database(args.database_url, name, keep=args.keep_db) as db_url, django_connections_closed():
        t0 = time.perf_counter()
        start_django(db_url)
        migrate_and_seed_district()
        log(f"database {name}: migrated, demo district seeded in {time.perf_counter() - t0:.1f} s")

        from django.conf import settings

        tomorrow = datetime.now(ZoneInfo(settings.TIME_ZONE)).date() + timedelta(days=1)
        with psycopg.connect(db_url) as conn:
            district = read_district()
            queries = make_queries(args.warmup + args.samples, district.category_ids, args.seed, tomorrow)
            warmup, samples = queries[: args.warmup], queries[args.warmup :]
            rng = random.Random(f"{args.seed}-bench-matching-teams")
            current = team_count(conn)
            busy = give_district_work(conn, district, rng)
            vacuum_analyze(conn)
            log(f"  {busy} of the district's {current} teams have an order in hand")
            for size in args.sizes:
                if size > current:
                    log(f"growing to {size:,} teams")
                    t1 = time.perf_counter()
                    grow_teams(conn, district, rng, current, size, deadline)
                    vac = vacuum_analyze(conn)
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
    load_after = os.getloadavg()

    print()
    print(
        f"candidate search on PostgreSQL ({name}): {args.samples} random orders per size, "
        f"limit {settings.MATCH_LIMIT}, window {tomorrow} 10:00-12:00 {settings.TIME_ZONE}"
    )
    # The machine may be shared: the load tells how far to trust the figures.
    print(
        f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.2f} before the run, {load_after[0]:.2f} after"
    )
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

    return bench_main("bench/matching.py", run_checked)


if __name__ == "__main__":
    sys.exit(main())
