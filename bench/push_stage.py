"""What bench/push.py and bench/push_hold.py set up alike: the listeners, their orders, the servers of the stream.

The listeners are the leaders and members of the demo district's first teams, with API
tokens; each broadcast goes to several teams serving one category; gunicorn serves the
API and two daphne processes the stream, as in production, against a seeded throwaway
database and a spare Redis database.
"""

from __future__ import annotations

import argparse
import itertools
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from bench import harness
from bench.harness import BenchError, Client, log

SERVERS = 2
STREAM_PATH = "/ws/v1/stream/"
Fire = Callable[[int], list[tuple[int, int]]]  # dispatch n → [(offer id, team)], run in a thread


# --- the cast: who listens, who dispatches --------------------------------------------


@dataclass(frozen=True)
class Listener:
    team: int
    token: str


@dataclass(frozen=True)
class Cast:
    dispatcher_token: str
    citizen_tokens: tuple[str, ...]
    listeners: tuple[Listener, ...]
    teams_by_category: dict[int, tuple[int, ...]]
    homes: dict[int, tuple[float, float]]
    login: tuple[str, str]  # (phone, token) of one listener, to check the real login path


def mint_cast(db_url: str, clients: int) -> Cast:
    """Tokens for the dispatcher, the citizens and the members of the first teams, `clients` of them."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        rows = conn.execute(
            """
            SELECT t.id, t.home_lat, t.home_lng, u.id, u.username
            FROM volunteers_team t
            JOIN volunteers_membership m ON m.team_id = t.id AND m.active
            JOIN volunteers_volunteer v ON v.id = m.volunteer_id
            JOIN auth_user u ON u.id = v.user_id AND u.is_active
            WHERE t.active
            ORDER BY t.id, m.role = 'leader' DESC, m.id
            """
        ).fetchall()
        chosen: list[tuple[int, int, str]] = []
        homes: dict[int, tuple[float, float]] = {}
        seen: set[int] = set()
        for team, lat, lng, user, phone in rows:
            if user in seen:  # one connection per user, in however many teams
                continue
            seen.add(user)
            chosen.append((team, user, phone))
            homes[team] = (lat, lng)
            if len(chosen) == clients:
                break
        if len(chosen) < clients:
            raise BenchError(f"the demo district has {len(chosen)} team members, fewer than --clients {clients}")
        staff, tokens = harness.mint_tokens(conn, [user for _t, user, _p in chosen])
        by_category: dict[int, list[int]] = {}
        for team, category in conn.execute(
            "SELECT team_id, category_id FROM volunteers_team_categories WHERE team_id = ANY(%s) ORDER BY 1, 2",
            [sorted(homes)],
        ).fetchall():
            by_category.setdefault(category, []).append(team)
    _team, user, phone = chosen[0]
    return Cast(
        dispatcher_token=staff.dispatcher_token,
        citizen_tokens=staff.citizen_tokens,
        listeners=tuple(Listener(team=t, token=tokens[u]) for t, u, _p in chosen),
        teams_by_category={c: tuple(ts) for c, ts in by_category.items()},
        homes=homes,
        login=(phone, tokens[user]),
    )


@dataclass(frozen=True)
class Dispatch:
    category: int
    teams: tuple[int, ...]


def dispatch_plan(cast: Cast, count: int, per_offer: int) -> list[Dispatch]:
    """`count` broadcasts, each to up to `per_offer` listening teams that serve one category.

    Only categories with a fair share of the listening teams take part, so that each
    event reaches many clients; the teams rotate so every listener is exercised.
    """
    widest = max(len(ts) for ts in cast.teams_by_category.values())
    wanted = max(1, min(per_offer, widest) // 2)
    categories = sorted(c for c, ts in cast.teams_by_category.items() if len(ts) >= wanted)
    plan = []
    for i in range(count):
        category = categories[i % len(categories)]
        teams = cast.teams_by_category[category]
        k = min(per_offer, len(teams))
        start = (i // len(categories) * k) % len(teams)
        plan.append(Dispatch(category, tuple((teams * 2)[start : start + k])))
    return plan


def place_orders(port: int, cast: Cast, plan: list[Dispatch], threads: int = 4) -> list[int]:
    """One order per planned dispatch, placed by the demo citizens; not timed."""
    local = threading.local()

    def place(n: int) -> int:
        if not hasattr(local, "client"):
            local.client = Client(port, timeout=30)
        d = plan[n]
        token = cast.citizen_tokens[n % len(cast.citizen_tokens)]
        order, _ = harness.place_order(local.client, token, n, d.category, *cast.homes[d.teams[0]])
        return order["id"]

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(place, range(len(plan))))


# --- what push.py and push_hold.py set up alike ---------------------------------------------


def add_options(p: argparse.ArgumentParser, clients: str) -> None:
    """The options push.py and push_hold.py share; `clients` tells the defaults of --clients."""
    p.add_argument("--clients", type=int, help=f"WebSocket connections, split over two daphne ({clients})")
    p.add_argument("--teams-per-offer", type=int, default=10, help="teams each broadcast goes to (10)")
    p.add_argument(
        "--settle-seconds", type=float, help="wait this long at most for late deliveries (15; 5 with --quick)"
    )
    p.add_argument(
        "--client-loop",
        choices=["uvloop", "asyncio"],
        default="uvloop",
        help="event loop of the clients (and of push.py's Redis floor) (uvloop)",
    )
    p.add_argument("--log-dir", help="keep the servers' logs in this folder (default: a temporary one, removed)")
    harness.database_option(p)
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_PUSH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        help="a spare Redis database, flushed at start and end (env BENCH_PUSH_REDIS_URL)",
    )


def check_options(p: argparse.ArgumentParser, args: argparse.Namespace, clients: int, quick_clients: int) -> None:
    if args.clients is None:
        args.clients = quick_clients if args.quick else clients
    if args.settle_seconds is None:
        args.settle_seconds = 5.0 if args.quick else 15.0
    if min(args.clients, args.teams_per_offer) < 1:
        p.error("--clients and --teams-per-offer must be positive")
    harness.require_loopback(p, database_url=args.database_url, redis_url=args.redis_url)
    if urlsplit(args.redis_url).path.strip("/") in ("", "0"):
        p.error("--redis-url must name a spare database (it is flushed), not 0: e.g. redis://127.0.0.1:6379/12")


@dataclass(frozen=True)
class Setup:
    env: dict[str, str]
    cast: Cast
    tmp: Path
    database: str
    open_files: int


@contextmanager
def set_up(args: argparse.Namespace, database: str, env: dict[str, str]) -> Iterator[Setup]:
    """A spare Redis database, a seeded throwaway database, the servers' environment, the cast, a log folder."""
    open_files = raise_open_files()  # each connection is a descriptor here and one in a server
    if open_files < args.clients * 2 + 256:
        raise BenchError(f"open files limited to {open_files}; {args.clients} clients need about {args.clients * 2}")
    with (
        tempfile.TemporaryDirectory(prefix="civic-push-") as tmp_dir,
        flushed_redis(args.redis_url),
        harness.seeded_database(args.database_url, database, env) as db_url,
    ):
        env["DATABASE_URL"] = db_url
        cast = mint_cast(db_url, args.clients)
        log(f"{len(cast.listeners)} listeners in {len(cast.homes)} teams")
        tmp = Path(args.log_dir or tmp_dir)
        tmp.mkdir(parents=True, exist_ok=True)
        yield Setup(env, cast, tmp, database, open_files)


# --- the platform serving the stream ---------------------------------------------------


@dataclass
class Stream:
    ports: list[int]
    procs: list[subprocess.Popen]
    logs: list[Path]
    fire: Fire

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    @property
    def origins(self) -> dict[int, str]:
        """port → Origin header: the stream checks it against ALLOWED_HOSTS."""
        return {port: f"http://127.0.0.1:{port}" for port in self.ports}

    def targets(self, listeners: tuple[Listener, ...]) -> list[tuple[int, str]]:
        return targets(listeners, self.ports, STREAM_PATH, lambda listener: f"token={listener.token}")

    def rss(self) -> list[int]:
        return [rss_kb(pid) for pid in self.pids]

    def check_alive(self) -> None:
        for proc, path in zip(self.procs, self.logs, strict=True):
            if proc.poll() is not None:
                raise BenchError(f"daphne {proc.pid} died during the run:\n{harness.tail(path)}")


@contextmanager
def serve_stream(env: dict[str, str], cast: Cast, plan: list[Dispatch], tmp: Path) -> Iterator[Stream]:
    """gunicorn for the API and SERVERS daphne processes for the stream, an order placed per dispatch."""
    http_port = harness.free_port()
    ports = [harness.free_port() for _ in range(SERVERS)]
    logs = [tmp / f"daphne-{i}.log" for i in range(SERVERS)]
    with ExitStack() as stack:
        stack.enter_context(harness.gunicorn(env, http_port, tmp / "gunicorn.log"))
        procs = [
            stack.enter_context(daphne(env, "config.asgi:application", port, path))
            for port, path in zip(ports, logs, strict=True)
        ]
        log(f"gunicorn on :{http_port}, daphne (pids {[p.pid for p in procs]}) on {ports}")
        harness.check_login(http_port, *cast.login)
        t0 = time.perf_counter()
        order_ids = place_orders(http_port, cast, plan)
        log(f"placed {len(order_ids)} orders in {time.perf_counter() - t0:.1f} s")
        dispatcher = Client(http_port, timeout=30)
        stack.callback(dispatcher.close)
        fired = itertools.count()

        def fire(_n: int) -> list[tuple[int, int]]:
            i = next(fired)
            order, _ = dispatcher.call(
                "POST",
                f"/api/v1/orders/{order_ids[i]}/dispatch/",
                token=cast.dispatcher_token,
                body={"mode": "broadcast", "teams": list(plan[i].teams)},
            )
            offers = [(o["id"], o["team"]) for o in order.get("offers", []) if o.get("state") == "pending"]
            if sorted(t for _o, t in offers) != sorted(plan[i].teams):
                raise BenchError(f"order {order_ids[i]}: dispatched to {sorted(plan[i].teams)}, offers are {offers}")
            return offers

        yield Stream(ports, procs, logs, fire)


def targets(
    listeners: tuple[Listener, ...], ports: list[int], path: str, query: Callable[[Listener], str]
) -> list[tuple[int, str]]:
    """(team, URL) of each listener: client i goes to server i mod 2, so each team sits on both processes."""
    return [(lst.team, f"ws://127.0.0.1:{ports[i % len(ports)]}{path}?{query(lst)}") for i, lst in enumerate(listeners)]


def processes(pids: list[int], redis_url: str) -> dict[str, int]:
    """The processes whose CPU a phase counts, by name: the servers and Redis."""
    return {**{f"daphne {i + 1}": pid for i, pid in enumerate(pids)}, "redis": redis_pid(redis_url)}


# --- processes and Redis ----------------------------------------------------------------


def daphne(env: dict[str, str], app: str, port: int, log_path: Path) -> AbstractContextManager[subprocess.Popen]:
    """`app` under daphne on 127.0.0.1:`port` (its default keepalive pings), ready once it listens."""
    # -v 0: no access log line per connection, as a busy deployment would run it.
    cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "-v", "0", app]

    def listens() -> bool:
        with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        return False

    return harness.serve(f"daphne {app}", cmd, env, log_path, listens)


def raise_open_files() -> int:
    """Soft RLIMIT_NOFILE up to the hard limit (servers started from here inherit it); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else hard
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft


def rss_kb(pid: int) -> int:
    """VmRSS of a process, from /proc (Linux), in kB; 0 once it is gone."""
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc/<pid>/stat; 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def flushed_redis(url: str) -> Iterator[None]:
    """The benchmark's Redis database, empty at the start and emptied at the end (groups, channels, throttles)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.flushdb()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {url} is not usable ({exc})") from exc
    try:
        yield
    finally:
        with suppress(redis.RedisError):
            client.flushdb()
        client.close()


def redis_pid(url: str) -> int:
    """Redis's own process, for its CPU time (0 if INFO does not tell)."""
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        return int(client.info("server").get("process_id", 0))
    finally:
        client.close()
