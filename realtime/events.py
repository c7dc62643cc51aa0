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
a few inserts and the commit (docs/stream.md, "Catch-up", has the measurement). Take no new row
lock after publishing in a transaction: PostgreSQL would detect the deadlock, but
one request would fail.
"""

import asyncio
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
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

# After a push fails, pushes are skipped this long (the log holds the events; clients catch up).
PAUSE_AFTER_FAILURE_S = 1.0


@dataclass(frozen=True, eq=False)
class _Logged:
    seq: int
    at: datetime
    names: list[str]
    message: dict[str, Any]
    # The savepoints open when it was logged: rolling any of them back takes the event back.
    savepoints: frozenset[str]


class _Pending(threading.local):
    """Events this thread has logged and not yet pushed, in seq order (its connection's transactions)."""

    def __init__(self) -> None:
        self.events: list[_Logged] = []
        self.paused_until = 0.0
        self.dropped = 0


_pending = _Pending()


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
        logged = _Logged(event.pk, at, names, message, frozenset(connection.savepoint_ids))
        _pending.events.append(logged)
        transaction.on_commit(lambda: _flush(logged), robust=True)
    return event


def event_message(event: Event) -> dict[str, Any]:
    return {"seq": event.pk, "type": event.type, "at": event.at.isoformat(), **event.payload}


def broadcast(groups: list[str], message: dict[str, Any]) -> None:
    """Send a message that is not logged (a statistics tick: the next one replaces it)."""
    _deliver([(groups, {"type": "stream.tick", "tick": message})])


def _lock_log() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [EVENT_LOG_LOCK])


def _flush(own: _Logged) -> None:
    """After a commit: push every event of this thread's that has committed, in one send.

    Each event's commit hook calls this; the first to run pushes the transaction's events
    together (an offer broadcast to ten teams is eleven events: one send, ahead of the
    Celery sends of the hooks after it), and the others find nothing left. Only events
    that committed are pushed: this one (its hook is running); the later ones of its
    transaction logged under no savepoint it was not itself under (a rollback that took
    one of them back would have taken this one too); any other only if the log holds it
    (a savepoint rolled back after this event, a transaction rolled back before it, or a
    transaction whose hooks failed before reaching its push). Normally there is no other.
    """
    # Stamped first, right after the commit, so a client can measure commit → receive; the log keeps no such field.
    sent_at = timezone.now().isoformat(timespec="microseconds")
    pending, _pending.events = _pending.events, []
    at = next((i for i, e in enumerate(pending) if e is own), None)
    if at is None:
        return  # pushed already, with an earlier event of its transaction
    unsure = [e for i, e in enumerate(pending) if i < at or (i > at and not e.savepoints <= own.savepoints)]
    if unsure:
        found = set(Event.objects.filter(pk__in=[e.seq for e in unsure]).values_list("pk", "at"))
        # By identity: a seq taken back by a rollback can be taken again (SQLite reuses rowids).
        gone = {id(e) for e in unsure if (e.seq, e.at) not in found}
        pending = [e for e in pending if id(e) not in gone]
    # Each event also goes to every stream process's listener (realtime.keeper), which keeps the
    # process's log tail whole from memory: a process hears only its connections' groups, and
    # the next event a connection heard would otherwise find a gap and read the log for it. A
    # channel in several groups gets one message; "groups" stays the event's own: what is sent
    # to a connection is filtered by them.
    _deliver(
        [
            (
                [*e.names, g.stream_log()],
                {"type": "stream.event", "event": {**e.message, "sent_at": sent_at}, "groups": e.names},
            )
            for e in pending
        ]
    )


def _deliver(sends: list[tuple[list[str], dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None or not sends:
        return
    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the consumers' event loop in this process; putting is instant.
        try:
            async_to_sync(_group_send_each)(layer, sends)
        except Exception:
            logger.warning("could not push to the in-memory channel layer", exc_info=True)
        return
    if time.monotonic() < _pending.paused_until:
        _pending.dropped += len(sends)
        return  # Redis failed a moment ago: do not make every request wait on it again
    timeout = settings.STREAM_PUSH_TIMEOUT_SECONDS
    try:
        batch = getattr(layer, "group_send_batch_sync", None)
        if batch is not None:
            # The fast path's layer (realtime/layers.py): two round trips for all, each command bounded.
            batch(sends, timeout=timeout)
        else:
            # Any other layer, channels_redis's own included: its public group_send, bounded as a whole.
            async_to_sync(_group_send_within)(layer, sends, timeout)
    except Exception:
        _pending.dropped += len(sends)
        _pending.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_S
        logger.warning(
            "could not push %s events to the channel layer; clients will catch up", len(sends), exc_info=True
        )


async def _group_send_within(layer: Any, sends: list[tuple[list[str], dict[str, Any]]], timeout: float) -> None:
    await asyncio.wait_for(_group_send_each(layer, sends), timeout)


async def _group_send_each(layer: Any, sends: list[tuple[list[str], dict[str, Any]]]) -> None:
    for names, message in sends:
        for name in names:
            await layer.group_send(name, message)
