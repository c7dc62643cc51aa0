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
"""

import asyncio
import logging
import random
import time
from typing import Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from . import groups as g
from .log import tail

logger = logging.getLogger(__name__)

# Heartbeat periods between two refreshes of the log tail, and between two rights checks:
# an admin edit takes effect within RIGHTS_CHECK_BEATS × STREAM_HEARTBEAT_SECONDS (±20 %).
TAIL_REFRESH_BEATS = 1
RIGHTS_CHECK_BEATS = 10

_read_rights = database_sync_to_async(g.stream_rights_of)


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
        self._members: dict[Member, None] = {}  # insertion-ordered set
        self._task: asyncio.Task | None = None

    def join(self, member: Member) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop, self._members, self._task = loop, {}, None
        self._members[member] = None
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())

    def leave(self, member: Member) -> None:
        self._members.pop(member, None)
        if not self._members and self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        beats = 0
        while True:
            await asyncio.sleep(settings.STREAM_HEARTBEAT_SECONDS * random.uniform(0.8, 1.2))
            beats += 1
            try:
                if beats % TAIL_REFRESH_BEATS == 0:
                    await tail.refresh()
                if beats % RIGHTS_CHECK_BEATS == 0:
                    await self.check_rights()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database is away: the connections keep their rights until the next check.
                logger.warning("stream keeper: could not refresh", exc_info=True)

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
