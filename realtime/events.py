"""The event bus: log each event durably with the change, send it after commit.

Ordering (what makes catch-up exactly-once). `seq` is the log row's primary key. On
PostgreSQL a sequence value is taken when the row is inserted, but the row becomes
visible when its transaction commits, so without care seq 10 can be visible while
seq 9 is still uncommitted; a client that resumed from 10 would never see 9. So
`publish` takes one transaction-level advisory lock before inserting: every
transaction that logs an event holds it from its first event to its commit, hence
seqs are taken in commit order and *once a seq is visible, every lower seq is
committed or will never exist*. Readers (`realtime.log`) rely on exactly that.
SQLite needs nothing: it has one writer at a time (IMMEDIATE transactions).

The cost is that event-writing transactions commit one at a time from their first
`publish` on; services publish at the end of their work, so the lock is held for
a few inserts and the commit (see the README for the measurement). Take no new row
lock after publishing in a transaction: PostgreSQL would detect the deadlock, but
one request would fail.
"""

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from . import groups as g
from .models import Event

logger = logging.getLogger(__name__)

# Any fixed 64-bit number that no other code uses as an advisory lock key ("civicevt").
EVENT_LOG_LOCK = 0x6369766963657674


def publish(groups: list[str], type: str, payload: dict[str, Any], *, order_id: int | None = None) -> Event:
    """Append an event to the log inside the caller's transaction and send it once that commits.

    The payload is serialized here, so a payload that cannot be JSON fails where it was made.
    """
    at = timezone.now()
    body = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    names = g.dedupe(groups)
    # savepoint=False: inside the service's transaction this costs no SQL; called in
    # autocommit it still keeps the lock and the insert in one transaction.
    with transaction.atomic(savepoint=False):
        _lock_log()
        event = Event.objects.create(type=type, groups=names, order_id=order_id, payload=body, at=at)
    message = {"seq": event.pk, "type": type, "at": at.isoformat(), **body}
    transaction.on_commit(lambda: _send(names, message))
    return event


def event_message(event: Event) -> dict[str, Any]:
    return {"seq": event.pk, "type": event.type, "at": event.at.isoformat(), **event.payload}


def broadcast(groups: list[str], message: dict[str, Any]) -> None:
    """Send a message that is not logged (a statistics tick: the next one replaces it)."""
    _deliver(groups, {"type": "stream.tick", "tick": message})


def _lock_log() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOG_LOCK])


def _send(names: list[str], message: dict[str, Any]) -> None:
    # Stamped here, after commit, so a client can measure commit → receive; the log keeps no such field.
    live = {**message, "sent_at": timezone.now().isoformat(timespec="microseconds")}
    _deliver(names, {"type": "stream.event", "event": live, "groups": names})


def _deliver(names: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the consumers' event loop in this process; putting is instant.
        try:
            async_to_sync(_group_send)(layer, names, message)
        except Exception:
            logger.warning("could not push %s to the in-memory channel layer", message["type"], exc_info=True)
        return
    _sender.submit(layer, names, message)


async def _group_send(layer: Any, names: list[str], message: dict[str, Any]) -> None:
    many = getattr(layer, "group_send_many", None)
    if many is not None:
        # The Redis layer (realtime/layers.py): two round trips for all the groups, and a
        # channel in several of them gets the message once.
        await many(names, message)
        return
    for name in names:
        await layer.group_send(name, message)


class _Sender:
    """One long-lived event loop per process that pushes to Redis in the background.

    The request that committed never waits for Redis: `submit` only queues. The Redis
    layer pools its connections per event loop, so one kept loop keeps its connections
    (an `async_to_sync` loop per event measured 37 ms for 6 groups, under 1 ms here).
    One queue drained in order keeps this process's events in seq order. When Redis
    fails, messages are dropped for a short while instead of piling up: the log holds
    them and clients catch up from it (heartbeat or reconnect).
    """

    QUEUE_MAX = 10_000
    PAUSE_AFTER_FAILURE_S = 1.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._pid = 0
        self._paused_until = 0.0
        self.dropped = 0

    def submit(self, layer: Any, names: list[str], message: dict[str, Any]) -> None:
        loop = self._ensure_loop()
        loop.call_soon_threadsafe(self._enqueue, layer, names, message)

    def _enqueue(self, layer: Any, names: list[str], message: dict[str, Any]) -> None:
        try:
            self._queue.put_nowait((layer, names, message))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _drain(self) -> None:
        while True:
            layer, names, message = await self._queue.get()
            if time.monotonic() < self._paused_until:
                self.dropped += 1
                continue
            try:
                await asyncio.wait_for(_group_send(layer, names, message), settings.STREAM_PUSH_TIMEOUT_SECONDS)
            except Exception:
                self.dropped += 1
                self._paused_until = time.monotonic() + self.PAUSE_AFTER_FAILURE_S
                logger.warning("could not push %s to the channel layer; clients will catch up", message["type"])

    def close(self) -> None:
        """Stop the sending thread (tests; a process's own sender lives as long as the process)."""
        with self._lock:
            if self._loop is not None and self._pid == os.getpid():
                asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=5)
                self._thread.join(timeout=5)
                self._loop.close()
            self._loop = None

    async def _stop(self) -> None:
        self._drainer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wrap_future(self._drainer)
        asyncio.get_running_loop().call_soon(asyncio.get_running_loop().stop)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            # A forked worker (gunicorn) inherits no running thread: start its own.
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                self._queue = asyncio.Queue(self.QUEUE_MAX)
                self._loop, self._pid = loop, os.getpid()
                self._thread = threading.Thread(target=loop.run_forever, name="channel-layer-sender", daemon=True)
                self._thread.start()
                self._drainer = asyncio.run_coroutine_threadsafe(self._drain(), loop)
            return self._loop


_sender = _Sender()
