"""What a stream process does once for all its connections instead of once per connection.

A daphne process serves hundreds of connections and runs every database call on one
thread (`database_sync_to_async`), so work repeated per connection queues up behind
itself and delays every delivery (bench/push.py measured 4–5 ms of CPU per delivery and
seconds of delay when each connection re-read its rights at each heartbeat). Here:

* `rights` batches rights reads: the connections that ask in the same moment (a burst
  of connects, a reconnect storm) share one read of four queries
  (`groups.stream_rights_of`).
* `fanout` is one channel per process in every group its connections hear: the channel
  layer carries one copy of a group's message to each process instead of one to each
  connection, and the process hands it to that group's connections in memory. With the
  Redis core layer every copy costs its own round trips (stored, popped one at a time,
  backed up and cleaned: four each), so a broadcast to ten teams cost about forty per
  process one after another, and its last delivery waited for all of them.
* `keeper` is one task per process (per event loop, while it has connections) that once
  a heartbeat period refreshes the log tail — the heartbeats then deliver a lost push
  from memory, without a query — and every RIGHTS_CHECK_BEATS periods re-reads the
  rights of every connected user in one read, for changes that come without an event
  (the admin ends a membership or deactivates a user). Changes made through the
  services send an event and take effect at once (`consumers.RIGHTS_CHANGED`).
"""

import asyncio
import contextlib
import logging
import random
import time
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from . import groups as g
from .log import tail

logger = logging.getLogger(__name__)

# Heartbeat periods between two refreshes of the log tail, and between two rights checks:
# an admin edit takes effect within RIGHTS_CHECK_BEATS × STREAM_HEARTBEAT_SECONDS (±20 %).
TAIL_REFRESH_BEATS = 1
RIGHTS_CHECK_BEATS = 10

# The Redis layer forgets a group membership after a day (group_expiry): join again well before.
GROUP_RENEW_SECONDS = 3600.0

_read_rights = database_sync_to_async(g.stream_rights_of)


class Member(Protocol):
    """A stream connection, as the keeper and the fan-out see it."""

    user_id: int

    async def apply_rights(self, rights: g.StreamRights | None, read_at: float) -> None: ...

    async def stream_event(self, message: dict[str, Any]) -> None: ...

    async def stream_tick(self, message: dict[str, Any]) -> None: ...

    async def close(self, code: int | None = None) -> None: ...

    async def layer_lost(self) -> None: ...


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
                await fanout.renew()
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


class Fanout:
    """One channel per process (per event loop) in the groups its connections hear.

    Each message the layer brings is handed to the connections in the group it was sent
    to (`events` names it in the message), each in its own task: tasks start in the order
    they are made and a connection sends under a first-come lock, so its messages keep
    their order. What a connection may send is still decided by the connection
    (`StreamConsumer.stream_event`: seq, log and rights), as when each had its own channel.
    """

    HANDLERS = {"stream.event": "stream_event", "stream.tick": "stream_tick"}

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._clear()

    def _clear(self) -> None:
        self._channel: str | None = None
        self._task: asyncio.Task | None = None
        self._hears: dict[Member, frozenset[str]] = {}
        self._members: dict[str, dict[Member, None]] = {}  # group → its connections here (ordered set)
        self._joined: dict[str, float] = {}  # groups the channel is in → when it joined (monotonic)

    def _here(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._lock is None:
            # A channel, its task and lock belong to one event loop (tests run several in turn).
            self._loop, self._lock = loop, asyncio.Lock()
            self._clear()
        return self._lock

    def _assign(self, member: Member, names: frozenset[str]) -> frozenset[str]:
        before = self._hears.pop(member, frozenset())
        if names:
            self._hears[member] = names
        for name in before - names:
            self._members.get(name, {}).pop(member, None)
        for name in names - before:
            self._members.setdefault(name, {})[member] = None
        return before

    async def hear(self, member: Member, names: frozenset[str]) -> None:
        """From now on hand `member` the messages of the groups `names` (and no others).

        Returns once the channel is in all of them, so the connection reads the log after
        joining, as with a channel of its own. If the layer fails, `member` keeps what it heard.
        """
        async with self._here():
            before = self._assign(member, names)
            layer = get_channel_layer()
            try:
                if self._channel is None:
                    channel = await layer.new_channel()
                    self._channel, self._joined = channel, {}
                    self._task = asyncio.get_running_loop().create_task(self._receive(layer, channel))
                for name in names:
                    if name not in self._joined:
                        await layer.group_add(name, self._channel)
                        self._joined[name] = time.monotonic()
            except Exception:
                self._assign(member, before)
                raise
            await self._leave_unheard(layer, before - names)

    async def leave(self, member: Member) -> None:
        """Hand `member` nothing more; the channel leaves groups no connection here hears."""
        async with self._here():
            names = self._assign(member, frozenset())
            await self._leave_unheard(get_channel_layer(), names)
            if not self._hears:
                if self._task is not None:
                    self._task.cancel()
                self._clear()

    async def renew(self) -> None:
        """Join again the groups joined GROUP_RENEW_SECONDS ago, before the layer forgets them."""
        async with self._here():
            if self._channel is None:
                return
            layer = get_channel_layer()
            for name, at in list(self._joined.items()):
                if time.monotonic() - at > GROUP_RENEW_SECONDS:
                    await layer.group_add(name, self._channel)
                    self._joined[name] = time.monotonic()

    async def _leave_unheard(self, layer: Any, names: frozenset[str]) -> None:
        for name in names:
            if self._members.get(name):
                continue
            self._members.pop(name, None)
            if self._joined.pop(name, None) is not None and self._channel is not None:
                try:
                    await layer.group_discard(name, self._channel)
                except Exception:
                    # Redis is away; the membership expires by itself (group_expiry).
                    logger.info("could not leave group %s", name)

    async def _receive(self, layer: Any, channel: str) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                message = await layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                await self._lost(channel)
                return
            handler = self.HANDLERS.get(message.get("type", ""))
            if handler is None:
                continue
            # A copy that does not say its group (a sender of an older release, during a deploy)
            # goes to the connections of all its groups: a second copy of an event is dropped
            # by its seq, as before.
            names = [message["group"]] if "group" in message else message.get("groups", [])
            members: dict[Member, None] = {}
            for name in names:
                members.update(self._members.get(name, {}))
            for member in members:
                loop.create_task(self._hand(member, handler, message))

    async def _lost(self, channel: str) -> None:
        """Redis is away. As when each connection's own receive failed: the connections close,
        so the phones reconnect (and so join again) and catch up from the log."""
        logger.warning("stream fan-out: the channel layer failed; closing this process's connections")
        async with self._here():
            if self._channel != channel:
                return
            members = list(self._hears)
            self._clear()
        for member in members:
            with contextlib.suppress(Exception):
                await member.layer_lost()

    async def _hand(self, member: Member, handler: str, message: dict[str, Any]) -> None:
        try:
            await getattr(member, handler)(message)
        except Exception:
            # What a consumer's own failing handler did: log it and close that connection.
            logger.exception("stream fan-out: %s failed", handler)
            with contextlib.suppress(Exception):
                await member.close(code=1011)


rights = Rights()
keeper = Keeper()
fanout = Fanout()
