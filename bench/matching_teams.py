"""The teams bench/matching.py searches: the demo district's table grown to a national registry, and
every team held in NumPy arrays for the scan the search is compared with.

Teams past the district are drawn as dispatch/demo.py draws them (spread over the province)
and written with PostgreSQL COPY, with their categories, the matching index (TeamCell) and,
for about BUSY_SHARE of them, an order in hand. The demo seed is not reused for this: its
ORM bulk_create is far slower at a million teams.
"""

from __future__ import annotations

import io
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import psycopg

from bench.harness import BenchError, log

# The province the teams past the district are spread over (dispatch/demo.py, _seed_teams).
LAT_RANGE = (26.0, 32.5)
LNG_RANGE = (100.0, 108.5)
# Teams per COPY batch (and per transaction): big enough for COPY to stream, small
# enough to show progress and keep memory flat at a million teams.
CHUNK = 50_000
# A working platform has teams at work: this share of the teams holds an order (accepted or
# in service), so loads count, some teams are full, and the orders table is not empty.
BUSY_SHARE = 0.05
EARTH_RADIUS_KM = 6371.0088  # the mean radius, as dispatch.matching uses
BUSY_ORDER_COLUMNS = (
    "state, level, priority, description, lat, lng, address, window_start, window_end, contact_name, "
    "contact_phone, idempotency_fingerprint, mode, cascade_queue, checkin_code, reject_reason, summary, "
    "comment, publicity_consent, created_at, updated_at, accepted_at, category_id, placed_by_id, team_id, station_id"
)


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


def foreign_keys_off(conn: psycopg.Connection) -> None:
    """Bulk rows that reference ids read from this very database a moment ago: their foreign-key
    triggers (checked per row at commit: millions of index probes) only cost time. Skipping them
    needs a superuser; without one, they run."""
    try:
        conn.execute("SET session_replication_role = replica")
        conn.commit()
    except psycopg.errors.InsufficientPrivilege:
        conn.rollback()
        log("  (not a superuser: foreign keys are checked row by row, seeding is slower)")


def foreign_keys_on(conn: psycopg.Connection) -> None:
    conn.execute("RESET session_replication_role")


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
    foreign_keys_off(conn)
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
    foreign_keys_on(conn)
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
