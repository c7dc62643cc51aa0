"""What the benchmarks share: exit codes, figures, a throwaway database and the servers under test."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"
DEMO_PASSWORD = "demo-pass-2026"  # dispatch/demo.py
DISPATCHER_PHONE = "13900000000"
CITIZEN_PHONES = ["13800000000", *(f"138{i:08d}" for i in range(1, 200))]
# Known and harmless: no collectstatic in the throwaway setup.
LOG_NOISE = ("No directory at:", "mw_instance = middleware(")


class BenchError(Exception):
    """The run failed: the message says where and why."""


class Terminated(Exception):
    """SIGTERM arrived: unwind like Ctrl-C, so the servers stop and the database goes."""


def bench_main(script: str, run: Callable[[], tuple[str, list[str]]]) -> int:
    """`run` gives the figure line, printed last, and problems: any fails the run (1); Ctrl-C 130, SIGTERM 143."""

    def on_term(_signum: int, _frame: object) -> None:
        raise Terminated

    signal.signal(signal.SIGTERM, on_term)
    try:
        line, problems = run()
    except BenchError as exc:
        print(f"\n{script} FAILED: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, Terminated) as exc:
        terminated = isinstance(exc, Terminated)
        print(f"\n{script} {'terminated' if terminated else 'interrupted'}", file=sys.stderr)
        return 143 if terminated else 130
    for problem in problems:
        print(f"{script}: {problem}", file=sys.stderr, flush=True)
    print(line, flush=True)
    return 1 if problems else 0


def log(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the report and its figure line."""
    print(message, file=sys.stderr, flush=True)


# --- figures ------------------------------------------------------------------------


def percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of `samples`, in the samples' unit."""
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n·q/100), at least the first
    return ordered[int(rank) - 1]


def ms(seconds: float) -> float:
    return seconds * 1e3


def table_head(first: str, width: int = 24) -> str:
    return f"  {first:<{width}}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}"


def table_row(name: str, samples: Sequence[float], width: int = 24, digits: int = 2) -> str:
    """Count, p50, p99 and max of `samples` (seconds), in milliseconds."""
    if not samples:
        return f"  {name:<{width}}{0:>8}{'—':>10}{'—':>10}{'—':>10}"
    p50, p99, top = (ms(percentile(samples, q)) for q in (50, 99, 100))
    return f"  {name:<{width}}{len(samples):>8}{p50:>10.{digits}f}{p99:>10.{digits}f}{top:>10.{digits}f}"


def machine(load_before: float, load_after: float) -> str:
    """The machine may be shared: its load tells how far to trust the figures."""
    return f"machine: {os.cpu_count()} CPUs, load average {load_before:.2f} before the run, {load_after:.2f} after"


# --- the command line ---------------------------------------------------------------


def database_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL),
        help="a PostgreSQL URL with the right to create databases (env BENCH_DATABASE_URL)",
    )


def require_loopback(parser: argparse.ArgumentParser, **urls: str) -> None:
    """Each URL (keyword: the option's name with underscores) must point at this machine."""
    for name, url in urls.items():
        host = urlsplit(url).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"--{name.replace('_', '-')} must point at this machine (loopback), not {host}")


# --- the platform's HTTP API --------------------------------------------------------


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
            text = raw[:400].decode("utf-8", "replace")
            raise BenchError(f"{method} {path} answered {response.status}, expected {expect}: {text}")
        try:
            return (json.loads(raw) if raw else None), elapsed
        except ValueError as exc:
            raise BenchError(f"{method} {path} answered {response.status} with non-JSON: {raw[:200]!r}") from exc


def place_order(client: Client, token: str, n: int, category: int, lat: float, lng: float) -> tuple[Any, float]:
    """Order `n` of a benchmark, placed by a citizen for help at (lat, lng) two hours from now; seconds it took."""
    start = datetime.now(UTC) + timedelta(hours=2)
    return client.call(
        "POST",
        "/api/v1/orders/",
        token=token,
        expect=201,
        headers={"Idempotency-Key": str(uuid.uuid4())},
        body={
            "category": category,
            "description": f"Benchmark order {n}: please help with the shopping.",
            "lat": lat,
            "lng": lng,
            "address": f"Bench road {n}",
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(hours=3)).isoformat(),
            "contact_name": "Bench",
            "contact_phone": "13800000000",
        },
    )


@dataclass(frozen=True)
class Staff:
    dispatcher_token: str
    citizen_tokens: tuple[str, ...]


def mint_tokens(conn: psycopg.Connection, users: Iterable[int]) -> tuple[Staff, dict[int, str]]:
    """API tokens for the center dispatcher, the demo citizens and `users`, straight into DRF's table.

    Logging in hashes the password (PBKDF2), which is not what is measured; `check_login`
    shows that the real login path answers with these tokens.
    """
    ids = dict(conn.execute("SELECT username, id FROM auth_user").fetchall())
    missing = [p for p in (DISPATCHER_PHONE, *CITIZEN_PHONES) if p not in ids]
    if missing:
        raise BenchError(f"the demo district is incomplete (missing users {missing[:3]})")
    staff = [ids[p] for p in (DISPATCHER_PHONE, *CITIZEN_PHONES)]
    tokens = {user: secrets.token_hex(20) for user in [*staff, *users]}
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO authtoken_token (key, user_id, created) VALUES (%s, %s, now())",
            [(key, user) for user, key in tokens.items()],
        )
    return Staff(tokens[staff[0]], tuple(tokens[u] for u in staff[1:])), tokens


def check_login(port: int, phone: str, token: str) -> None:
    """The real login path answers with the token the benchmark minted for `phone`."""
    client = Client(port, timeout=30)
    try:
        data, _ = client.call("POST", "/api/v1/auth/token/", body={"phone": phone, "password": DEMO_PASSWORD})
    finally:
        client.close()
    if data.get("token") != token:
        raise BenchError(f"POST /api/v1/auth/token/ answered another token than {phone}'s")


# --- the throwaway database ---------------------------------------------------------


@contextmanager
def seeded_database(
    admin_url: str, name: str, env: dict[str, str], *, seed_args: Sequence[str] = (), keep: bool = False
) -> Iterator[str]:
    """Database `name`, migrated and seeded with the demo district under `env`'s settings; its URL.

    Dropped on the way out (unless kept), whatever happened in between.
    """
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        raise BenchError(f"cannot create database {name} via {admin_url}: {exc}") from exc
    parts = urlsplit(admin_url)
    db_url = urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))
    try:
        t0 = time.perf_counter()
        # One process for both: one Django start-up, not two.
        script = (
            "import sys, django; django.setup(); from django.core.management import call_command; "
            "call_command('migrate', interactive=False, verbosity=0); call_command('seed_demo', *sys.argv[1:])"
        )
        cmd, seed_env = [sys.executable, "-c", script, *seed_args], {**env, "DATABASE_URL": db_url}
        try:
            done = subprocess.run(cmd, cwd=ROOT, env=seed_env, capture_output=True, text=True, timeout=300)
        except subprocess.TimeoutExpired as exc:
            raise BenchError("migrate and seed_demo took more than 300 s") from exc
        if done.returncode != 0:
            raise BenchError(f"migrate or seed_demo failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
        with psycopg.connect(db_url, autocommit=True) as conn:
            conn.execute("ANALYZE")  # fresh bulk-loaded tables have no planner statistics yet
        log(f"database {name}: migrated and seeded in {time.perf_counter() - t0:.1f} s")
        yield db_url
    finally:
        if keep:
            log(f'kept database {name} (--keep-db): drop it with DROP DATABASE "{name}"')
        else:
            try:
                with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                log(f"dropped database {name}")
            except psycopg.Error as exc:
                log(f"could not drop database {name}: {exc}")


# --- servers ------------------------------------------------------------------------


def collect_static(env: dict[str, str]) -> None:
    """collectstatic under `env`'s settings into its STATIC_ROOT, as a deployment serves the files."""
    cmd = [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise BenchError(f"collectstatic failed:\n{done.stdout[-1000:]}{done.stderr[-2000:]}")


def server_env(settings: str, redis_url: str, conn_max_age: int | None = None) -> dict[str, str]:
    """The environment of a server (and of its migration) as a deployment would give it, on loopback."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": settings,
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DJANGO_SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback: no TLS in front to redirect to
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"


def server_complaints(*paths: Path) -> list[str]:
    """What the servers logged (at WARNING or above) during the run, known noise left out."""
    found = []
    for path in paths:
        with suppress(OSError):
            lines = path.read_text(errors="replace").splitlines()
            found += [f"{path.name}: {x}" for x in lines if x.strip() and not any(n in x for n in LOG_NOISE)]
    return found


@contextmanager
def serve(
    what: str, cmd: list[str], env: dict[str, str], log_path: Path, ready: Callable[[], bool]
) -> Iterator[subprocess.Popen]:
    """Run a server until `ready()` answers (30 s at most); stop it, and only it, on the way out."""
    with open(log_path, "wb") as log_file:
        # Its own session, so stopping it reaches its workers and nothing else.
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 30
        while not ready():
            if proc.poll() is not None:
                raise BenchError(f"{what} exited with {proc.returncode}:\n{tail(log_path)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{what} did not answer within 30 s:\n{tail(log_path)}")
            time.sleep(0.2)
        yield proc
    finally:
        stop_server(proc)


def gunicorn(
    env: dict[str, str], port: int, log_path: Path, flags: Sequence[str] = ()
) -> AbstractContextManager[subprocess.Popen]:
    """config.wsgi under config/gunicorn.conf.py on 127.0.0.1:`port`, ready once the API answers."""
    conf, bind = str(ROOT / "config" / "gunicorn.conf.py"), f"127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "gunicorn", "-c", conf, "--bind", bind, *flags, "config.wsgi:application"]

    def answers() -> bool:
        client = Client(port, timeout=2)
        try:
            client.call("GET", "/api/v1/categories/")
            return True
        except BenchError:
            return False
        finally:
            client.close()

    return serve("gunicorn", cmd, env, log_path, answers)


def check_redis(url: str) -> None:
    """Fail early, and clearly, when the Redis the servers need does not answer."""
    client = redis.Redis.from_url(url, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {url} is not reachable ({exc})") from exc
    finally:
        client.close()
