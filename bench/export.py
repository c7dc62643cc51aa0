#!/usr/bin/env python
"""Exports benchmark: records.exports at a province's size, a year of a million ledger entries as XLSX and CSV.

The ledger of a throwaway database (the demo district) is written with PostgreSQL COPY: --rows
entries over the last DAYS days (yesterday the latest), spread over the district's volunteers
and their teams, mostly credits counted on the day, some entries added by hand (补录: counted,
pending or declined) and some corrections of a credit. Then the center's export of the whole
year, export_for("records", scope), is taken as CSV and then as XLSX, each in a child process of
its own so that its peak RSS is the export's. The last line is the XLSX export's figure.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import harness  # noqa: E402
from bench.harness import BenchError, log  # noqa: E402
from bench.matching import DJANGO_ENV, django_on  # noqa: E402
from bench.matching_teams import foreign_keys_off, foreign_keys_on  # noqa: E402

DEFAULT_ROWS, QUICK_ROWS = 1_000_000, 100_000
DAYS = 365  # a year of entries, the export's widest sensible range
CHUNK = 50_000  # entries per COPY batch and transaction: progress shown, memory flat
TARGET_MB = 200
MANUAL_SHARE, CORRECTION_SHARE = 0.05, 0.01  # the rest are credits from served orders
DECLINED_SHARE = 0.15  # of the entries decided by a dispatcher; the rest are approved
NEVER_DECIDED_SHARE = 0.03  # left waiting however old: a queue no dispatcher cleared
CREDIT_HOURS = ("1.0",) * 3 + ("1.5",) * 4 + ("2.0",) * 5 + ("2.5", "3.0", "3.0", "3.5", "4.0")
MANUAL_HOURS = ("0.5", "1.0", "1.5", "2.0", "2.0", "3.0", "4.0")
TITLES = ("奶奶", "爷爷", "阿姨", "大爷", "大娘", "小朋友")
SUMMARIES = ("服务完成", "已完成,老人很满意", "按时到达,顺利完成", "服务完成,约好下周再来")
PLACES = ("村委会", "文化广场", "新时代文明实践站", "卫生室", "小学")
REASONS = ("活动当天手机没电,未能签到", "现场网络不好,没有打卡", "队长带队,统一补录", "临时加入的服务")
CORRECTION_REASONS = ("服务时长登记有误", "实际服务时间比登记的长", "少算了路上陪同的时间", "重复登记,应减去")
DECLINE_NOTES = ("照片看不出服务内容", "与活动安排的时长不符", "同一天已有记录")
RECORD_COLUMNS = "id, volunteer_id, team_id, unit_id, order_id, day, place, content, hours, kind, state, corrects_id, "
RECORD_COLUMNS += "reason, requested_by_id, recorded_at, decided_by_id, decided_at, note"
COLUMNS = tuple(RECORD_COLUMNS.split(", "))
TABLE = "volunteers_servicerecord"


@dataclass(frozen=True)
class Member:
    volunteer: int
    user: int  # the volunteer's account
    team: int
    unit: int  # the team's unit, the organiser of its activities
    leader: int | None  # the team leader's account, who adds hours by hand


@dataclass
class Ledger:
    """What the entries are drawn from, and the credits drawn so far that a correction may correct."""

    members: list[Member]
    decider: int  # the center dispatcher's account, who approves and declines
    categories: list[tuple[str, list[str]]]  # name, its services
    villages: list[str]
    surnames: str
    next_id: int = 1
    credits: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # volunteer -> their latest credit


def read_ledger(conn: psycopg.Connection) -> Ledger:
    """The demo district's volunteers in their teams, and the words its entries are written in."""
    from dispatch.demo import CATALOGUE, SURNAMES, VILLAGE_A, VILLAGE_B

    members = [
        Member(*r)
        for r in conn.execute(
            "SELECT m.volunteer_id, v.user_id, m.team_id, t.unit_id, t.leader_id FROM volunteers_membership m "
            "JOIN volunteers_volunteer v ON v.id = m.volunteer_id JOIN volunteers_team t ON t.id = m.team_id "
            "WHERE m.active ORDER BY m.id"
        )
    ]
    found = conn.execute("SELECT id FROM auth_user WHERE username = %s", (harness.DISPATCHER_PHONE,)).fetchone()
    conn.commit()
    if not members or found is None:
        raise BenchError("the demo district has no volunteers in teams, or no center dispatcher")
    villages = [a + b for a in VILLAGE_A for b in VILLAGE_B]
    return Ledger(members, found[0], [(c[1], c[5]) for c in CATALOGUE], villages, SURNAMES)


def decision(rng: random.Random, ledger: Ledger, recorded: datetime, now: datetime) -> tuple[Any, ...]:
    """State, decider, decision time and note of an entry waiting for a dispatcher; pending if not yet decided."""
    decided = recorded + timedelta(seconds=rng.uniform(1800, 3 * 86_400))
    if decided > now or rng.random() < NEVER_DECIDED_SHARE:
        return "pending", None, None, ""
    if rng.random() < DECLINED_SHARE:
        return "declined", ledger.decider, decided, rng.choice(DECLINE_NOTES)
    return "counted", ledger.decider, decided, rng.choice(("", "同意"))


def draw_entry(
    rng: random.Random, ledger: Ledger, day: date, recorded: datetime, now: datetime, first: date
) -> tuple[Any, ...]:
    """One ledger entry recorded at `recorded` (local time, on `day`), values in COLUMNS' order."""
    m = rng.choice(ledger.members)
    n, ledger.next_id = ledger.next_id, ledger.next_id + 1
    roll = rng.random()
    original = ledger.credits.pop(m.volunteer, None) if roll < CORRECTION_SHARE else None
    if original is not None:  # asked by the volunteer days later: the original's day, place and content
        was = dict(zip(COLUMNS, original, strict=True))
        delta = rng.choice(("-1.0", "-0.5", "0.5", "1.0"))  # every credit is at least an hour: never below 0
        state, by, at, note = decision(rng, ledger, recorded, now)
        entry = (n, m.volunteer, was["team_id"], was["unit_id"], None, was["day"], was["place"], was["content"])
        entry += (delta, "correction", state, was["id"], rng.choice(CORRECTION_REASONS), m.user)
        return (*entry, recorded, by, at, note)
    if roll < CORRECTION_SHARE + MANUAL_SHARE:  # 补录 by the team leader, for a day up to a week back
        served = max(first, day - timedelta(days=rng.choice((0, 0, 1, 1, 2, 3, 5, 7))))
        category, services = rng.choice(ledger.categories)
        place = rng.choice(ledger.villages) + "村" + rng.choice(PLACES)
        state, by, at, note = decision(rng, ledger, recorded, now)
        entry = (n, m.volunteer, m.team, m.unit, None, served, place, f"{category}: {rng.choice(services)}")
        entry += (rng.choice(MANUAL_HOURS), "manual", state, None, rng.choice(REASONS), m.leader)
        return (*entry, recorded, by, at, note)
    # A credit from a served order: its category and summary, and the citizen's address.
    category, services = rng.choice(ledger.categories)
    if rng.random() < 0.4:
        summary = rng.choice(SUMMARIES)
    else:
        summary = f"为{rng.choice(ledger.surnames)}{rng.choice(TITLES)}{rng.choice(services)}"
    place = f"{rng.choice(ledger.villages)}村{rng.randint(1, 12)}组{rng.randint(1, 40)}号"
    entry = (n, m.volunteer, m.team, m.unit, None, day, place, f"{category}: {summary}", rng.choice(CREDIT_HOURS))
    entry += ("credit", "counted", None, "", None, recorded, None, None, "")
    ledger.credits[m.volunteer] = entry
    return entry


def draw_day(rng: random.Random, ledger: Ledger, day: date, count: int, now: datetime, first: date) -> list[Any]:
    """`count` entries recorded on `day` in time order, mostly in the daytime, as the platform appends them."""
    midnight = datetime.combine(day, datetime.min.time(), now.tzinfo)
    seconds = sorted(
        rng.uniform(7 * 3600, 21 * 3600) if rng.random() < 0.9 else rng.uniform(0, 86_399) for _ in range(count)
    )
    return [draw_entry(rng, ledger, day, midnight + timedelta(seconds=int(s)), now, first) for s in seconds]


def day_counts(rng: random.Random, rows: int, first: date) -> list[int]:
    """How many of `rows` entries fall on each of DAYS days from `first`; weekends busier."""
    days = [first + timedelta(days=i) for i in range(DAYS)]
    drawn = Counter(rng.choices(range(DAYS), weights=[1.5 if d.weekday() >= 5 else 1 for d in days], k=rows))
    return [drawn[i] for i in range(DAYS)]


def row(values: Sequence[Any]) -> str:
    # COPY text format; none of the values written here holds a tab, newline or backslash.
    return (
        "\t".join("\\N" if v is None else v.isoformat() if isinstance(v, datetime) else str(v) for v in values) + "\n"
    )


def write_ledger(
    conn: psycopg.Connection,
    ledger: Ledger,
    rng: random.Random,
    counts: list[int],
    first: date,
    now: datetime,
    deadline: float,
) -> int:
    """The drawn entries, in place of any, with COPY in chunks; how many."""
    conn.execute(f"TRUNCATE {TABLE} RESTART IDENTITY CASCADE")
    total, written, t0 = sum(counts), 0, time.perf_counter()
    foreign_keys_off(conn)
    buf, pending = io.StringIO(), 0
    for i, count in enumerate(counts):
        for entry in draw_day(rng, ledger, first + timedelta(days=i), count, now, first):
            buf.write(row(entry))
        pending += count
        if pending >= CHUNK or i == len(counts) - 1:
            with conn.cursor() as cur, cur.copy(f"COPY {TABLE} ({RECORD_COLUMNS}) FROM STDIN") as copy:
                copy.write(buf.getvalue())
            conn.commit()
            written, buf, pending = written + pending, io.StringIO(), 0
            log(f"  entries {written:>9,}/{total:,}  ({written / (time.perf_counter() - t0):,.0f} entries/s)")
            if time.monotonic() > deadline and written < total:
                raise BenchError(f"out of time (--max-minutes) while writing entries ({written:,} of {total:,})")
    foreign_keys_on(conn)
    # Entries went in with explicit ids: move the sequence past them, as board.py does for orders.
    conn.execute(f"SELECT setval(pg_get_serial_sequence('{TABLE}', 'id'), (SELECT max(id) FROM {TABLE}))")
    conn.commit()
    return written


def vacuum_analyze(conn: psycopg.Connection) -> float:
    """Fresh statistics and visibility map, and the new rows written back before anything is timed."""
    t0 = time.perf_counter()
    conn.autocommit = True
    conn.execute(f"VACUUM ANALYZE {TABLE}")
    # Left alone, PostgreSQL writes the seeding back in a checkpoint spread over the minutes timed.
    try:
        conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        log("  (no right to CHECKPOINT: the exports may share the disk with its write-back)")
    conn.autocommit = False
    return time.perf_counter() - t0


# The child: Django and the exports module only (no NumPy, no bench helpers), so its peak is the export's.
# VmHWM, not ru_maxrss: after exec, ru_maxrss still holds the parent's peak (the kernel carries it over).
CHILD = """
import json, sys, tempfile, time
from dataclasses import replace
from datetime import date
import django
django.setup()
from dispatch.models import Unit
from records.exports import Scope, csv_lines, export_for, xlsx_file
def peak_mb():
    with open("/proc/self/status") as status:
        return next(int(x.split()[1]) / 1024 for x in status if x.startswith("VmHWM:"))
fmt, first, last = sys.argv[1:]
scope = Scope(Unit.objects.get(level=3), date.fromisoformat(first), date.fromisoformat(last))
before, count = peak_mb(), [0]
def counted(rows):
    for count[0], row in enumerate(rows, 1):
        if count[0] % 100_000 == 0:
            print(f"  {fmt}: {count[0]:>9,} rows", file=sys.stderr, flush=True)
        yield row
t0 = time.perf_counter()
export = export_for("records", scope)
export = replace(export, rows=counted(export.rows))
if fmt == "xlsx":
    with xlsx_file(export) as out:
        size = out.seek(0, 2)
else:
    with tempfile.TemporaryFile() as out:
        for line in csv_lines(export):
            out.write(line.encode())
        size = out.tell()
seconds = time.perf_counter() - t0
print(json.dumps({"rows": count[0], "seconds": seconds, "bytes": size, "before_mb": before, "peak_mb": peak_mb()}))
"""


@dataclass(frozen=True)
class Figures:
    fmt: str
    rows: int
    seconds: float
    bytes: int
    before_mb: float  # the child's peak RSS once Django is up, before the export starts
    peak_mb: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds


def measure(fmt: str, db_url: str, first: date, last: date, deadline: float) -> Figures:
    """One export of the center's ledger from `first` to `last` in a fresh process; its figures."""
    env = {**os.environ, **DJANGO_ENV, "DATABASE_URL": db_url, "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-c", CHILD, fmt, first.isoformat(), last.isoformat()]
    left = deadline - time.monotonic()
    if left <= 0:
        raise BenchError(f"out of time (--max-minutes) before the {fmt} export")
    try:
        done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, timeout=left)
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"out of time (--max-minutes) during the {fmt} export") from exc
    if done.returncode != 0:
        raise BenchError(f"the {fmt} export exited with {done.returncode} (its traceback is above)")
    figures = Figures(fmt, **json.loads(done.stdout.splitlines()[-1]))
    log(f"  {fmt}: {figures.rows:,} rows in {figures.seconds:.1f} s, peak {figures.peak_mb:.0f} MB")
    return figures


def ledger_facts(conn: psycopg.Connection, first: date, last: date) -> tuple[int, str]:
    """The entries from `first` to `last`, and a line on their kinds and states."""
    counts = conn.execute(
        f"SELECT kind, state, count(*) FROM {TABLE} WHERE day BETWEEN %s AND %s GROUP BY 1, 2 ORDER BY 3 DESC",
        (first, last),
    ).fetchall()
    conn.commit()
    total = sum(n for _, _, n in counts)
    return total, f"{total:,} entries: " + ", ".join(f"{k} {s} {n:,}" for k, s, n in counts)


def report(results: list[Figures]) -> None:
    print(f"{'format':<8}{'rows':>11}{'seconds':>9}{'rows/s':>9}{'file MB':>9}{'before MB':>11}{'peak MB':>9}")
    for f in results:
        print(
            f"{f.fmt:<8}{f.rows:>11,}{f.seconds:>9.1f}{f.rows_per_s:>9,.0f}{f.bytes / 2**20:>9.1f}"
            f"{f.before_mb:>11.0f}{f.peak_mb:>9.0f}"
        )
    print("before MB: the child's RSS with Django up, before the export; peak MB: its peak RSS (VmHWM)")
    for f in results:
        verdict = "met" if f.peak_mb <= TARGET_MB else "NOT met"
        print(f"target: {f.fmt} peak at most {TARGET_MB} MB: {verdict} ({f.peak_mb:.0f} MB)")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help=f"a short run (about a minute): {QUICK_ROWS:,} entries")
    p.add_argument("--rows", type=int, help=f"ledger entries written (default {DEFAULT_ROWS:,})")
    p.add_argument("--seed", type=int, default=2021, help="seed of the entries drawn (2021)")
    p.add_argument("--max-minutes", type=float, help="give up after this long (default 30; 5 with --quick)")
    p.add_argument("--keep-db", action="store_true", help="leave the database behind, for debugging")
    harness.database_option(p)
    args = p.parse_args(argv)
    args.rows = args.rows if args.rows is not None else (QUICK_ROWS if args.quick else DEFAULT_ROWS)
    args.max_minutes = args.max_minutes or (5.0 if args.quick else 30.0)
    if args.rows < 1 or args.max_minutes <= 0:
        p.error("--rows and --max-minutes are positive")
    harness.require_loopback(p, database_url=args.database_url)
    return args


def run(args: argparse.Namespace) -> str:
    """The whole benchmark; returns the figure line."""
    deadline = time.monotonic() + args.max_minutes * 60
    name = f"bench_export_{os.getpid()}"
    load_before = os.getloadavg()[0]
    env = {**os.environ, **DJANGO_ENV}
    with (
        harness.seeded_database(args.database_url, name, env, seed_args=("--orders", "0"), keep=args.keep_db) as db_url,
        django_on(db_url),
    ):
        from django.utils import timezone

        from dispatch.choices import Level
        from dispatch.models import Unit

        now = timezone.localtime()
        first, last = now.date() - timedelta(days=DAYS), now.date() - timedelta(days=1)
        center = Unit.objects.get(level=Level.CENTER)
        rng = random.Random(f"{args.seed}-bench-export")
        with psycopg.connect(db_url) as conn:
            log(f"writing {args.rows:,} ledger entries, {first} to {last}")
            t1 = time.perf_counter()
            write_ledger(conn, read_ledger(conn), rng, day_counts(rng, args.rows, first), first, now, deadline)
            vac = vacuum_analyze(conn)
            log(f"  {args.rows:,} entries in {time.perf_counter() - t1:.1f} s (VACUUM ANALYZE {vac:.1f} s)")
            seeded, facts = ledger_facts(conn, first, last)
        results = []
        for fmt in ("csv", "xlsx"):
            log(f"exporting the center's ledger as {fmt}")
            results.append(measure(fmt, db_url, first, last, deadline))
    load_after = os.getloadavg()[0]
    wrong = [f"{f.fmt} {f.rows:,}" for f in results if f.rows != seeded]
    if wrong:
        raise BenchError(f"the exports' rows ({', '.join(wrong)}) differ from the {seeded:,} entries in the range")

    print()
    print(
        f'records.exports: export_for("records", Scope({center.name}, {first}, {last})) on PostgreSQL ({name}), '
        "each format in a process of its own"
    )
    print(f"the ledger: {facts}")
    print(harness.machine(load_before, load_after))
    report(results)
    xlsx = results[-1]
    return f"rows={xlsx.rows} rows_per_s={xlsx.rows_per_s:.0f} peak_mb={xlsx.peak_mb:.1f}"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/export.py", lambda: (run(args), []))


if __name__ == "__main__":
    sys.exit(main())
