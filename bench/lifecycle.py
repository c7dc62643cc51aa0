#!/usr/bin/env python
"""Lifecycle benchmark: orders through place → dispatch → accept → start → complete → evaluate.

The platform as in production (gunicorn with config/gunicorn.conf.py, the production settings,
kept PostgreSQL connections, Redis) on a loopback port. Concurrent clients drive N orders through
the whole journey over the HTTP API, then hammer the ceiling view (bench/ceiling: one guarded
UPDATE and one INSERT) on the same server and database. Any unexpected HTTP status fails the run.
The last line is the figure; ratio = lifecycle transitions per second / ceiling requests per second.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ceiling, harness  # noqa: E402
from bench.harness import BenchError, Client, percentile  # noqa: E402

TRANSITIONS = ("place", "dispatch", "accept", "start", "complete", "evaluate")
OFFERS_READ = "offers (read)"
SERVER_SETTINGS = "bench.ceiling.settings"  # the production settings plus the ceiling's route


@dataclass
class Latencies:
    """Seconds per request, by step; one per client thread, merged at the end."""

    by_step: dict[str, list[float]] = field(default_factory=dict)

    def add(self, step: str, seconds: float) -> None:
        self.by_step.setdefault(step, []).append(seconds)

    def merge(self, other: Latencies) -> None:
        for step, samples in other.by_step.items():
            self.by_step.setdefault(step, []).extend(samples)

    def of(self, *steps: str) -> list[float]:
        return [s for step in steps for s in self.by_step.get(step, [])]


# --- the district: who drives which order ----------------------------------------


@dataclass(frozen=True)
class TeamPlan:
    id: int
    leader_token: str
    categories: tuple[int, ...]
    volunteers: tuple[int, ...]
    lat: float
    lng: float


@dataclass(frozen=True)
class Cast:
    dispatcher_token: str
    citizen_tokens: tuple[str, ...]
    teams: tuple[TeamPlan, ...]


def mint_cast(db_url: str) -> Cast:
    """API tokens for the demo citizens, the center dispatcher and each team leader."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        teams = conn.execute(
            """
            SELECT t.id, t.leader_id, t.home_lat, t.home_lng,
                   array(SELECT c.category_id FROM volunteers_team_categories c WHERE c.team_id = t.id ORDER BY 1),
                   array(SELECT m.volunteer_id FROM volunteers_membership m
                         WHERE m.team_id = t.id AND m.active ORDER BY m.role = 'leader' DESC, m.id)
            FROM volunteers_team t
            WHERE t.active AND t.leader_id IS NOT NULL ORDER BY t.id
            """
        ).fetchall()
        if not teams:
            raise BenchError("the demo district has no teams")
        staff, tokens = harness.mint_tokens(conn, [leader for _team, leader, *_rest in teams])
    plans = tuple(
        TeamPlan(id=tid, leader_token=tokens[leader], categories=tuple(cats), volunteers=tuple(vols), lat=lat, lng=lng)
        for tid, leader, lat, lng, cats, vols in teams
        if cats and vols
    )
    return Cast(dispatcher_token=staff.dispatcher_token, citizen_tokens=staff.citizen_tokens, teams=plans)


# --- one order's journey ----------------------------------------------------------


def drive_order(client: Client, cast: Cast, team: TeamPlan, citizen_token: str, n: int, record: Latencies) -> None:
    """Place, dispatch, accept, start, complete and evaluate one order, checking every answer."""

    def step(name: str, path: str, token: str, body: Any = None, state: str | None = None, get: bool = False) -> Any:
        answer, dt = client.call("GET" if get else "POST", path, token=token, body=body)
        record.add(name, dt)
        if state is not None and answer.get("state") != state:  # a 200 that did not move the order fails too
            raise BenchError(f"after {name}, order {answer.get('id')} is {answer.get('state')!r}, expected {state!r}")
        return answer

    category = team.categories[n % len(team.categories)]
    order, dt = harness.place_order(client, citizen_token, n, category, team.lat, team.lng)
    record.add("place", dt)
    code = order.get("checkin_code")
    if order.get("state") != "submitted" or not code:
        raise BenchError(f"order {order.get('id')} placed as {order.get('state')!r}, checkin_code {code!r}")
    base, lead = f"/api/v1/orders/{order['id']}", team.leader_token
    directed = {"mode": "directed", "teams": [team.id]}
    step("dispatch", f"{base}/dispatch/", cast.dispatcher_token, directed, "dispatching")
    page = step(OFFERS_READ, f"/api/v1/offers/?order={order['id']}&state=pending", lead, get=True)
    offers = page["results"] if isinstance(page, dict) else page
    if len(offers) != 1 or offers[0]["team"] != team.id:
        raise BenchError(f"order {order['id']}: team {team.id} sees pending offers {offers!r}, expected only its own")
    step("accept", f"/api/v1/offers/{offers[0]['id']}/accept/", lead, state="accepted")
    step("start", f"{base}/start/", lead, {"qr": code}, "in_service")
    hours = [{"volunteer": v, "hours": 2.5} for v in team.volunteers[:3]]
    step("complete", f"{base}/complete/", lead, {"summary": "Shopping done.", "hours": hours}, "completed")
    evaluation = {"rating": 5, "comment": "", "publicity_consent": True}
    step("evaluate", f"{base}/evaluate/", citizen_token, evaluation, "closed")


# --- running clients in parallel ----------------------------------------------------


@dataclass
class Phase:
    """C client threads pulling work until it runs out, a deadline passes or one of them fails."""

    name: str
    clients: int
    limit_s: float
    stop: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, work: Callable[[int, Phase, Latencies], None]) -> tuple[Latencies, float]:
        """Run work(client_index, phase, latencies) in each client thread; return merged latencies and wall seconds."""
        records = [Latencies() for _ in range(self.clients)]
        gate = threading.Barrier(self.clients + 1)

        def body(i: int) -> None:
            try:
                gate.wait()
                work(i, self, records[i])
            except BaseException as exc:  # any failure ends the run; the main thread reports it
                with self.lock:
                    self.errors.append(exc)
                self.stop.set()

        threads = [
            threading.Thread(target=body, args=(i,), name=f"{self.name}-{i}", daemon=True) for i in range(self.clients)
        ]
        for t in threads:
            t.start()
        gate.wait()
        started = time.perf_counter()
        deadline = started + self.limit_s
        for t in threads:
            t.join(max(0.0, deadline - time.perf_counter()))
        wall = time.perf_counter() - started
        if any(t.is_alive() for t in threads):
            self.stop.set()
            for t in threads:
                t.join(5)
            raise BenchError(f"{self.name}: not finished after {self.limit_s:.0f} s (the server is stuck or too slow)")
        if self.errors:
            first = self.errors[0]
            more = f" (and {len(self.errors) - 1} more failures)" if len(self.errors) > 1 else ""
            raise BenchError(f"{self.name}: {first}{more}") from first
        merged = Latencies()
        for r in records:
            merged.merge(r)
        return merged, wall


def lifecycle_phase(
    name: str, port: int, cast: Cast, orders: int, clients: int, limit_s: float, first_order: int
) -> tuple[Latencies, float]:
    """Drive `orders` orders with `clients` clients.

    Client i only uses the teams with index ≡ i (mod clients) and finishes each
    order before its next, so no two live orders share a team and no team ever
    goes over capacity (every team takes at least one order at a time).
    """
    counter = itertools.count(first_order)
    counter_lock = threading.Lock()
    end = first_order + orders

    def work(i: int, phase: Phase, record: Latencies) -> None:
        own = cast.teams[i::clients]
        client = Client(port, timeout=30)
        try:
            for turn in itertools.count():
                if phase.stop.is_set():
                    return
                with counter_lock:
                    n = next(counter)
                if n >= end:
                    return
                drive_order(
                    client, cast, own[turn % len(own)], cast.citizen_tokens[n % len(cast.citizen_tokens)], n, record
                )
        finally:
            client.close()

    return Phase(name, clients, limit_s).run(work)


def ceiling_phase(name: str, port: int, states: list[int], seconds: float) -> tuple[Latencies, float]:
    """Client i moves row i + 1 of bench_ceiling forward from states[i] for `seconds`, updating states[i]."""

    def work(i: int, phase: Phase, record: Latencies) -> None:
        row, state = i + 1, states[i]
        client = Client(port, timeout=30)
        until = time.perf_counter() + seconds
        try:
            while time.perf_counter() < until and not phase.stop.is_set():
                answer, dt = client.call("POST", ceiling.PATH.format(row=row), body={"state": state})
                if answer.get("state") != state + 1:
                    raise BenchError(f"ceiling row {row}: answered {answer!r}, expected state {state + 1}")
                state += 1
                record.add("ceiling", dt)
        finally:
            states[i] = state
            client.close()

    return Phase(name, len(states), seconds + 60).run(work)


def gunicorn_flags(args: argparse.Namespace) -> list[str]:
    """The server set-up asked for on the command line; config/gunicorn.conf.py decides the rest."""
    flags = []
    for flag, value in (
        ("--workers", args.workers),
        ("--worker-class", args.worker_class),
        ("--threads", args.threads),
    ):
        if value is not None:
            flags += [flag, str(value)]
    return flags


def verify_rows(db_url: str, orders: int, ceiling_requests: int) -> None:
    """What the server answered is what the database holds: a fast run that wrote nothing fails."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        closed = conn.execute(
            "SELECT count(*) FROM dispatch_order WHERE state = 'closed' AND idempotency_key IS NOT NULL"
        ).fetchone()[0]
        logged = conn.execute("SELECT count(*) FROM bench_ceiling_log").fetchone()[0]
    if closed != orders:
        raise BenchError(f"the database holds {closed} closed benchmark orders, expected {orders}")
    if logged != ceiling_requests:
        raise BenchError(f"the ceiling log holds {logged} rows, expected {ceiling_requests}")


def report_table(title: str, rows: list[tuple[str, list[float]]]) -> None:
    print(title)
    print(harness.table_head("step", width=16))
    for name, samples in rows:
        print(harness.table_row(name, samples, width=16, digits=1))


# --- main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (under a minute): 40 orders, 5 s of ceiling")
    p.add_argument("--orders", type=int, help="orders driven through the whole journey (default 300; 40 with --quick)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients, for the lifecycle and the ceiling (8)")
    p.add_argument("--ceiling-seconds", type=float, help="how long the ceiling is hammered (15; 5 with --quick)")
    p.add_argument("--workers", type=int, help="gunicorn workers (default: config/gunicorn.conf.py)")
    p.add_argument("--worker-class", choices=["sync", "gthread"], help="gunicorn worker class (default: the conf)")
    p.add_argument("--threads", type=int, help="threads per gthread worker (default: the conf)")
    p.add_argument("--conn-max-age", type=int, help="DATABASE_CONN_MAX_AGE for the server (default: the settings, 60)")
    harness.database_option(p)
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="Redis for the channel layer and throttling (env BENCH_REDIS_URL)",
    )
    args = p.parse_args(argv)
    if args.orders is None:
        args.orders = 40 if args.quick else 300
    if args.ceiling_seconds is None:
        args.ceiling_seconds = 5.0 if args.quick else 15.0
    if args.orders < 1 or args.clients < 1 or args.ceiling_seconds <= 0:
        p.error("--orders, --clients and --ceiling-seconds must be positive")
    if args.clients > 200:
        p.error("--clients is at most 200 (each client needs teams of its own among the 405)")
    harness.require_loopback(p, database_url=args.database_url, redis_url=args.redis_url)
    return args


def run(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The whole benchmark; returns the figure line."""
    harness.check_redis(args.redis_url)
    flags = gunicorn_flags(args)
    name = f"civic_bench_{os.getpid()}"
    env = harness.server_env(SERVER_SETTINGS, args.redis_url, args.conn_max_age)
    with (
        tempfile.TemporaryDirectory(prefix="civic-bench-") as tmp,
        harness.seeded_database(args.database_url, name, env) as db_url,
    ):
        env["DATABASE_URL"] = db_url
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(ceiling.TABLES_SQL)
            conn.execute(ceiling.ROWS_SQL, [args.clients])
            conn.execute("ANALYZE bench_ceiling")
        cast = mint_cast(db_url)
        states = [0] * args.clients  # each ceiling row's state, carried from the warm-up into the run
        harness.log(f"{len(cast.teams)} teams, {len(cast.citizen_tokens)} citizens")

        port = harness.free_port()
        log_path = Path(tmp) / "gunicorn.log"
        with harness.gunicorn(env, port, log_path, flags) as proc:
            harness.log(f"gunicorn (pid {proc.pid}) on 127.0.0.1:{port} {' '.join(flags) or '(conf defaults)'}")
            harness.check_login(port, harness.DISPATCHER_PHONE, cast.dispatcher_token)
            # A safety bound, far above the expected time: a stuck server fails the run instead of hanging it.
            limit = 60.0 + args.orders * 2.0
            load_before = os.getloadavg()[0]
            # Warm-up: every client drives one order and pokes the ceiling, so workers,
            # kept connections and caches are warm before anything is timed.
            lifecycle_phase("warm-up", port, cast, args.clients, args.clients, limit, first_order=0)
            ceiling_phase("ceiling warm-up", port, states, 1.0)
            warm_ceiling = sum(states)

            life, life_wall = lifecycle_phase(
                "lifecycle", port, cast, args.orders, args.clients, limit, first_order=args.clients
            )
            roof, roof_wall = ceiling_phase("ceiling", port, states, args.ceiling_seconds)
            if proc.poll() is not None:
                raise BenchError(f"gunicorn died during the run:\n{harness.tail(log_path)}")
            load_after = os.getloadavg()[0]
        complaints = harness.server_complaints(log_path)
        verify_rows(db_url, args.clients + args.orders, sum(states))

    transitions = life.of(*TRANSITIONS)
    ceiling_samples = roof.of("ceiling")
    if len(ceiling_samples) != sum(states) - warm_ceiling:
        raise BenchError("the ceiling's count of answers and of rows moved disagree")
    orders_per_s = args.orders / life_wall
    transitions_per_s = len(transitions) / life_wall
    ceiling_per_s = len(ceiling_samples) / roof_wall
    ratio = transitions_per_s / ceiling_per_s

    print()
    print(
        f"server: gunicorn -c config/gunicorn.conf.py {' '.join(flags) or '(conf defaults)'}; "
        f"PostgreSQL database {name}, Redis {args.redis_url}"
    )
    print(harness.machine(load_before, load_after))
    if complaints:
        print(f"server log ({len(complaints)} lines at WARNING or above, first 20):")
        print("\n".join(f"  {line}" for line in complaints[:20]))
    report_table(
        f"lifecycle: {args.orders} orders, {len(transitions)} transitions, {args.clients} clients, {life_wall:.1f} s",
        [
            *((t, life.of(t)) for t in TRANSITIONS),
            ("all transitions", transitions),
            (OFFERS_READ, life.of(OFFERS_READ)),
        ],
    )
    report_table(
        f"ceiling: {len(ceiling_samples)} requests (UPDATE + INSERT), {args.clients} clients, {roof_wall:.1f} s",
        [("ceiling", ceiling_samples)],
    )
    print(
        f"orders/s {orders_per_s:.1f}   transitions/s {transitions_per_s:.1f}   "
        f"ceiling requests/s {ceiling_per_s:.1f}   ratio {ratio:.3f}"
    )
    line = (
        f"orders_per_s={orders_per_s:.1f} transitions_per_s={transitions_per_s:.1f} "
        f"ceiling_per_s={ceiling_per_s:.1f} ratio={ratio:.3f} p99_ms={percentile(transitions, 99) * 1e3:.1f}"
    )
    return line, []


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/lifecycle.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
