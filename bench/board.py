#!/usr/bin/env python
"""Big-screen benchmark: dispatch.board.board_figures as the orders table grows to a province's size.

The orders table of a throwaway database (the demo district) holds each size of --sizes in turn,
written afresh in time order with PostgreSQL COPY: orders spread over the last DAYS days (today
gets a day's share), over the district's stations, citizens and categories, each taken as far
through its life as the clock allows (most closed with a rating, some cancelled or rejected,
today's in every state), with the transitions and service records the platform would have written.
At each size board_figures(unit, day) is timed for the center and for an institute, in this process.
The last line is the center's figure at the largest size.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from datetime import time as dtime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.harness import BenchError, log, percentile  # noqa: E402
from bench.matching import DJANGO_ENV, django_on  # noqa: E402
from bench.matching_teams import foreign_keys_off, foreign_keys_on  # noqa: E402

DEFAULT_SIZES = (10_000, 100_000, 1_000_000)
QUICK_SIZES = (10_000, 100_000)
DAYS = 365  # a year of orders, so today is about 1/365 of the table
CHUNK = 50_000  # orders per COPY batch and transaction: progress shown, memory flat
DAY_S = 86_400
# How an order ends (the rest are served): rejected by staff, or cancelled before service.
REJECTED_SHARE, CANCELLED_SHARE = 0.03, 0.06
RATED_SHARE, AUTO_CLOSE_S = 0.8, 7 * DAY_S  # the rest close unrated when AUTO_CLOSE_AFTER runs out
RECORDED_SHARE = 0.8  # completions whose team wrote hours down
RATINGS = (5,) * 12 + (4,) * 5 + (3,) * 2 + (2, 1)
HOURS = ("1.0", "1.5", "2.0", "2.5", "3.0", "4.0")
ORDER_COLUMNS = (
    "id, state, level, priority, category_id, description, station_id, lat, lng, address, window_start, "
    "window_end, contact_name, contact_phone, citizen_id, placed_by_id, idempotency_fingerprint, team_id, mode, "
    "cascade_queue, checkin_code, reject_reason, summary, rating, comment, publicity_consent, resolved, "
    "created_at, updated_at, dispatched_at, accepted_at, started_at, completed_at, closed_at, escalated_at, "
    "considered_level"
)
TRANSITION_COLUMNS = "order_id, action, from_state, to_state, by_id, at, note, internal"
RECORD_COLUMNS = "order_id, team_id, volunteer_id, hours, recorded_at, unit_id, day, content, place, kind, state, "
RECORD_COLUMNS += "reason, note"
WRITTEN = ("dispatch_order", "dispatch_transition", "volunteers_servicerecord", "volunteers_stationhours")
TABLES = (*WRITTEN, "volunteers_team")


@dataclass(frozen=True)
class District:
    places: dict[int, tuple[float, float]]  # station id -> (lat, lng)
    stations: list[int]
    teams_at: dict[int, list[int]]  # station id -> its teams
    members: dict[int, list[int]]  # team id -> its volunteers
    citizens: list[tuple[int, int, str, str, int]]  # id, user id, name, phone, home station
    category_ids: list[int]


def read_district(conn: psycopg.Connection) -> District:
    places = {s: (lat, lng) for s, lat, lng in conn.execute("SELECT id, lat, lng FROM dispatch_unit WHERE level = 1")}
    teams_at: dict[int, list[int]] = {}
    for team, station in conn.execute("SELECT id, unit_id FROM volunteers_team ORDER BY id"):
        teams_at.setdefault(station, []).append(team)
    members: dict[int, list[int]] = {}
    for team, volunteer in conn.execute("SELECT team_id, volunteer_id FROM volunteers_membership ORDER BY id"):
        members.setdefault(team, []).append(volunteer)
    citizens = conn.execute("SELECT id, user_id, name, phone, station_id FROM requests_app_citizen ORDER BY id")
    categories = [c for (c,) in conn.execute("SELECT id FROM requests_app_category ORDER BY id")]
    conn.commit()
    district = District(places, sorted(places), teams_at, members, list(citizens), categories)
    if not places or not teams_at or not district.citizens or not categories:
        raise BenchError("the demo district has no stations, teams, citizens or categories")
    return district


def stamp(t: float | None) -> str:
    return "\\N" if t is None else time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(t))


def row(values: Sequence[Any]) -> str:
    # COPY text format; none of the values written here holds a tab, newline or backslash.
    return "\t".join("\\N" if v is None else str(v) for v in values) + "\n"


@dataclass
class Batch:
    orders: io.StringIO = field(default_factory=io.StringIO)
    transitions: io.StringIO = field(default_factory=io.StringIO)
    records: io.StringIO = field(default_factory=io.StringIO)


def draw_created(rng: random.Random, now: float, midnight: float) -> float:
    """When an order was placed (epoch seconds): on one of the last DAYS days, today's share in the hours gone."""
    day = rng.randrange(DAYS)
    of_day = rng.uniform(7 * 3600, 21 * 3600) if rng.random() < 0.9 else rng.uniform(0, DAY_S)  # mostly daytime
    return midnight - day * DAY_S + (of_day * (now - 60 - midnight) / DAY_S if day == 0 else of_day)


def draw_order(
    rng: random.Random, district: District, now: float, zone: Any, oid: int, created: float, out: Batch
) -> None:
    """Order `oid`, placed at `created`, as far through its life as `now` allows (epoch seconds)."""
    citizen_id, user_id, name, phone, home = rng.choice(district.citizens)
    station = home if home in district.places and rng.random() < 0.8 else rng.choice(district.stations)
    lat, lng = district.places[station]
    window_start = created + rng.uniform(1800, 36 * 3600)
    window_end = window_start + rng.choice((2, 3, 4)) * 3600
    level = 1 if rng.random() < 0.9 else rng.choice((2, 2, 3))
    escalated = created + rng.uniform(600, 1800) if level > 1 else None
    if escalated is not None and escalated > now:
        level, escalated = 1, None  # placed too recently to have climbed yet

    fate = rng.random()
    dispatched = max(created, escalated or created) + 30 + rng.expovariate(1 / 300)
    accepted = dispatched + 60 * rng.lognormvariate(2.5, 0.8)
    started = max(accepted, window_start) + rng.uniform(0, 900)
    completed = started + rng.uniform(1800, 3 * 3600)
    rated = rng.random() < RATED_SHARE
    closed = completed + (rng.expovariate(1 / (8 * 3600)) if rated else AUTO_CLOSE_S)
    # A citizen cancels before the service starts; staff reject before anything is sent.
    ends = created + rng.uniform(0.02, 1) * (started - created) if fate < REJECTED_SHARE + CANCELLED_SHARE else math.inf
    steps = (
        (dispatched, "dispatching", "dispatch"),
        (accepted, "accepted", "accept"),
        (started, "in_service", "start"),
        (completed, "completed", "complete"),
        (closed, "closed", "evaluate" if rated else "auto_close"),
    )
    if fate < REJECTED_SHARE:
        steps = ()
    times: list[float | None] = [None] * 5
    state, last = "submitted", ("place", "", "submitted", created, user_id)
    for i, (at, to, action) in enumerate(steps):
        if at > now or at >= ends:
            break
        times[i] = at
        last, state = (action, state, to, at, None), to
    closed_at = times[4]
    if ends <= now:  # before the start, so the walk above stopped at accepted at the latest
        to = "rejected" if fate < REJECTED_SHARE else "cancelled"
        last, state, closed_at = ("reject" if to == "rejected" else "cancel", state, to, ends, None), to, ends
    team = rng.choice(district.teams_at.get(station) or district.teams_at[min(district.teams_at)])
    team = team if times[1] is not None else None
    rating = rng.choice(RATINGS) if state == "closed" and rated else None
    updated = max(t for t in (created, escalated, *times, closed_at) if t is not None and t <= now)
    out.orders.write(
        row(
            (oid, state, level, "urgent" if rng.random() < 0.1 else "normal", rng.choice(district.category_ids))
            + ("需要志愿服务,请志愿者联系。", station, lat + rng.uniform(-0.02, 0.02), lng + rng.uniform(-0.02, 0.02))
            + (f"{rng.randint(1, 99)}组{rng.randint(1, 40)}号", stamp(window_start), stamp(window_end), name, phone)
            + (citizen_id, user_id, "", team, rng.choice(("directed", "broadcast", "cascade")) if times[0] else "")
            + ("[]", f"{rng.randrange(1_000_000):06d}", "重复订单" if state == "rejected" else "")
            + ("服务完成" if times[3] else "", rating, "", "t" if rating and rng.random() < 0.5 else "f")
            + (("t" if rng.random() < 0.95 else "f") if rating else None, stamp(created), stamp(updated))
            + (*(stamp(t) for t in times[:4]), stamp(closed_at), stamp(escalated), level if times[0] else None)
        )
    )
    action, before, after, at, by = last
    if state == "closed":  # the completion as well as the closing: the feed shows both
        out.transitions.write(row((oid, "complete", "in_service", "completed", None, stamp(times[3]), "", "f")))
    out.transitions.write(row((oid, action, before, after, by, stamp(at), "", "f")))
    crew = district.members.get(team or 0, [])
    if times[3] is not None and crew and rng.random() < RECORDED_SHARE:
        for volunteer in rng.sample(crew, min(len(crew), rng.choice((1, 1, 2, 3)))):
            day = datetime.fromtimestamp(times[3], zone).date()  # the platform's local day of the service
            entry = (oid, team, volunteer, rng.choice(HOURS), stamp(times[3]), station, day, "助老助残: 服务完成")
            out.records.write(row((*entry, "", "credit", "counted", "", "")))


def write_orders(conn: psycopg.Connection, draw: Callable[..., None], placed: list[float]) -> None:
    """Orders 1, 2, ... placed at `placed`, with their transitions, records and daily hours, in place of any.

    Written with COPY in time order, as the platform appends them: each day's orders share heap
    pages as in production (grown in stages or in random order, a day's orders would scatter).
    """
    conn.execute(f"TRUNCATE {', '.join(WRITTEN)} RESTART IDENTITY CASCADE")
    t0 = time.perf_counter()
    foreign_keys_off(conn)
    for first in range(0, len(placed), CHUNK):
        batch = Batch()
        for oid, created in enumerate(placed[first : first + CHUNK], start=first + 1):
            draw(oid, created, batch)
        with conn.cursor() as cur:
            for table, columns, buf in (
                ("dispatch_order", ORDER_COLUMNS, batch.orders),
                ("dispatch_transition", TRANSITION_COLUMNS, batch.transitions),
                ("volunteers_servicerecord", RECORD_COLUMNS, batch.records),
            ):
                with cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                    copy.write(buf.getvalue())
        conn.commit()
        done = min(len(placed), first + CHUNK)
        log(f"  orders {done:>9,}/{len(placed):,}  ({done / (time.perf_counter() - t0):,.0f} orders/s)")
    foreign_keys_on(conn)
    # Orders went in with explicit ids: move their sequence past them, as demo.py does for teams.
    conn.execute("SELECT setval(pg_get_serial_sequence('dispatch_order', 'id'), (SELECT max(id) FROM dispatch_order))")
    # The stations' daily hours, as completing an order keeps them.
    conn.execute(
        "INSERT INTO volunteers_stationhours (station_id, day, hours) SELECT unit_id, day, sum(hours) FROM "
        "volunteers_servicerecord WHERE state = 'counted' GROUP BY 1, 2"
    )
    # The teams' running ratings, as evaluating an order keeps them (best_teams reads these).
    conn.execute(
        "UPDATE volunteers_team t SET rating_sum = r.total, rating_count = r.n FROM (SELECT e.id, coalesce(sum("
        "o.rating), 0) AS total, count(o.rating) AS n FROM volunteers_team e LEFT JOIN dispatch_order o ON "
        "o.team_id = e.id GROUP BY e.id) r WHERE t.id = r.id"
    )
    conn.commit()


def check_orders(conn: psycopg.Connection) -> None:
    """Every timestamp after the one before it: the generator's rules, checked by the database."""
    where = "dispatched_at < created_at OR accepted_at < dispatched_at OR started_at < accepted_at OR completed_at < "
    where += "started_at OR closed_at < created_at OR closed_at < completed_at OR updated_at > now() OR (state = "
    where += "'closed') <> coalesce(closed_at >= completed_at, false) OR (accepted_at IS NOT NULL) <> (team_id IS "
    where += "NOT NULL)"
    bad = conn.execute(f"SELECT count(*) FROM dispatch_order WHERE {where}").fetchone()[0]
    conn.commit()
    if bad:
        raise BenchError(f"{bad} orders have timestamps out of order")


def vacuum_analyze(conn: psycopg.Connection) -> float:
    """Fresh statistics and visibility maps, and the new rows written back before anything is timed."""
    t0 = time.perf_counter()
    conn.autocommit = True
    for table in TABLES:
        conn.execute(f"VACUUM ANALYZE {table}")
    # Left alone, PostgreSQL writes the seeding back in a checkpoint spread over the minutes timed.
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        log("  (no right to CHECKPOINT: the first calls may share the disk with its write-back)")
    conn.autocommit = False
    return time.perf_counter() - t0


@dataclass
class Result:
    orders: int
    unit: str
    today: int = 0  # orders placed today in the unit's subtree, as the figures count them
    samples: list[float] = field(default_factory=list)
    slowest: list[tuple[float, str]] = field(default_factory=list)  # one call's queries, slowest first
    queries: int = 0


def slowest_queries(call: Callable[[], Any]) -> tuple[int, list[tuple[float, str]]]:
    """One call with every query timed (to the millisecond): how many it made and the three slowest."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        call()
    return len(queries), sorted(((float(q["time"]), q["sql"]) for q in queries.captured_queries), reverse=True)[:3]


def measure(orders: int, units: Sequence[Any], day: date, warmup: int, samples: int) -> list[Result]:
    """board_figures for each unit, taken in turn so that the machine's moods fall on all alike."""
    from dispatch.board import board_figures

    results = [Result(orders, "center" if u.level == 3 else "institute") for u in units]
    for i in range(warmup + samples):
        for unit, result in zip(units, results, strict=True):
            t0 = time.perf_counter()
            result.today = board_figures(unit, day=day)["counters"]["placed"]
            if i >= warmup:
                result.samples.append(time.perf_counter() - t0)
    for unit, result in zip(units, results, strict=True):
        result.queries, result.slowest = slowest_queries(lambda unit=unit: board_figures(unit, day=day))
        log(f"  {result.unit}: p50 {ms(result.samples, 50)} ms, p99 {ms(result.samples, 99)} ms")
    return results


def ms(samples: Sequence[float], q: float) -> str:
    return f"{percentile(samples, q) * 1e3:.2f}"


def report(results: list[Result]) -> None:
    print(f"{'orders':>10}  {'unit':<10}{'today':>7}{'queries':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for r in results:
        print(
            f"{r.orders:>10,}  {r.unit:<10}{r.today:>7,}{r.queries:>9}{ms(r.samples, 50):>9}"
            f"{ms(r.samples, 99):>9}{ms(r.samples, 100):>9}"
        )
    print("the slowest queries of one call at the largest size (ms; the statement's start):")
    for r in results[-2:]:
        for seconds, sql in r.slowest:
            print(f"  {r.unit:<10}{seconds * 1e3:7.2f}  {' '.join(sql.split())[:140]}")


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(s) for s in text.split(",")})
    except ValueError:
        sizes = []
    if not sizes or sizes[0] < DAYS:
        raise argparse.ArgumentTypeError(f"not order counts of at least {DAYS} (a year of days): {text!r}")
    return sizes


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (about a minute): sizes 10000,100000")
    p.add_argument("--sizes", type=parse_sizes, help="order counts, in turn (default 10000,100000,1000000)")
    p.add_argument("--samples", type=int, help="timed calls per size and unit (default 200; 50 with --quick)")
    p.add_argument("--warmup", type=int, help="untimed calls per size and unit first (default 20; 5 with --quick)")
    p.add_argument("--day", type=date.fromisoformat, help="the day shown, YYYY-MM-DD (today; the data ends now)")
    p.add_argument("--seed", type=int, default=2021, help="seed of the orders drawn (2021)")
    p.add_argument("--max-minutes", type=float, help="give up after this long (default 45; 5 with --quick)")
    p.add_argument("--keep-db", action="store_true", help="leave the database behind, for debugging")
    harness.database_option(p)
    args = p.parse_args(argv)
    args.sizes = args.sizes or list(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    args.samples = args.samples or (50 if args.quick else 200)
    args.warmup = args.warmup if args.warmup is not None else (5 if args.quick else 20)
    args.max_minutes = args.max_minutes or (5.0 if args.quick else 45.0)
    if args.samples < 1 or args.warmup < 0 or args.max_minutes <= 0:
        p.error("--samples and --max-minutes are positive, --warmup is not negative")
    harness.require_loopback(p, database_url=args.database_url)
    return args


def run(args: argparse.Namespace) -> str:
    """The whole benchmark; returns the figure line."""
    deadline = time.monotonic() + args.max_minutes * 60
    name = f"bench_board_{os.getpid()}"
    load_before = os.getloadavg()[0]
    results: list[Result] = []
    env = {**os.environ, **DJANGO_ENV}
    with (
        harness.seeded_database(args.database_url, name, env, seed_args=("--orders", "0"), keep=args.keep_db) as db_url,
        django_on(db_url),
    ):
        from django.utils import timezone

        from dispatch.choices import Level
        from dispatch.models import Unit

        today = timezone.localdate()
        midnight = datetime.combine(today, dtime.min, timezone.get_current_timezone()).timestamp()
        day = args.day or today
        units = [Unit.objects.get(level=Level.CENTER), Unit.objects.filter(level=Level.INSTITUTE).order_by("id")[0]]
        rng = random.Random(f"{args.seed}-bench-board")
        with psycopg.connect(db_url) as conn:
            now = time.time()
            draw = partial(draw_order, rng, read_district(conn), now, timezone.get_current_timezone())
            for size in args.sizes:
                if time.monotonic() > deadline:
                    raise BenchError(f"out of time (--max-minutes) before writing {size:,} orders")
                log(f"writing {size:,} orders")
                t1 = time.perf_counter()
                write_orders(conn, draw, sorted(draw_created(rng, now, midnight) for _ in range(size)))
                check_orders(conn)
                vac = vacuum_analyze(conn)
                log(f"  {size:,} orders in {time.perf_counter() - t1:.1f} s (VACUUM ANALYZE {vac:.1f} s)")
                log(f"measuring at {size:,} orders")
                results += measure(size, units, day, args.warmup, args.samples)
            counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES[:3]}
    load_after = os.getloadavg()[0]

    print()
    print(
        f"board_figures(unit, day={day}) on PostgreSQL ({name}): {args.samples} calls per size and unit "
        f"after {args.warmup}; at {args.sizes[-1]:,} orders: {counts['dispatch_transition']:,} transitions, "
        f"{counts['volunteers_servicerecord']:,} service records"
    )
    print(harness.machine(load_before, load_after))
    print(f"center: {units[0].name}; institute: {units[1].name}; today: orders placed on {day} in the subtree")
    report(results)
    center, institute = results[-2], results[-1]
    return (
        f"orders={center.orders} p50_ms={ms(center.samples, 50)} p99_ms={ms(center.samples, 99)} "
        f"institute_p50_ms={ms(institute.samples, 50)} institute_p99_ms={ms(institute.samples, 99)}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/board.py", lambda: (run(args), []))


if __name__ == "__main__":
    sys.exit(main())
