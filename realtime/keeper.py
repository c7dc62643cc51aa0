"""What a stream process does once for all its connections instead of once per connection.

A daphne process serves hundreds of connections and runs every database call on one
thread (`database_sync_to_async`), so work repeated per connection queues up behind
itself and delays every delivery (bench/push.py measured 4–5 ms of CPU per delivery and
seconds of delay when each connection re-read its rights at each heartbeat). Here:

* `rights` batches rights reads: the connections that ask in the same moment (a burst
  of connects, a reconnect storm) share one read of four queries
  (`groups.stream_rights_of`).
* `keeper` is one task per process (per event loop, while it has connections) that once
  a heartbeat period refreshes the log tail — the heartbeats then deliver a lost push
  from memory, without a query — and every RIGHTS_CHECK_BEATS periods re-reads the
  rights of every connected user in one read, for changes that come without an event
  (the admin ends a membership or deactivates a user). Changes made through the
  services send an event and take effect at once (`consumers.RIGHTS_CHANGED`).
* the listener: one channel per process in the `stream.log` group, which every logged
  event is sent to (`realtime.events`), so the log tail grows from memory with every
  event, including those none of the process's connections hear. Without it, the next
  event a connection heard found a gap and the process read the log for it: once per
  dispatch and process in bench/push.py (the order's event goes to dispatchers only),
  4.5 ms at the median and 13 ms at p99, while every delivery of the process waited. A
  push lost or out of order still finds its gap in the log, as before. The listener only
  offers the event to the tail: it sends nothing to anyone.
* the garbage collector: CPython's full collection walks every tracked object, and a
  stream process holds a great many that live as long as the process or a connection.
  bench/push.py, 1 000 clients on two daphne, each process about 232 000 objects with
  500 connections: one full collection in each process during every run, 148–171 ms
  with the event loop stopped, and that was the run's max (165–245 ms) every time.
  `prepare_process` freezes what the process built at startup (about 112 000 objects:
  Django, the app) and the keeper freezes the connections' objects once they have joined
  (about 120 each), so full collections walk only what came since. A frozen connection
  that closes stays uncollected (daphne's, Twisted's and autobahn's objects of a
  connection hold each other in cycles: about 106 objects each); the keeper counts them
  and collects them all at once when they are as many as the frozen connections still
  open (at least THAW_MIN_CLOSED), or when the last connection leaves: one full
  collection then (156–191 ms measured with 500 connections), once per that many closes
  instead of every half minute of traffic.
"""

import asyncio
import contextlib
import gc
import logging
import random
import time
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from . import groups as g
from .log import live_row, tail

logger = logging.getLogger(__name__)

# Heartbeat periods between two refreshes of the log tail, and between two rights checks:
# an admin edit takes effect within RIGHTS_CHECK_BEATS × STREAM_HEARTBEAT_SECONDS (±20 %).
TAIL_REFRESH_BEATS = 1
RIGHTS_CHECK_BEATS = 10

# A freeze follows the first join not yet frozen by this long, so a burst of connects (a
# server start, a reconnect storm) costs one freeze, not one per connection.
FREEZE_AFTER_JOIN_SECONDS = 2.0
# Frozen connections that have closed, uncollected, before they are collected all at once
# (the floor keeps a small process from paying a full collection every few closes).
THAW_MIN_CLOSED = 100
# daphne lets a closed connection's objects go within about a second (its application checker).
THAW_AFTER_LEAVE_SECONDS = 2.0
# The young generations' thresholds (CPython's: 700, 10, 10). Between two of its messages a
# connection keeps its pending receives (Channels' tasks, their coroutines and futures: some
# 30 000 objects in a process with 500 connections under bench/push.py's load), so each
# collection of generation 1 walked them: 11 in 37 s per process, 5–35 ms each, and 120 of
# the 124 slowest deliveries (the top 1 %) overlapped one. A hundred generation-0
# collections per generation-1 one (about 35 s at that load) keep the 0.3–1 ms collections
# of generation 0 as they were.
GC_THRESHOLDS = (700, 100, 10)

# The Redis layer forgets a group membership after a day (group_expiry): as the connections
# do (consumers.GROUP_RENEW_SECONDS), the listener joins again well before.
LISTENER_RENEW_SECONDS = 3600.0
# After the layer failed (Redis away), the listener tries again after this long; meanwhile
# the gaps are read from the log.
LISTENER_RETRY_SECONDS = 1.0

_read_rights = database_sync_to_async(g.stream_rights_of)


def prepare_process() -> None:
    """Set a stream process's collector up: called once, after the application is built (config/asgi.py)."""
    gc.set_threshold(*GC_THRESHOLDS)
    # What exists now lives as long as the process: no collection need walk it again.
    gc.freeze()


class Member(Protocol):
    """A stream connection, as the keeper sees it."""

    user_id: int

    async def apply_rights(self, rights: g.StreamRights | None, read_at: float) -> None: ...


class Rights:
    """Rights reads that arrive together share one database read."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, list[asyncio.Future]] = {}
        self._scheduled = False
        self._lock: asyncio.Lock | None = None
        self.reads = 0  # database reads so far (tests)

    async def read(self, user_id: int) -> tuple[g.StreamRights | None, float]:
        """The user's rights (None: gone or deactivated) and the monotonic time their read began.

        The time lets a connection ignore a read older than the one it already applied.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # Futures and locks belong to one event loop (tests run several in turn).
            self._loop, self._pending, self._scheduled, self._lock = loop, {}, False, asyncio.Lock()
        future = loop.create_future()
        self._pending.setdefault(user_id, []).append(future)
        if not self._scheduled:
            self._scheduled = True
            loop.create_task(self._read_batch())
        return await future

    async def _read_batch(self) -> None:
        assert self._lock is not None
        # One read at a time: whoever asks while one is under way waits for the next, together.
        async with self._lock:
            self._scheduled = False
            pending, self._pending = self._pending, {}
            started = time.monotonic()
            try:
                self.reads += 1
                found = await _read_rights(list(pending))
            except Exception as exc:
                for futures in pending.values():
                    for future in futures:
                        if not future.done():
                            future.set_exception(exc)
                return
            for user_id, futures in pending.items():
                for future in futures:
                    if not future.done():  # the connection may have closed meanwhile
                        future.set_result((found.get(user_id), started))


class Keeper:
    """One task per process that keeps the shared state fresh for all its connections."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._members: dict[Member, bool] = {}  # insertion-ordered; the value: frozen already
        self._task: asyncio.Task | None = None
        self._freezing: asyncio.TimerHandle | None = None
        self._thawing: asyncio.TimerHandle | None = None
        self._listener: asyncio.Task | None = None
        self.listening: str | None = None  # the listener's channel, once in the group
        self._listening_since = 0.0
        self.frozen_open = 0  # members frozen and still open
        self.frozen_closed = 0  # members frozen, then closed: not collected until the next thaw
        self.thaws = 0  # (tests)

    def join(self, member: Member) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._members, self._task, self._freezing, self._thawing = loop, {}, None, None, None
            self._listener, self.listening = None, None
            self.frozen_open = self.frozen_closed = 0
        self._members[member] = False
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        if self._listener is None or self._listener.done():
            self._listener = loop.create_task(self._listen())
        if self._freezing is None:
            self._freezing = loop.call_later(FREEZE_AFTER_JOIN_SECONDS, self._freeze)

    def leave(self, member: Member) -> None:
        if self._members.pop(member, False):
            self.frozen_open -= 1
            self.frozen_closed += 1
        if not self._members and self._task is not None:
            self._task.cancel()
            self._task = None
        if not self._members and self._listener is not None:
            self._listener.cancel()
            self._listener = None
        if (
            self.frozen_closed
            and self._thawing is None
            and (not self._members or self.frozen_closed >= max(THAW_MIN_CLOSED, self.frozen_open))
        ):
            # Not at once: the connection that leaves is still referenced until daphne lets it go.
            self._thawing = asyncio.get_running_loop().call_later(
                THAW_AFTER_LEAVE_SECONDS, self._thaw, self.frozen_closed
            )

    def _freeze(self) -> None:
        """Move the connections' objects (and all else alive) out of the collected generations."""
        self._freezing = None
        # The young generations' garbage first, or the freeze would keep it until the next thaw.
        gc.collect(1)
        gc.freeze()
        for member in self._members:
            self._members[member] = True
        self.frozen_open = len(self._members)

    def _thaw(self, closed: int) -> None:
        """Collect the frozen connections that have closed: one full collection, then freeze again."""
        self._thawing = None
        started = time.monotonic()
        gc.unfreeze()
        found = gc.collect()
        gc.freeze()
        for member in self._members:
            self._members[member] = True
        # Those that closed since this thaw was set may still have been referenced: counted again.
        self.frozen_open, self.frozen_closed = len(self._members), self.frozen_closed - closed
        self.thaws += 1
        logger.info(
            "stream keeper: collected %s objects of %s closed connections in %.0f ms",
            found,
            closed,
            (time.monotonic() - started) * 1e3,
        )

    async def _run(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(settings.STREAM_HEARTBEAT_SECONDS * random.uniform(0.8, 1.2))
            beats += 1
            try:
                await self._renew_listening()
                if beats % TAIL_REFRESH_BEATS == 0:
                    await tail.refresh()
                if beats % RIGHTS_CHECK_BEATS == 0:
                    await self.check_rights()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is away: the connections keep their rights until the next check.
                logger.warning("stream keeper: could not refresh", exc_info=True)

    async def _listen(self) -> None:
        """Offer every logged event to the log tail, as it comes. Nothing here sends to a client."""
        layer = get_channel_layer()
        if layer is None:
            return
        while True:
            channel = None
            try:
                channel = await layer.new_channel()
                await layer.group_add(g.stream_log(), channel)
                self.listening, self._listening_since = channel, time.monotonic()
                take = getattr(layer, "take", None)
                if take is not None:
                    # In the reader, in order, before the connections of the same batch are offered
                    # theirs (consumers.StreamConsumer._take_live): their gap checks need it.
                    take(channel, _offer_to_tail)
                while True:
                    message = await layer.receive(channel)
                    if message.get("type") == "stream.event":
                        tail.offer(live_row(message)[0])
            except asyncio.CancelledError:
                if channel is not None:
                    self.listening = None
                    with contextlib.suppress(Exception):
                        await layer.group_discard(g.stream_log(), channel)
                raise
            except Exception:
                logger.warning("stream keeper: the listener lost the channel layer; gaps are read from the log")
                self.listening = None
                await asyncio.sleep(LISTENER_RETRY_SECONDS)

    async def _renew_listening(self) -> None:
        if self.listening is not None and time.monotonic() - self._listening_since > LISTENER_RENEW_SECONDS:
            await get_channel_layer().group_add(g.stream_log(), self.listening)
            self._listening_since = time.monotonic()

    async def check_rights(self) -> None:
        """Re-read every connected user's rights in one read and hand each connection its own."""
        members = list(self._members)
        if not members:
            return
        started = time.monotonic()
        found = await _read_rights({m.user_id for m in members})
        for member in members:
            if member in self._members:
                try:
                    await member.apply_rights(found.get(member.user_id), started)
                except Exception:
                    # Redis is away for this one's group changes; the filter already holds.
                    logger.warning("stream keeper: could not apply rights", exc_info=True)


rights = Rights()
keeper = Keeper()


def _offer_to_tail(message: dict[str, Any]) -> bool:
    """The listener's work, done in the channel layer's reader (realtime/layers.py, `take`)."""
    if message.get("type") == "stream.event":
        tail.offer(live_row(message)[0])
    return True
