"""Events sent to all their groups at once: each channel gets each once, in a bounded number of round trips.

An offer goes to its team and the three units on the station's path. channels_redis sends
to one group at a time, about four Redis round trips each even for an empty group, and a
channel in two of the groups gets the message twice. The Redis layer sends a batch of
messages in one script on one Redis (SEND_TO_GROUPS_LUA), and with several shards reads the
groups with one script per shard and stores the messages with one more per shard.
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from asgiref.sync import async_to_sync
from django.conf import settings
from redis.asyncio import Connection

from realtime import layers
from realtime.layers import RedisChannelLayer
from tests.conftest import requires_redis

pytestmark = requires_redis


class CountingConnection(Connection):
    """A connection that counts what it writes to Redis: one write per command or per pipeline."""

    writes = 0

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.writes += 1
        await super().send_packed_command(command, check_health)


def redis_urls() -> list[str]:
    """The tests' Redis database and the next one: two shards on one server."""
    url = settings.REDIS_URL
    parts = urlsplit(url)
    db = int(parts.path.strip("/") or 0)
    return [url, urlunsplit(parts._replace(path=f"/{(db + 1) % 16}"))]


def run(scenario: Callable[[Callable[..., RedisChannelLayer]], Awaitable[None]]) -> None:
    """Run `scenario(make_layer)`; every layer it makes shares a fresh prefix, deleted afterwards."""
    prefix = f"t{uuid.uuid4().hex[:8]}"
    made: list[RedisChannelLayer] = []

    def make_layer(shards: int = 1, **options: Any) -> RedisChannelLayer:
        hosts = [{"address": url, "connection_class": CountingConnection} for url in redis_urls()[:shards]]
        layer = RedisChannelLayer(hosts=hosts, prefix=prefix, **options)
        made.append(layer)
        return layer

    async def wrapped() -> None:
        try:
            await scenario(make_layer)
        finally:
            for layer in made:
                await layer.close_pools()

    try:
        async_to_sync(wrapped)()
    finally:
        for url in redis_urls():
            client = redis.Redis.from_url(url)
            keys = client.keys(f"{prefix}*")
            if keys:
                client.delete(*keys)
            client.close()


async def stored(layer: RedisChannelLayer, channel: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The messages waiting in Redis for `channel`'s key (a process's channels share one key), and whom each is for."""
    name = layer.non_local_name(channel) if "!" in channel else channel
    key = layer.prefix + name
    raw = await layer.connection(layer.consistent_hash(name)).zrange(key, 0, -1)
    return [layer.decode_stored(message) if "!" in channel else (layer.deserialize(message), []) for message in raw]


def message(n: int) -> dict[str, Any]:
    return {"type": "stream.event", "event": {"seq": n}}


def test_a_channel_in_two_of_the_groups_gets_the_message_once():
    async def scenario(make_layer):
        sender, process = make_layer(), make_layer()
        both, team_only = await process.new_channel(), await process.new_channel()
        for group, channel in [("team.1", both), ("unit.1", both), ("team.1", team_only), ("unit.2", both)]:
            await sender.group_add(group, channel)

        await sender.group_send_many(["team.1", "unit.1", "unit.2"], message(7))

        # One message for the process's shared key, naming each of its channels once.
        [(_waiting, names)] = await stored(process, both)
        assert sorted(names) == sorted([both, team_only])
        assert (await process.receive(both))["event"] == {"seq": 7}
        assert (await process.receive(team_only))["event"] == {"seq": 7}
        assert await stored(process, both) == []

    run(scenario)


def test_channels_of_two_processes_and_a_plain_channel_each_receive_it():
    async def scenario(make_layer):
        sender, first, second = make_layer(), make_layer(), make_layer()
        mine, theirs, plain = await first.new_channel(), await second.new_channel(), "worker.plain"
        await sender.group_add("team.1", mine)
        await sender.group_add("team.1", theirs)
        await sender.group_add("unit.1", theirs)
        await sender.group_add("unit.1", plain)

        await sender.group_send_many(["team.1", "unit.1"], message(8))

        assert (
            len(await stored(first, mine)) == len(await stored(second, theirs)) == len(await stored(sender, plain)) == 1
        )
        assert (await first.receive(mine))["event"] == {"seq": 8}
        assert (await second.receive(theirs))["event"] == {"seq": 8}
        assert (await sender.receive(plain))["event"] == {"seq": 8}

    run(scenario)


def test_groups_without_members_cost_one_round_trip_and_store_nothing():
    async def scenario(make_layer):
        sender = make_layer()
        await sender.connection(0).ping()  # the connection itself is not counted
        before = CountingConnection.writes
        await sender.group_send_many(["order.1", "unit.1", "unit.2", "unit.3", "user.9"], message(9))
        assert CountingConnection.writes - before == 1
        assert await sender.connection(0).keys(f"{sender.prefix}*") == []

    run(scenario)


def test_a_full_channel_is_skipped_and_the_others_still_get_the_message():
    async def scenario(make_layer):
        sender, full, free = make_layer(capacity=2), make_layer(capacity=2), make_layer(capacity=2)
        stuck, listening = await full.new_channel(), await free.new_channel()
        await sender.group_add("team.1", stuck)
        await sender.group_add("team.1", listening)
        await sender.send(stuck, message(1))
        await sender.send(stuck, message(2))

        await sender.group_send_many(["team.1"], message(3))

        assert [m["event"]["seq"] for m, _names in await stored(full, stuck)] == [1, 2]
        assert [m["event"]["seq"] for m, _names in await stored(free, listening)] == [3]

    run(scenario)


def test_a_batch_that_only_partly_fits_a_channel_keeps_its_first_messages():
    """Stored as one message at a time would be: what fits, in the order sent; the rest skipped."""

    async def scenario(make_layer):
        sender, receiver = make_layer(capacity=3), make_layer(capacity=3)
        channel = await receiver.new_channel()
        await sender.group_add("team.1", channel)
        await sender.send(channel, message(1))

        await sender.group_send_batch([(["team.1"], message(n)) for n in (2, 3, 4, 5)])

        assert [m["event"]["seq"] for m, _names in await stored(receiver, channel)] == [1, 2, 3]

    run(scenario)


def eleven_events() -> list[tuple[list[str], dict[str, Any]]]:
    """A broadcast to ten teams: order.dispatched to the order, the units and its citizen, an offer to each team."""
    path = ["unit.1", "unit.2", "unit.3"]
    sends = [(["order.1", *path, "user.9"], message(100))]
    return sends + [([f"team.{n}", *path], message(101 + n)) for n in range(10)]


async def join_teams_and_a_dispatcher(sender: RedisChannelLayer, first, second) -> str:
    for n in range(10):
        await sender.group_add(f"team.{n}", await first.new_channel())
        await sender.group_add(f"team.{n}", await second.new_channel())
    dispatcher = await first.new_channel()
    await sender.group_add("unit.1", dispatcher)
    return dispatcher


def test_a_dispatch_of_eleven_events_to_four_groups_each_is_sent_in_one_round_trip():
    """A transaction's events go out together (events._flush), in one script."""

    async def scenario(make_layer):
        sender, first, second = make_layer(), make_layer(), make_layer()
        dispatcher = await join_teams_and_a_dispatcher(sender, first, second)
        sends = eleven_events()

        before = CountingConnection.writes
        await sender.group_send_batch(sends)
        # channels_redis took about four per group (150 here); two per event took 22.
        assert CountingConnection.writes - before == 1

        # The dispatcher hears all eleven, in order; each team member its team's offer.
        heard = [(await first.receive(dispatcher))["event"]["seq"] for _ in range(11)]
        assert heard == list(range(100, 111))

    run(scenario)


def test_the_synchronous_send_stores_the_same_in_one_round_trip():
    """What the request that committed runs on its own thread (events._deliver)."""
    writes = [0]

    class CountingSyncConnection(redis.Connection):
        def send_packed_command(self, command: Any, check_health: bool = True) -> None:
            writes[0] += 1
            super().send_packed_command(command, check_health)

    async def scenario(make_layer):
        sender, first, second = make_layer(), make_layer(), make_layer()
        dispatcher = await join_teams_and_a_dispatcher(sender, first, second)
        team_channel = await second.new_channel()
        await sender.group_add("team.3", team_channel)
        sync_sender = make_layer()
        sync_sender.hosts = [{**host, "connection_class": CountingSyncConnection} for host in sync_sender.hosts]
        sync_sender._sync_client(0, 5).ping()  # the connection itself is not counted
        before = writes[0]

        await asyncio.to_thread(sync_sender.group_send_batch_sync, eleven_events(), timeout=5)

        assert writes[0] - before == 1
        heard = [(await first.receive(dispatcher))["event"]["seq"] for _ in range(11)]
        assert heard == list(range(100, 111))
        assert (await second.receive(team_channel))["event"]["seq"] == 104
        await asyncio.to_thread(sync_sender._sync_client(0, 5).close)

    run(scenario)


def test_with_two_shards_groups_and_channels_are_found_on_their_own_shard():
    async def scenario(make_layer):
        sender = make_layer(shards=2)
        # Two processes and four groups on each shard (a process's shard follows its random prefix).
        by_shard: dict[int, list[RedisChannelLayer]] = {0: [], 1: []}
        while min(len(found) for found in by_shard.values()) < 2:
            process = make_layer(shards=2)
            found = by_shard[process.consistent_hash(process.non_local_name(await process.new_channel()))]
            if len(found) < 2:
                found.append(process)
        processes = [*by_shard[0], *by_shard[1]]
        channels = [await process.new_channel() for process in processes]
        names = [f"team.{n}" for n in range(100)]
        groups = [name for name in names if sender.consistent_hash(name) == 0][:4]
        groups += [name for name in names if sender.consistent_hash(name) == 1][:4]
        for n, group in enumerate(groups):
            await sender.group_add(group, channels[n % 4])

        for ping in range(2):
            await sender.connection(ping).ping()
        before = CountingConnection.writes
        await sender.group_send_many(groups, message(1))
        assert CountingConnection.writes - before == 4  # a read and a store per shard
        await sender.group_send_many(groups[:2], message(2))
        assert CountingConnection.writes - before == 6  # both groups and both channels on shard 0

        for process, channel, expected in zip(processes, channels, [[1, 2], [1, 2], [1], [1]], strict=True):
            assert len(await stored(process, channel)) == len(expected)  # on the shard it is read from
            assert [(await process.receive(channel))["event"]["seq"] for _ in expected] == expected
            assert await stored(process, channel) == []

    run(scenario)


def test_messages_sent_in_the_same_instant_are_received_in_the_order_sent(monkeypatch):
    # A key is read lowest score first, and equal scores by the messages' random prefixes.
    frozen = time.time()
    monkeypatch.setattr(layers, "time", SimpleNamespace(time=lambda: frozen))

    async def scenario(make_layer):
        sender, process = make_layer(), make_layer()
        channel = await process.new_channel()
        await sender.group_add("team.1", channel)
        for n in range(1, 31):
            await sender.group_send_many(["team.1"], message(n))
        assert [(await process.receive(channel))["event"]["seq"] for _ in range(30)] == list(range(1, 31))

    run(scenario)
