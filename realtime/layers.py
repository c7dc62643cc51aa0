"""The Redis channel layer: a connection pool that waits, and one send to many groups.

channels_redis builds redis-py's plain asyncio pool, which raises MaxConnectionsError at
once when a command finds all `max_connections` (default 100) in use. One daphne process
holds hundreds of stream connections, and they join or leave their groups together (a
server start, a network drop, a shutdown): bench/push.py logged about a thousand such
errors at teardown, and every failed leave kept a dead channel in its group for a day.
BlockingConnectionPool takes the same options, plus `timeout`: how long a command waits
for a connection before failing. Settings: config/settings/base.py, CHANNEL_LAYERS.

An event goes to several groups (an offer: its team and three units). channels_redis's
`group_send` costs about four Redis round trips per group, one group after another, even
for an empty group; `group_send_many` costs two per shard for all the groups at once.

Receiving. All the channels of one process share one Redis key, and a message for several
of them is stored there once. channels_redis's `receive` has each waiting consumer take
turns at a lock to read that key, one message at a time and four commands per message (a
cleanup script, BZPOPMIN, a backup ZADD and a ZPOPMIN after it), so a broadcast's ten
messages cost a process some forty round trips in a row before its last connection heard
the tenth, and each consumer's turn at the lock woke tasks of the others: bench/push.py's
bare floor spent about half a daphne process's CPU there. Here one reader task per process
and shard pops the key, a whole batch per round trip (BZMPOP … COUNT), and puts each message
into the inbox of every channel it names; a consumer's `receive` waits on its own inbox
alone. The backup key is not needed: a process's channels live and die with the process,
and nothing a reader has popped waits anywhere but in that process's inboxes.

Serving a consumer. Channels' consumers wait with `await_many_dispatch`: a task for the
client's next message and one for the channel's, an `asyncio.wait` on both, and a new
task after each message: three turns of the event loop and some 15 µs of a delivery's
~105 µs in bench/push.py, repeated for each of a process's forty-odd connections in a
broadcast before the last of them is written. `serve` (StreamConsumer uses it) does the
same job with the client's messages poured into the channel's inbox by one task for the
connection's life, so a channel message costs one wake-up of the consumer. An inbox is
therefore unbounded: a channel message finding it at capacity is dropped (the newest,
where channels_redis drops the oldest: the oldest may be the client's disconnect, and
the stream finds any missing event in the log), the client's messages never are.

Taking a message at once. Even one wake-up per channel is a task switch and a climb back
up the consumer's coroutine stack (its middleware and `serve`): some thirty consumers of
a process in a broadcast waited for each other's. A channel may name a `taker` (`take`):
the reader offers it the channel's message first, synchronously, when nothing of that
channel waits in its inbox (so the order holds), and the message goes to the inbox only
if the taker declines it. StreamConsumer takes a live event it can send as it stands.
"""

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import msgpack
import redis
from channels_redis.core import RedisChannelLayer as CoreRedisChannelLayer
from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import ResponseError

from .layer_scripts import GROUPED_MAGIC, READ_GROUPS_LUA, SEND_TO_GROUPS_LUA, STORE_LUA

logger = logging.getLogger(__name__)

# Messages a reader takes from Redis per round trip at most.
READ_BATCH = 512


def _retrieve(task: asyncio.Future) -> None:
    """Mark an abandoned task's outcome as seen (asyncio would log it as never retrieved)."""
    if not task.cancelled():
        task.exception()


class InboxFailed(Exception):
    """The reader lost Redis: what a waiting consumer's receive raises, as channels_redis's own would."""


class Inbox(asyncio.Queue):
    """What waits for one channel: its messages (up to `capacity`), and under `serve` its client's."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity


class RedisChannelLayer(CoreRedisChannelLayer):
    # The score of the last message stored: the next one gets a higher one even when the clock
    # has not moved or went back, since a key is read lowest score first (ties: at random).
    _last_score = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # This process's channels (made by new_channel, still received on) and what waits for each.
        self._inboxes: dict[str, Inbox] = {}
        # What may take a channel's message before it is queued (`take`).
        self._takers: dict[str, Callable[[dict[str, Any]], bool]] = {}
        # Each process key (one per channel-name prefix) read by the reader of its shard.
        self._keys_by_index: dict[int, set[str]] = collections.defaultdict(set)
        self._readers: dict[int, asyncio.Task] = {}
        self._readers_loop: asyncio.AbstractEventLoop | None = None
        self.reads = 0  # round trips that brought messages (tests)
        self._bzmpop = True  # BZMPOP (Redis 7.0+) is there; else BZPOPMIN and ZPOPMIN
        self._sync_clients: dict[int, redis.Redis] = {}

    # --- receiving: one reader per process and shard ------------------------------------

    async def new_channel(self, prefix: str = "specific") -> str:
        channel = await super().new_channel(prefix)
        self._inbox(channel)
        return channel

    async def receive(self, channel: str) -> dict[str, Any]:
        if "!" not in channel:
            return await super().receive(channel)  # a named channel, shared by workers
        inbox = self._inbox(channel)
        # Started by the first receive, not by new_channel: what is sent before waits in Redis.
        self._ensure_readers()
        try:
            message = await inbox.get()
        except asyncio.CancelledError:
            # Channels cancels a consumer's receive when the consumer ends: its channel goes
            # with it, and what is sent to it from now on is dropped by the reader.
            self._forget(channel)
            raise
        if isinstance(message, InboxFailed):
            self._forget(channel)
            raise message
        return message

    def _forget(self, channel: str) -> None:
        self._inboxes.pop(channel, None)
        self._takers.pop(channel, None)

    def take(self, channel: str, taker: Callable[[dict[str, Any]], bool] | None) -> None:
        """Offer `channel`'s messages to `taker` before queueing them (None: stop offering).

        The reader calls `taker(message)` in its own task, only when nothing of the channel is
        queued; a True answer means the message is dealt with and is not queued. It must not
        block, and it runs between any two awaits of the channel's consumer.
        """
        if taker is None:
            self._takers.pop(channel, None)
        elif channel in self._inboxes:
            self._takers[channel] = taker

    async def serve(
        self,
        channel: str,
        receive: Callable[[], Awaitable[dict[str, Any]]],
        dispatch: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        """Channels' `await_many_dispatch` for a channel of this process: one message at a time
        from the client (`receive`) or the channel, each dispatched before the next is taken.

        Ends with what ends it: the dispatch's exception (StopConsumer when the client has
        gone), InboxFailed when the reader loses Redis, or `receive`'s own exception.
        """
        inbox = self._inbox(channel)
        self._ensure_readers()

        async def pour() -> None:
            try:
                while True:
                    inbox.put_nowait(await receive())
            except Exception as exc:
                inbox.put_nowait(exc)

        pouring = asyncio.ensure_future(pour())
        try:
            while True:
                message = await inbox.get()
                if isinstance(message, BaseException):
                    raise message
                await dispatch(message)
        finally:
            self._forget(channel)
            pouring.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pouring

    def _inbox(self, channel: str) -> Inbox:
        inbox = self._inboxes.get(channel)
        if inbox is None:
            name = self.non_local_name(channel)
            assert name.endswith(self.client_prefix + "!"), "Wrong client prefix"
            inbox = self._inboxes[channel] = Inbox(self.get_capacity(channel))
            self._keys_by_index[self.consistent_hash(name)].add(self.prefix + name)
        return inbox

    def _ensure_readers(self) -> None:
        loop = asyncio.get_running_loop()
        if self._readers_loop is not loop:
            # A reader belongs to one event loop, as the pools do (tests run several in turn).
            self._readers_loop, self._readers = loop, {}
        for index in self._keys_by_index:
            reader = self._readers.get(index)
            if reader is None or reader.done():
                self._readers[index] = loop.create_task(self._read(index), name=f"channel-layer-reader-{index}")

    async def _read(self, index: int) -> None:
        """Pop this shard's process keys into the inboxes while the process has channels.

        On its own connection (a blocking read must not hold one of the pool's), kept for the
        reader's life. When Redis fails, every waiting receive fails with it, as with
        channels_redis's receive: the consumers end, their clients reconnect and join their
        groups again (Redis may have come back empty) and catch up from the event log.
        """
        client = Redis(connection_pool=self.create_pool(index))
        try:
            while self._inboxes and self._keys_by_index.get(index):
                try:
                    popped = await self._pop(client, sorted(self._keys_by_index[index]))
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._fail(exc)
                    return
                if popped:
                    self.reads += 1
                    self._hand_out(popped)
        finally:
            await client.aclose(close_connection_pool=True)

    async def _pop(self, client: Redis, keys: list[str]) -> list[bytes]:
        """Up to READ_BATCH messages of the first key holding any, waiting up to brpop_timeout.

        redis-py can swallow a cancellation that arrives just after a command was sent and
        then wait for the reply all the same (redis/redis-py#2028): a reader cancelled at
        that moment (its event loop closing, close_pools) would keep the loop from closing.
        So the command runs in a task of its own; a cancelled reader drops the connection,
        which ends that task's read whatever state it is in, and stops at once.
        """
        command = asyncio.ensure_future(self._pop_once(client, keys))
        try:
            return await asyncio.shield(command)
        except asyncio.CancelledError:
            command.cancel()
            command.add_done_callback(_retrieve)
            await client.connection_pool.disconnect()
            raise

    async def _pop_once(self, client: Redis, keys: list[str]) -> list[bytes]:
        if self._bzmpop:
            try:
                found: Any = await client.bzmpop(self.brpop_timeout, len(keys), keys, min=True, count=READ_BATCH)
            except ResponseError as exc:
                if "unknown command" not in str(exc).lower():
                    raise
                self._bzmpop = False  # Redis before 7.0
            else:
                return [member for member, _score in found[1]] if found else []
        first: Any = await client.bzpopmin(keys, self.brpop_timeout)
        if first is None:
            return []
        key, member, _score = first
        rest: Any = await client.zpopmin(key, READ_BATCH - 1)
        return [member, *(m for m, _score in rest)]

    def _hand_out(self, popped: list[bytes]) -> None:
        full = 0
        for raw in popped:
            message, names = self.decode_stored(raw)
            for name in names:
                inbox = self._inboxes.get(name)
                if inbox is None:
                    continue
                taker = self._takers.get(name)
                if taker is not None and not inbox.qsize():
                    try:
                        if taker(message):
                            continue
                    except Exception:
                        # Queued after all: the consumer's own path meets the same fault and
                        # deals with it as it would have without a taker.
                        logger.exception("taking a message for %s failed", name)
                if inbox.qsize() >= inbox.capacity:
                    full += 1
                    continue
                # Shared by the channels it names, as channels_redis does: receivers only read it.
                inbox.put_nowait(message)
        if full:
            logger.info("%s messages dropped: their channels' inboxes are full (consumers not keeping up)", full)

    def decode_stored(self, raw: bytes) -> tuple[dict[str, Any], list[str]]:
        """A message as stored under a process key, and the channels it is for."""
        if raw.startswith(GROUPED_MAGIC):
            # SEND_TO_GROUPS_LUA's: the body's length, the body, then the channels.
            start = len(GROUPED_MAGIC) + 4
            end = start + int.from_bytes(raw[len(GROUPED_MAGIC) : start], "big")
            return self.deserialize(raw[start:end]), msgpack.unpackb(raw[end:])
        message = self.deserialize(raw)
        names = message.pop("__asgi_channel__", [])  # channels_redis's own
        return message, [names] if isinstance(names, str) else names

    def _fail(self, exc: BaseException) -> None:
        logger.warning("channel layer reader lost Redis (%s); this process's channels fail", exc)
        failure = InboxFailed(f"the channel layer lost Redis: {exc}")
        for inbox in list(self._inboxes.values()):
            inbox.put_nowait(failure)
        self._inboxes.clear()
        self._takers.clear()
        self._keys_by_index.clear()

    async def close_pools(self) -> None:
        for reader in self._readers.values():
            reader.cancel()
        for reader in self._readers.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader
        self._readers = {}
        await super().close_pools()

    # --- sending -----------------------------------------------------------------------

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "master_name" in host:
            return super().create_pool(index)  # Sentinel: channels_redis's own pool, which does not wait
        if "address" in host:
            return BlockingConnectionPool.from_url(host.pop("address"), **host)
        return BlockingConnectionPool(**host)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        await self.group_send_batch([([group], message)])

    async def group_send_many(self, groups: Iterable[str], message: dict[str, Any]) -> None:
        """`group_send` to several groups at once: a channel in two of them gets the message once."""
        await self.group_send_batch([(list(groups), message)])

    async def group_send_batch(self, sends: Sequence[tuple[Sequence[str], dict[str, Any]]]) -> None:
        """Each message to its groups, in order: one round trip on one Redis, two per shard on several.

        On one Redis, one script does it all (SEND_TO_GROUPS_LUA). On several, or with
        per-channel capacities, one script per shard holding groups reads their members,
        then one per shard holding channels stores each message under each process key,
        naming its channels (channels_redis's own messages, capacities and expiry).
        """
        names = sorted({name for groups, _message in sends for name in groups})
        if self._in_one_script:
            over = await self.connection(0).eval(SEND_TO_GROUPS_LUA, *self._one_script_args(names, sends))
            self._report_over_capacity(over, sends)
            return
        by_index = self._groups_by_index(names)
        read = await asyncio.gather(*(self._read_groups(self.connection(i), group) for i, group in by_index.items()))
        plan = self._plan_store(sends, self._members_of(by_index, read))
        over = await asyncio.gather(*(self.connection(i).eval(STORE_LUA, *args) for i, args in plan.items()))
        self._report_over_capacity(sum(over), sends)

    def group_send_batch_sync(self, sends: Sequence[tuple[Sequence[str], dict[str, Any]]], *, timeout: float) -> None:
        """group_send_batch from synchronous code, each Redis command failing after `timeout` seconds.

        For the request that has just committed: it sends its events itself, on its own
        thread, with nothing to hand over to (a sender thread had to wait for the request's
        thread to let go of the GIL between every two Redis replies: bench/push.py measured
        p99 53 ms from the commit to the start of the send). Its own pools (redis-py's
        synchronous ones, which start afresh in a forked worker).
        """
        names = sorted({name for groups, _message in sends for name in groups})
        if self._in_one_script:
            over = self._sync_client(0, timeout).eval(SEND_TO_GROUPS_LUA, *self._one_script_args(names, sends))
            self._report_over_capacity(over, sends)
            return
        by_index = self._groups_by_index(names)
        read = [self._read_groups(self._sync_client(i, timeout), group) for i, group in by_index.items()]
        plan = self._plan_store(sends, self._members_of(by_index, read))
        over = [self._sync_client(i, timeout).eval(STORE_LUA, *args) for i, args in plan.items()]
        self._report_over_capacity(sum(over), sends)

    @property
    def _in_one_script(self) -> bool:
        # Per-channel capacities need the channel names, which only the two-step send has.
        return self.ring_size == 1 and not self.channel_capacity

    def _one_script_args(self, names: list[str], sends: Sequence[tuple[Sequence[str], dict[str, Any]]]) -> list[Any]:
        for name in names:
            assert self.require_valid_group_name(name), "Group name not valid"
        position = {name: i for i, name in enumerate(names, start=1)}
        now = time.time()
        args: list[Any] = [
            len(names),
            *(self._group_key(name) for name in names),
            int(now) - self.group_expiry,
            int(now) - int(self.expiry),
            self.expiry,
            self.capacity,
            self.prefix,
        ]
        for groups, message in sends:
            assert "__asgi_channel__" not in message
            wanted = list(dict.fromkeys(groups))
            score = self._next_score(now)
            body = self.serialize(message)
            args += [score, body, len(wanted), *(position[name] for name in wanted)]
        return args

    def _next_score(self, now: float) -> float:
        """A stored message's score: above the last one's, so a key gives them back in the order sent."""
        self._last_score = max(now, self._last_score + 1e-6)
        return self._last_score

    def _sync_client(self, index: int, timeout: float) -> redis.Redis:
        client = self._sync_clients.get(index)
        if client is None:
            host = dict(self.hosts[index])
            if "address" not in host:
                raise NotImplementedError("the synchronous send needs a host given by address")
            host.pop("timeout", None)  # the asynchronous pool's wait for a free connection
            host.update(socket_timeout=timeout, socket_connect_timeout=timeout)
            client = self._sync_clients[index] = redis.Redis.from_url(host.pop("address"), **host)
        return client

    def _groups_by_index(self, names: Iterable[str]) -> dict[int, list[str]]:
        by_index: dict[int, list[str]] = collections.defaultdict(list)
        for name in names:
            assert self.require_valid_group_name(name), "Group name not valid"
            by_index[self.consistent_hash(name)].append(name)
        return by_index

    def _read_groups(self, client: Any, names: list[str]) -> Any:
        """Drop each group's stale members and read the rest (awaitable on an async client)."""
        stale = int(time.time()) - self.group_expiry
        return client.eval(READ_GROUPS_LUA, len(names), *(self._group_key(name) for name in names), stale)

    @staticmethod
    def _members_of(by_index: dict[int, list[str]], replies: list[list[Any]]) -> dict[str, list[str]]:
        return {
            name: [channel.decode("utf8") for channel in members]
            for names, reply in zip(by_index.values(), replies, strict=True)
            for name, members in zip(names, reply, strict=True)
        }

    def _plan_store(
        self, sends: Sequence[tuple[Sequence[str], dict[str, Any]]], members: dict[str, list[str]]
    ) -> dict[int, list[Any]]:
        """STORE_LUA's arguments per shard: each message once per process key of its groups' channels."""
        entries: dict[int, list[tuple[str, bytes, int, float]]] = collections.defaultdict(list)
        for groups, message in sends:
            # dict, not set: the same channels in the same order every time.
            channels = list(dict.fromkeys(channel for name in groups for channel in members[name]))
            if not channels:
                continue
            by_connection, key_messages, key_capacities = self._map_channel_keys_to_connection(channels, message)
            score = self._next_score(time.time())
            for index, keys in by_connection.items():
                entries[index] += [(key, key_messages[key], key_capacities[key], score) for key in keys]
        expired = int(time.time()) - int(self.expiry)
        return {
            index: [
                len(found),
                *(key for key, *_ in found),
                *(message for _key, message, _capacity, _score in found),
                *(capacity for _key, _message, capacity, _score in found),
                *(score for *_, score in found),
                self.expiry,
                expired,
            ]
            for index, found in entries.items()
        }

    @staticmethod
    def _report_over_capacity(over: int, sends: Sequence[tuple[Sequence[str], dict[str, Any]]]) -> None:
        if over:
            logger.info("%s messages not stored: their channels are full (groups %s)", over, [g for g, _m in sends])
