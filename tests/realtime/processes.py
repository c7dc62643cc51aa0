"""Real daphne and redis-server processes for the cross-process stream tests."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connection

from realtime.client import StreamClient

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = Path(sys.executable).with_name("daphne")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition: Callable[[], Any], timeout: float = 20, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_database_url() -> str:
    """The test database this process made, for the servers to share (its rows must be committed)."""
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{s['NAME']}"
    return f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


def _log_for(name: str) -> Any:
    """STREAM_TEST_LOGS=<dir> keeps the servers' logs, for when a test fails."""
    logs = os.environ.get("STREAM_TEST_LOGS")
    # Left open on purpose: the server writes to it for as long as it runs.
    return open(Path(logs) / f"{name}.log", "ab") if logs else subprocess.DEVNULL  # noqa: SIM115


def start_daphne(port: int, redis_url: str | None, **extra: str) -> subprocess.Popen:
    """daphne serving the whole site on the test database; without `redis_url`, the in-memory layer."""
    env = {
        **{k: v for k, v in os.environ.items() if k != "REDIS_URL"},
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": test_database_url(),
        **({"REDIS_URL": redis_url} if redis_url else {}),
        **extra,
    }
    process = subprocess.Popen(
        [str(DAPHNE), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=_log_for(f"daphne-{port}"),
    )
    wait_until(lambda: process.poll() is not None or port_open(port), what=f"daphne on port {port}")
    assert process.poll() is None, f"daphne on port {port} exited with {process.returncode}"
    return process


def start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_until(lambda: process.poll() is not None or port_open(port), what=f"redis-server on port {port}")
    assert process.poll() is None, f"redis-server on port {port} exited with {process.returncode}"
    return process


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def api_post(port: int, path: str, token: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text or b"{}")
        except ValueError:
            return error.code, {"body": text.decode(errors="replace")[:500]}


class Listener:
    """The reference client (realtime.client) running in a thread, keeping what it receives."""

    def __init__(self, port: int, token: str, after: int | None = None) -> None:
        self.messages: list[dict] = []
        self.client = StreamClient(
            f"ws://127.0.0.1:{port}/ws/v1/stream/",
            token,
            after=after,
            on_message=self.messages.append,
            first_delay=0.1,
            max_delay=1.0,
            idle_timeout=30,
        )
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self._loop.run_until_complete(self.client.run(self._stop))

    def __enter__(self) -> "Listener":
        self._thread.start()
        wait_until(lambda: self.client.last_seq is not None, what="the client's first heartbeat")
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def events(self) -> list[dict]:
        return [m for m in list(self.messages) if "seq" in m]

    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.events()]
