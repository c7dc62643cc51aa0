"""A real Celery worker for the tests that need one (DESIGN §7: timers that survive a worker crash).

The worker is `celery -A config worker` in its own process group, reading the pytest-django
test database and the Redis of REDIS_URL, on a queue of its own: runs side by side on one
Redis never take each other's messages. Its log goes to a file and is printed at teardown,
which pytest shows only when the test failed.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import psycopg
import pytest
import redis
from celery import Task
from django.db import connection

from config.celery_app import app as celery_app
from dispatch import outbox, tasks

T = TypeVar("T")

CELERY = Path(sys.executable).parent / "celery"
# kombu's Redis transport keeps each delivered, unacknowledged message in this hash (by
# delivery tag) and the time it was delivered in this sorted set, until the ack.
UNACKED = "unacked"
UNACKED_INDEX = "unacked_index"
POLL_S = 0.05


@dataclass
class Worker:
    name: str
    process: subprocess.Popen
    log: Path

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def is_running(self) -> bool:
        return self.process.poll() is None

    def has_received(self, task_id: str) -> bool:
        """The worker took the task's message (celery logs it at INFO with the task's id)."""
        return f"[{task_id}] received" in self.logs()

    def has_run(self, task_id: str) -> bool:
        """The worker logged the task's success."""
        return f"[{task_id}] succeeded" in self.logs()

    def kill(self) -> None:
        """SIGKILL, as a crash or the OOM killer would: no warm shutdown, no message handed back."""
        if self.is_running():
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def wait_until(condition: Callable[[], T], *, what: str, timeout: float = 30.0, workers: tuple[Worker, ...] = ()) -> T:
    """Poll until the condition holds; fail with the workers' logs if it does not in time or a worker died."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        dead = [w for w in workers if not w.is_running()]
        if dead or time.monotonic() > deadline:
            why = f"worker {dead[0].name} exited" if dead else f"no success within {timeout:.0f} s"
            logs = "\n".join(f"--- {w.name} ---\n{w.logs()}" for w in workers)
            raise AssertionError(f"waiting for {what}: {why}\n{logs}")
        time.sleep(POLL_S)


def worker_database_url(worker_name: str) -> str:
    """The URL of the database the tests run in (pytest-django's test_… copy), for a worker process.

    The worker's sessions carry its name (application_name), so the test can tell them apart.
    """
    s = connection.settings_dict
    user = quote(s["USER"] or "", safe="") + (f":{quote(s['PASSWORD'], safe='')}" if s["PASSWORD"] else "")
    host = f"{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}"
    return f"postgres://{user}@{host}/{s['NAME']}?application_name={quote(worker_name, safe='')}"


def forget_queue(client: redis.Redis, queue: str) -> None:
    """Drop a queue's messages, waiting and unacknowledged, so no later worker restores them."""
    for tag, raw in client.hgetall(UNACKED).items():
        if json.loads(raw)[2] == queue:  # [message, exchange, routing key]
            client.zrem(UNACKED_INDEX, tag)
            client.hdel(UNACKED, tag)
    # Each worker binds its remote-control queue ("<name>@<host>.celery.pidbox"); a killed one never unbinds.
    pidbox = "_kombu.binding.celery.pidbox"
    stale = [member for member in client.smembers(pidbox) if f"\x06\x16{queue}-".encode() in member]
    if stale:
        client.srem(pidbox, *stale)
    priority_lists = [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]
    # The queue's exchange is named after it; its bindings live in these two sets.
    client.delete(queue, *priority_lists, f"_kombu.binding.{queue}", f"_kombu.binding_permanent.{queue}")


def unacked_delivery(client: redis.Redis, task_id: str) -> float | None:
    """When the task's message was delivered to a worker that has not acknowledged it, else None."""
    for tag, raw in client.hgetall(UNACKED).items():
        if json.loads(raw)[0]["headers"]["id"] == task_id:
            return client.zscore(UNACKED_INDEX, tag)
    return None


def is_queued(client: redis.Redis, queue: str, task_id: str) -> bool:
    """The task's message waits in the queue for a worker to take it."""
    return any(json.loads(raw)["headers"]["id"] == task_id for raw in client.lrange(queue, 0, -1))


@dataclass
class CeleryRig:
    """Workers on one queue of their own; the test process sends to that queue too."""

    queue: str
    redis_url: str
    logs_dir: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, *, redis_url: str | None = None, visibility_timeout_s: int | None = None) -> Worker:
        name = f"{self.queue}-{len(self.workers) + 1}"
        log = self.logs_dir / f"{name}.log"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": worker_database_url(name),
            "REDIS_URL": redis_url or self.redis_url,
            "CELERY_BROKER_URL": redis_url or self.redis_url,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "SWEEP_IN_PROCESS": "false",
            # Celery runs Django's system checks at worker start; the suite runs them once elsewhere.
            "CELERY_SKIP_CHECKS": "1",
            "PYTHONUNBUFFERED": "1",
        }
        if visibility_timeout_s is not None:
            env["CELERY_VISIBILITY_TIMEOUT_S"] = str(visibility_timeout_s)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "config",
                    "worker",
                    "--pool=solo",  # the task runs in the worker's own process: one kill stops it mid-task
                    "-Q",
                    self.queue,
                    "-n",
                    f"{name}@%h",
                    "-l",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=Path(__file__).resolve().parents[2],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, killed as one
            )
        worker = Worker(name=name, process=process, log=log)
        self.workers.append(worker)
        return worker

    def catch_up(self, worker: Worker, *, broker_url: str | None = None) -> None:
        """Wait until the worker has run everything sent so far (one task at a time, first in first out).

        Tasks sent after commit while the story was set up (an order placed sends auto-dispatch)
        lock the order too; a test that wants the worker to wait on a lock for one task lets
        those pass first. The marker changes nothing: no team's record moved.
        """
        # The setup's tasks leave from the outbox thread: with the broker before the marker.
        outbox.flush_outbox()
        marker = self.send(tasks.refresh_team_stats, broker_url=broker_url)
        wait_until(lambda: worker.has_run(marker), what=f"{worker.name} to catch up", workers=(worker,))

    def sessions_of(self, *workers: Worker) -> list[str]:
        """The database sessions these workers (all of this rig's, if none named) still have open."""
        names = [w.name for w in workers] or [w.name for w in self.workers]
        with connection.cursor() as cursor:
            cursor.execute("SELECT application_name FROM pg_stat_activity WHERE application_name = ANY(%s)", [names])
            return [name for (name,) in cursor.fetchall()]

    def send(self, task: Task, *args: Any, broker_url: str | None = None) -> str:
        """Send a task through the broker (never run here) and return its id."""
        if broker_url is None:
            return task.apply_async(args, queue=self.queue).id
        with celery_app.connection_for_write(broker_url) as conn:
            return task.apply_async(args, queue=self.queue, connection=conn).id


@pytest.fixture
def celery_rig(transactional_db, settings, tmp_path) -> Iterator[CeleryRig]:
    """Workers against the test database; torn down (killed) before the database is flushed."""
    queue = f"civic-test-{uuid.uuid4().hex[:12]}"
    redis_url = os.environ["REDIS_URL"]
    rig = CeleryRig(queue=queue, redis_url=redis_url, logs_dir=tmp_path)
    # Offer timers are sent after commit only when tasks are not eager (dispatch.services).
    settings.CELERY_TASK_ALWAYS_EAGER = False
    saved = celery_app.conf.task_always_eager, celery_app.conf.task_default_queue
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    # The app keeps its queues and router (app.amqp) from the conf of its first send; drop them
    # so the timers this process sends after commit go to this test's queue, then back.
    del celery_app.amqp
    try:
        yield rig
    finally:
        # What this process sent after commit goes to this test's queue, not the next one's.
        outbox.flush_outbox()
        for worker in rig.workers:
            worker.kill()
            print(f"--- {worker.name} (exit {worker.process.returncode}) ---\n{worker.logs()}")
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue = saved
        del celery_app.amqp
        client = redis.Redis.from_url(redis_url)
        forget_queue(client, queue)
        client.close()
        # The killed workers' database sessions must be gone before the flush and the final DROP DATABASE.
        wait_until(lambda: not rig.sessions_of(), what="the workers' database sessions to end", timeout=15)


class RowLock:
    """Another session's lock on one row: a writer that wants it waits until it is released."""

    def __init__(self, table: str, pk: int) -> None:
        s = connection.settings_dict
        self.conn = psycopg.connect(
            dbname=s["NAME"], user=s["USER"], password=s["PASSWORD"] or None, host=s["HOST"] or None, port=s["PORT"]
        )
        # The table name is a model's db_table, never input.
        self.conn.execute(f'SELECT 1 FROM "{table}" WHERE id = %s FOR UPDATE', [pk])
        self.pid = self.conn.info.backend_pid

    def sessions_waiting(self) -> list[str]:
        """The application names of the sessions blocked on this lock (pg_blocking_pids names the holder)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT application_name FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [self.pid]
            )
            return [name for (name,) in cursor.fetchall()]

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.rollback()
            self.conn.close()


@pytest.fixture
def lock_row() -> Iterator[Callable[[str, int], RowLock]]:
    locks: list[RowLock] = []

    def lock(table: str, pk: int) -> RowLock:
        locks.append(RowLock(table, pk))
        return locks[-1]

    yield lock
    for held in locks:
        held.release()


@pytest.fixture
def private_redis(tmp_path) -> Iterator[str]:
    """A Redis server of this test's own, for what would disturb a shared one (CLIENT PAUSE)."""
    server = shutil.which("redis-server")
    if not server:
        pytest.skip("needs redis-server on PATH to pause a Redis of the test's own")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"redis://127.0.0.1:{port}/0"

    def answers() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"redis-server on port {port} exited with {process.returncode}")
        # A connection of its own, closed at once: the test counts the server's clients.
        try:
            with redis.Redis.from_url(url, single_connection_client=True) as client:
                return bool(client.ping())
        except redis.ConnectionError:
            return False

    try:
        wait_until(answers, what="the private redis-server to answer", timeout=10)
        yield url
    finally:
        process.kill()
        process.wait(timeout=10)
