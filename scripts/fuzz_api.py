"""make fuzz: schemathesis against the API's own schema, on a live server, once for each role.

A fresh database (SQLite by default; a `<name>_fuzz` database beside DATABASE_URL's on
PostgreSQL) gets the demo district; daphne serves it with DEBUG off and the rate limits raised
so that no write is hidden behind a 429; then schemathesis runs every operation as the
citizen, an institute's dispatcher, the center's dispatcher, a team leader and an anonymous
client, with a fixed seed and a bounded number of examples. It fails on any server error,
any answer that does not match the schema, and any status code the schema does not list.

    python scripts/fuzz_api.py [--max-examples N] [--seed S] [--role NAME ...]
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"
SUMMARY_LINES = 30

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
import django  # noqa: E402

django.setup()
from dispatch.demo import CITIZEN_PHONE, DEMO_PASSWORD, DISPATCHER_PHONE, leader_phone  # noqa: E402

# The roles of the issue, each as the phone it signs in with (None: anonymous).
ROLES = {
    "citizen": CITIZEN_PHONE,
    "institute-dispatcher": "13900000001",
    "center-dispatcher": DISPATCHER_PHONE,
    "team-leader": leader_phone(1),
    "anonymous": None,
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fuzz_database(tmp: Path) -> str:
    """A fresh, empty database for this run, of the kind DATABASE_URL names."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        return f"sqlite:///{tmp / 'fuzz.sqlite3'}"
    import psycopg

    parts = urlparse(url)
    name = f"{parts.path.lstrip('/') or 'civic'}_fuzz"
    with psycopg.connect(urlunparse(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(parts._replace(path=f"/{name}"))


def server_env(database_url: str, tmp: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.local",
        "DJANGO_DEBUG": "false",
        "DATABASE_URL": database_url,
        # daphne serves HTTP here (production puts gunicorn in front of the API); under ASGI each
        # request's view may run on a thread of its own, so a kept connection would outlive it.
        "DATABASE_CONN_MAX_AGE": "0",
        "MEDIA_ROOT": str(tmp / "media"),
        "STATIC_ROOT": str(tmp / "static"),
        # Throttling must not hide the write endpoints from the fuzzer.
        "THROTTLE_AUTH": "100000/min",
        "THROTTLE_ORDER_PLACE": "100000/min",
        "THROTTLE_VERIFY": "100000/min",
        "THROTTLE_MESSAGE": "100000/min",
        "THROTTLE_COMMENT": "100000/min",
        "THROTTLE_LIKE": "100000/min",
        "THROTTLE_VOTE": "100000/min",
        # Timers run in the server's process: nothing is left queued in a shared broker.
        "CELERY_TASK_ALWAYS_EAGER": "true",
        "SWEEP_IN_PROCESS": "false",
        "LOG_LEVEL": "ERROR",
    }
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def wait_for(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url} within {timeout:.0f} s")


def token(base: str, phone: str) -> str:
    body = json.dumps({"phone": phone, "password": DEMO_PASSWORD}).encode()
    request = urllib.request.Request(
        f"{base}/api/v1/auth/token/", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["token"]


def fuzz_command(base: str, role: str, phone: str | None, args: argparse.Namespace) -> list[str]:
    headers = ["-H", f"Authorization: Token {token(base, phone)}"] if phone else []
    return [
        str(BIN / "schemathesis"),
        "run",
        f"{base}/api/schema/",
        "--checks",
        CHECKS,
        "--max-examples",
        str(args.max_examples),
        "--seed",
        str(args.seed),
        "--workers",
        "1",
        "--phases",
        "examples,coverage,fuzzing",
        "--suppress-health-check",
        "all",
        "--no-color",
        "--report",
        "junit",
        "--report-junit-path",
        str(args.reports / f"{role}.xml"),
        *headers,
    ]


def fuzz_all(base: str, roles: list[str], args: argparse.Namespace) -> dict[str, bool]:
    """Run the roles two at a time (one per core); print each role's whole output when it ends."""
    waiting = [(role, fuzz_command(base, role, ROLES[role], args)) for role in roles]
    running: list[tuple[str, subprocess.Popen, float]] = []
    results = {}
    while waiting or running:
        while waiting and len(running) < args.parallel:
            role, command = waiting.pop(0)
            log = (args.reports / f"{role}.log").open("w+")
            process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
            running.append((role, process, time.monotonic()))
        for entry in list(running):
            role, process, started = entry
            if process.poll() is None:
                continue
            running.remove(entry)
            results[role] = process.returncode == 0
            print(f"\n==== schemathesis as {role} ====")
            print((args.reports / f"{role}.log").read_text(errors="replace"))
            print(
                f"---- {role}: {'clean' if results[role] else 'FAILED'} in {time.monotonic() - started:.0f} s",
                flush=True,
            )
        time.sleep(0.2)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("FUZZ_MAX_EXAMPLES", 6)))
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", 2026)))
    parser.add_argument("--role", action="append", choices=sorted(ROLES), help="only these roles (default: all)")
    parser.add_argument("--parallel", type=int, default=2, help="roles fuzzed at once")
    parser.add_argument("--reports", type=Path, default=ROOT / "fuzz-reports", help="JUnit reports, one per role")
    args = parser.parse_args()
    args.reports.mkdir(parents=True, exist_ok=True)

    tmp = Path(tempfile.mkdtemp(prefix="civic-fuzz-"))
    env = server_env(fuzz_database(tmp), tmp)
    started = time.monotonic()
    print("==== preparing the fuzz database (migrate, demo district) ====", flush=True)
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--orders", "40")
    print(f"ready in {time.monotonic() - started:.0f} s", flush=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # The server's access log and warnings go to a file of their own, beside the reports.
    server_log = (args.reports / "server.log").open("wb")
    server = subprocess.Popen(
        [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=server_log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for(f"{base}/api/v1/categories/", server)
        results = fuzz_all(base, args.role or list(ROLES), args)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)
    failed = [role for role, ok in results.items() if not ok]
    print(
        f"\nfuzz: {len(results) - len(failed)} passed, {len(failed)} failed"
        + (f" ({', '.join(failed)})" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
