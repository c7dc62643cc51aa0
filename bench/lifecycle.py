#!/usr/bin/env python
"""Lifecycle benchmark: orders through place → dispatch → accept → start → complete → evaluate.

Serves the platform as in production (gunicorn with config/gunicorn.conf.py,
config.wsgi, the production settings, PostgreSQL with kept connections, Redis)
on a loopback port, against a throwaway PostgreSQL database that it creates,
migrates, seeds with the demo district and drops at the end. Concurrent clients
(a thread and an `http.client` connection each) drive N orders through the whole
journey over the HTTP API, then hammer the ceiling view (bench/ceiling: one
guarded UPDATE plus one INSERT) with as many clients, on the same server and
database, for comparison.

    .venv/bin/python bench/lifecycle.py [--quick] [--orders N] [--clients C]

Prints orders/s and p50/p99 per transition; the last line is the figure:

    orders_per_s=… transitions_per_s=… ceiling_per_s=… ratio=… p99_ms=…

ratio = lifecycle transitions per second / ceiling requests per second.
Any HTTP status other than the expected one fails the run (exit 1) after the
server is stopped and the database dropped.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import ceiling  # noqa: E402

TRANSITIONS = ("place", "dispatch", "accept", "start", "complete", "evaluate")
OFFERS_READ = "offers (read)"
DEMO_PASSWORD = "demo-pass-2026"  # dispatch/demo.py
DISPATCHER_PHONE = "13900000000"
CITIZEN_PHONES = ["13800000000", *(f"138{i:08d}" for i in range(1, 200))]
SERVER_SETTINGS = "bench.ceiling.settings"


class BenchError(Exception):
    """The run failed: the message says where and why."""


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C, so the server stops and the database goes."""


# --- figures ------------------------------------------------------------------


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `samples`, in the samples' unit."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n·q/100), at least the first
    return ordered[int(rank) - 1]


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


# --- HTTP client ----------------------------------------------------------------


class Client:
    """A connection to the server: kept alive by gthread workers; sync workers close it and it reopens."""

    def __init__(self, port: int, timeout: float) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def close(self) -> None:
        self.conn.close()

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Any = None,
        expect: int = 200,
        headers: dict[str, str] | None = None,
    ) -> tuple[Any, float]:
        """Send one request; return (decoded JSON, seconds). Any other status than `expect` fails the run."""
        sent = {"Accept": "application/json", "Accept-Language": "en", **(headers or {})}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            sent["Content-Type"] = "application/json"
        if token:
            sent["Authorization"] = f"Token {token}"
        started = time.perf_counter()
        try:
            self.conn.request(method, path, body=data, headers=sent)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            raise BenchError(f"{method} {path}: no answer ({exc!r})") from exc
        elapsed = time.perf_counter() - started
        if response.status != expect:
            raise BenchError(
                f"{method} {path} answered {response.status}, expected {expect}: {raw[:400].decode('utf-8', 'replace')}"
            )
        try:
            return (json.loads(raw) if raw else None), elapsed
        except ValueError as exc:
            raise BenchError(f"{method} {path} answered {response.status} with non-JSON: {raw[:200]!r}") from exc


def expect_state(order: dict[str, Any], state: str, step: str) -> None:
    """A 200 that did not move the order is as much a failure as a 4xx."""
    if order.get("state") != state:
        raise BenchError(f"after {step}, order {order.get('id')} is {order.get('state')!r}, expected {state!r}")


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


def mint_tokens(db_url: str) -> Cast:
    """Give every demo citizen, the center dispatcher and each team leader an API token.

    Logging in hashes the password (PBKDF2, about half a second of CPU each), and
    that is not what is measured here; so the tokens go straight into DRF's token
    table, where `POST /api/v1/auth/token/` finds them (checked in `check_login`).
    """
    with psycopg.connect(db_url, autocommit=True) as conn:
        users = dict(conn.execute("SELECT username, id FROM auth_user").fetchall())
        teams = conn.execute(
            """
            SELECT t.id, u.id, t.home_lat, t.home_lng,
                   array(SELECT c.category_id FROM volunteers_team_categories c WHERE c.team_id = t.id ORDER BY 1),
                   array(SELECT m.volunteer_id FROM volunteers_membership m
                         WHERE m.team_id = t.id AND m.active ORDER BY m.role = 'leader' DESC, m.id)
            FROM volunteers_team t JOIN auth_user u ON u.id = t.leader_id
            WHERE t.active ORDER BY t.id
            """
        ).fetchall()
        wanted = [DISPATCHER_PHONE, *CITIZEN_PHONES]
        missing = [p for p in wanted if p not in users]
        if missing or not teams:
            raise BenchError(f"the demo district is incomplete (missing users {missing[:3]}, {len(teams)} teams)")
        tokens = {users[p]: secrets.token_hex(20) for p in wanted}
        tokens.update({leader: secrets.token_hex(20) for _team, leader, *_rest in teams})
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, now())",
                [(key, user) for user, key in tokens.items()],
            )
    plans = tuple(
        TeamPlan(id=tid, leader_token=tokens[leader], categories=tuple(cats), volunteers=tuple(vols), lat=lat, lng=lng)
        for tid, leader, lat, lng, cats, vols in teams
        if cats and vols
    )
    return Cast(
        dispatcher_token=tokens[users[DISPATCHER_PHONE]],
        citizen_tokens=tuple(tokens[users[p]] for p in CITIZEN_PHONES),
        teams=plans,
    )


def check_login(client: Client, cast: Cast) -> None:
    """The real login path answers with the token the benchmark uses."""
    data, _ = client.call("POST", "/api/v1/auth/token/", body={"phone": DISPATCHER_PHONE, "password": DEMO_PASSWORD})
    if data.get("token") != cast.dispatcher_token:
        raise BenchError("POST /api/v1/auth/token/ answered another token than the dispatcher's")


# --- one order's journey ----------------------------------------------------------


def drive_order(client: Client, cast: Cast, team: TeamPlan, citizen_token: str, n: int, record: Latencies) -> None:
    """Place, dispatch, accept, start, complete and evaluate one order, checking every answer."""
    start = datetime.now(UTC) + timedelta(hours=2)
    order, dt = client.call(
        "POST",
        "/api/v1/orders/",
        token=citizen_token,
        expect=201,
        headers={"Idempotency-Key": str(uuid.uuid4())},
        body={
            "category": team.categories[n % len(team.categories)],
            "description": f"Benchmark order {n}: please help with the shopping.",
            "lat": team.lat,
            "lng": team.lng,
            "address": f"Bench road {n}",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=3)).isoformat(),
            "contact_name": "Bench",
            "contact_phone": "13800000000",
        },
    )
    record.add("place", dt)
    expect_state(order, "submitted", "place")
    order_id, code = order["id"], order["checkin_code"]
    if not code:
        raise BenchError(f"order {order_id}: the citizen's view has no checkin_code")
    base = f"/api/v1/orders/{order_id}"

    order, dt = client.call(
        "POST", f"{base}/dispatch/", token=cast.dispatcher_token, body={"mode": "directed", "teams": [team.id]}
    )
    record.add("dispatch", dt)
    expect_state(order, "dispatching", "dispatch")

    page, dt = client.call("GET", f"/api/v1/offers/?order={order_id}&state=pending", token=team.leader_token)
    record.add(OFFERS_READ, dt)
    offers = page["results"] if isinstance(page, dict) else page
    if len(offers) != 1 or offers[0]["team"] != team.id:
        raise BenchError(f"order {order_id}: team {team.id} sees pending offers {offers!r}, expected exactly its own")

    order, dt = client.call("POST", f"/api/v1/offers/{offers[0]['id']}/accept/", token=team.leader_token)
    record.add("accept", dt)
    expect_state(order, "accepted", "accept")

    order, dt = client.call("POST", f"{base}/start/", token=team.leader_token, body={"qr": code})
    record.add("start", dt)
    expect_state(order, "in_service", "start")

    hours = [{"volunteer": v, "hours": 2.5} for v in team.volunteers[:3]]
    order, dt = client.call(
        "POST", f"{base}/complete/", token=team.leader_token, body={"summary": "Shopping done.", "hours": hours}
    )
    record.add("complete", dt)
    expect_state(order, "completed", "complete")

    order, dt = client.call(
        "POST",
        f"{base}/evaluate/",
        token=citizen_token,
        body={"rating": 5, "comment": "", "publicity_consent": True},
    )
    record.add("evaluate", dt)
    expect_state(order, "closed", "evaluate")


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


# --- the database and the server ----------------------------------------------------


def _with_dbname(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


@contextmanager
def throwaway_database(admin_url: str, name: str, *, keep: bool = False) -> Iterator[str]:
    """Create database `name` and drop it on the way out (unless kept), whatever happened in between."""
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchError(f"cannot create database {name} via {admin_url}: {exc}") from exc
    try:
        yield _with_dbname(admin_url, name)
    finally:
        if keep:
            print(f'kept database {name} (--keep-db): drop it with DROP DATABASE "{name}"', file=sys.stderr)
        else:
            try:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                print(f"dropped database {name}", file=sys.stderr)
            except psycopg.Error as exc:
                print(f"could not drop database {name}: {exc}", file=sys.stderr)


def migrate_and_seed(env: dict[str, str], timeout: float) -> None:
    """`manage.py migrate` then `manage.py seed_demo`, in one process (one Django start-up, not two)."""
    script = (
        "import django; django.setup(); from django.core.management import call_command; "
        "call_command('migrate', interactive=False, verbosity=0); call_command('seed_demo')"
    )
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"migrate and seed_demo took more than {timeout:.0f} s") from exc
    if done.returncode != 0:
        raise BenchError(f"migrate or seed_demo failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_redis(url: str) -> None:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=3) as s:
            s.sendall(b"PING\r\n")
            if not s.recv(64).startswith(b"+PONG"):
                raise BenchError(f"Redis at {url} did not answer PING")
    except OSError as exc:
        raise BenchError(f"Redis at {url} is not reachable ({exc})") from exc


@dataclass(frozen=True)
class ServerSetup:
    workers: int | None
    worker_class: str | None
    threads: int | None

    def flags(self) -> list[str]:
        flags = []
        if self.workers is not None:
            flags += ["--workers", str(self.workers)]
        if self.worker_class is not None:
            flags += ["--worker-class", self.worker_class]
        if self.threads is not None:
            flags += ["--threads", str(self.threads)]
        return flags


@contextmanager
def gunicorn(env: dict[str, str], port: int, setup: ServerSetup, log_path: Path) -> Iterator[subprocess.Popen]:
    """Serve config.wsgi on 127.0.0.1:`port`; stop the server (and only it) on the way out."""
    cmd = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(ROOT / "config" / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        *setup.flags(),
        "config.wsgi:application",
    ]
    with open(log_path, "wb") as log:
        # Its own session, so stopping it reaches its workers and nothing else.
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_ready(proc, port, log_path, limit_s=30)
        yield proc
    finally:
        stop_server(proc)


def wait_ready(proc: subprocess.Popen, port: int, log_path: Path, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited with {proc.returncode}:\n{tail(log_path)}")
        client = Client(port, timeout=2)
        try:
            client.call("GET", "/api/v1/categories/")
            return
        except BenchError:
            time.sleep(0.2)
        finally:
            client.close()
    raise BenchError(f"gunicorn did not answer within {limit_s:.0f} s:\n{tail(log_path)}")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=25)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# Known and harmless: no collectstatic in the throwaway setup.
LOG_NOISE = ("No directory at:", "mw_instance = middleware(")


def server_complaints(path: Path) -> list[str]:
    """What the server logged at WARNING or above during the run, known noise left out."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if line.strip() and not any(noise in line for noise in LOG_NOISE)]


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def server_env(db_url: str, redis_url: str, conn_max_age: int | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": SERVER_SETTINGS,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: no TLS in front to redirect to.
        "DJANGO_SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "THROTTLE_ORDER_PLACE": "100000/min",
        "THROTTLE_AUTH": "100000/min",
        "LOG_LEVEL": "WARNING",
        "GUNICORN_LOGLEVEL": "warning",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("GUNICORN_BIND", None)
    if conn_max_age is not None:
        env["DATABASE_CONN_MAX_AGE"] = str(conn_max_age)
    return env


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


# --- report -------------------------------------------------------------------------


def report_table(title: str, rows: list[tuple[str, list[float]]]) -> None:
    print(title)
    print(f"  {'step':<16}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for name, samples in rows:
        print(
            f"  {name:<16}{len(samples):>8}{percentile(samples, 50) * 1e3:>10.1f}"
            f"{percentile(samples, 99) * 1e3:>10.1f}{max(samples) * 1e3:>10.1f}"
        )


# --- main ---------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a short run (under a minute): 40 orders, 5 s of ceiling")
    p.add_argument("--orders", type=int, help="orders driven through the whole journey (default 300; 40 with --quick)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients, for the lifecycle and the ceiling (8)")
    p.add_argument(
        "--ceiling-seconds", type=float, help="how long the ceiling is hammered (default 15; 5 with --quick)"
    )
    p.add_argument("--workers", type=int, help="gunicorn workers (default: config/gunicorn.conf.py)")
    p.add_argument("--worker-class", choices=["sync", "gthread"], help="gunicorn worker class (default: the conf)")
    p.add_argument("--threads", type=int, help="threads per gthread worker (default: the conf)")
    p.add_argument("--conn-max-age", type=int, help="DATABASE_CONN_MAX_AGE for the server (default: the settings, 60)")
    p.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL URL with the right to create databases (env BENCH_DATABASE_URL)",
    )
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
    for url, flag in ((args.database_url, "--database-url"), (args.redis_url, "--redis-url")):
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            p.error(f"{flag} must point at this machine (loopback), not {host}")
    return args


def run(args: argparse.Namespace) -> str:
    """The whole benchmark; returns the figure line."""
    check_redis(args.redis_url)
    setup = ServerSetup(args.workers, args.worker_class, args.threads)
    name = f"civic_bench_{os.getpid()}"
    with (
        tempfile.TemporaryDirectory(prefix="civic-bench-") as tmp,
        throwaway_database(args.database_url, name) as db_url,
    ):
        env = server_env(db_url, args.redis_url, args.conn_max_age)
        t0 = time.perf_counter()
        migrate_and_seed(env, timeout=300)
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute(ceiling.TABLES_SQL)
            conn.execute(ceiling.ROWS_SQL, [args.clients])
            # Fresh bulk-loaded tables have no planner statistics yet; a live database has them.
            conn.execute("ANALYZE")
        cast = mint_tokens(db_url)
        states = [0] * args.clients  # each ceiling row's state, carried from the warm-up into the run
        print(
            f"database {name}: migrated and seeded in {time.perf_counter() - t0:.1f} s "
            f"({len(cast.teams)} teams, {len(cast.citizen_tokens)} citizens)",
            file=sys.stderr,
        )

        port = free_port()
        log_path = Path(tmp) / "gunicorn.log"
        with gunicorn(env, port, setup, log_path) as proc:
            print(
                f"gunicorn (pid {proc.pid}) on 127.0.0.1:{port} {' '.join(setup.flags()) or '(conf defaults)'}",
                file=sys.stderr,
            )
            client = Client(port, timeout=30)
            check_login(client, cast)
            client.close()
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
                raise BenchError(f"gunicorn died during the run:\n{tail(log_path)}")
            load_after = os.getloadavg()[0]
        complaints = server_complaints(log_path)
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
        f"server: gunicorn -c config/gunicorn.conf.py {' '.join(setup.flags()) or '(conf defaults)'}; "
        f"PostgreSQL database {name}, Redis {args.redis_url}"
    )
    # The machine may be shared: the load tells how far to trust the figures.
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before:.1f} before the run, {load_after:.1f} after")
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
    return (
        f"orders_per_s={orders_per_s:.1f} transitions_per_s={transitions_per_s:.1f} "
        f"ceiling_per_s={ceiling_per_s:.1f} ratio={ratio:.3f} p99_ms={percentile(transitions, 99) * 1e3:.1f}"
    )


def bench_main(script: str, run: Callable[[], tuple[str, list[str]]]) -> int:
    """Run a benchmark: its figure line last on stdout, its problems on stderr, an exit code
    that says failed (1), interrupted (130) or terminated (143); cleanup runs in every case."""

    def on_term(_signum: int, _frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, on_term)
    try:
        line, problems = run()
    except BenchError as exc:
        print(f"\n{script} FAILED: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{script} interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"\n{script} terminated", file=sys.stderr)
        return 143
    for problem in problems:
        print(f"{script}: {problem}", file=sys.stderr, flush=True)
    print(line, flush=True)
    return 1 if problems else 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return bench_main("bench/lifecycle.py", lambda: (run(args), []))


if __name__ == "__main__":
    sys.exit(main())
