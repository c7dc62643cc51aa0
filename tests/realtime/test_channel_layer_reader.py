"""One reader per process takes its channels' messages from Redis, a batch at a time, and hands each to its channels.

realtime.layers.RedisChannelLayer: a consumer's receive waits on its own inbox; the
process's reader pops the process key (BZMPOP, or BZPOPMIN and ZPOPMIN before Redis 7).
`serve` waits for a consumer's client and channel messages on that one inbox.
"""

import asyncio
import contextlib
import threading
import uuid

import pytest
import redis
from channels.exceptions import StopConsumer
from django.conf import settings

from realtime.layers import InboxFailed, RedisChannelLayer
from tests.conftest import requires_redis

from .processes import free_port, start_redis, stop

pytestmark = requires_redis


def layer_on(url: str, prefix: str) -> RedisChannelLayer:
    """A layer set up as the settings set it up, on `url`."""
    host = {**settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0], "address": url}
    return RedisChannelLayer(hosts=[host], prefix=prefix)


@pytest.fixture
def prefix():
    name = f"r{uuid.uuid4().hex[:8]}"
    yield name
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = client.keys(f"{name}*")
    if keys:
        client.delete(*keys)
    client.close()


@contextlib.asynccontextmanager
async def sender_and_process(prefix: str):
    """Two layers on the test Redis: one sends (another server), the other is the process that receives."""
    sender, process = layer_on(settings.REDIS_URL, prefix), layer_on(settings.REDIS_URL, prefix)
    try:
        yield sender, process
    finally:
        await sender.close_pools()
        await process.close_pools()


def message(n: int) -> dict:
    return {"type": "stream.event", "event": {"seq": n}}


@pytest.mark.parametrize("bzmpop", [True, False], ids=["BZMPOP", "before Redis 7"])
def test_a_burst_for_many_channels_arrives_in_order_in_few_reads(prefix, bzmpop):
    async def scenario():
        async with sender_and_process(prefix) as (sender, process):
            process._bzmpop = bzmpop
            channels = [await process.new_channel() for _ in range(20)]
            for channel in channels:
                await sender.group_add("team.1", channel)
            # Sent before anyone receives: they wait in Redis, and the first receive starts the reader.
            await sender.group_send_batch([(["team.1"], message(n)) for n in range(1, 31)])
            for channel in channels:
                assert [(await process.receive(channel))["event"]["seq"] for _ in range(30)] == list(range(1, 31))
            # All thirty messages for the twenty channels came in one or two reads, not one each.
            assert process.reads <= 2

    asyncio.run(scenario())


def test_a_consumer_that_ends_leaves_its_inbox_and_later_messages_for_it_are_dropped(prefix):
    async def scenario():
        async with sender_and_process(prefix) as (sender, process):
            gone, staying = await process.new_channel(), await process.new_channel()
            for channel in (gone, staying):
                await sender.group_add("team.1", channel)
            waiting = asyncio.ensure_future(process.receive(gone))
            await asyncio.sleep(0.05)
            waiting.cancel()  # what Channels does when a consumer ends
            await asyncio.gather(waiting, return_exceptions=True)
            await sender.group_send_many(["team.1"], message(1))
            assert (await process.receive(staying))["event"] == {"seq": 1}
            assert gone not in process._inboxes

    asyncio.run(scenario())


@pytest.mark.parametrize("pause", range(6))
def test_an_event_loop_closing_right_after_a_receive_does_not_hang(prefix, pause):
    """redis-py can swallow a cancellation that comes just after a command went out (redis/redis-py#2028)."""
    process = layer_on(settings.REDIS_URL, prefix)

    async def scenario():
        channel = await process.new_channel()
        await process.send(channel, message(1))
        assert (await process.receive(channel))["event"] == {"seq": 1}
        for _ in range(pause):
            await asyncio.sleep(0)
        # Leaving now cancels the reader in the middle of its next BZMPOP.

    # In a thread of its own, so that a hang fails the test instead of stopping the run.
    loop_thread = threading.Thread(target=asyncio.run, args=(scenario(),), daemon=True)
    loop_thread.start()
    loop_thread.join(timeout=10)
    # asyncio.run returned: the reader ended when its loop cancelled it.
    assert not loop_thread.is_alive()


def test_when_redis_goes_away_every_waiting_receive_fails():
    port = free_port()
    server = start_redis(port)
    try:

        async def scenario():
            process = layer_on(f"redis://127.0.0.1:{port}/0", "gone")
            channels = [await process.new_channel() for _ in range(3)]
            waiting = [asyncio.ensure_future(process.receive(c)) for c in channels]
            await asyncio.sleep(0.2)
            stop(server)
            done, pending = await asyncio.wait(waiting, timeout=10)
            assert not pending
            # Each consumer ends, its client reconnects and catches up from the log.
            assert all(isinstance(task.exception(), InboxFailed) for task in done)
            assert process._inboxes == {}

        asyncio.run(scenario())
    finally:
        stop(server)


# --- serve: a consumer's client and channel messages, one wake-up each -----------------


class Client:
    """The client side of a connection, as daphne hands it to an application: a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    async def receive(self) -> dict:
        return await self.queue.get()


def label(message: dict) -> str | int:
    """A client message by its type, a channel message by its event's seq."""
    return message["event"]["seq"] if message["type"] == "stream.event" else message["type"]


def test_serve_dispatches_client_and_channel_messages_one_at_a_time(prefix):
    async def scenario():
        client, seen, busy = Client(), [], []

        async def dispatch(message: dict) -> None:
            busy.append(1)
            assert len(busy) == 1  # never two at once
            await asyncio.sleep(0.01)
            seen.append(label(message))
            busy.pop()
            if message["type"] == "websocket.disconnect":
                raise StopConsumer

        async with sender_and_process(prefix) as (sender, process):
            channel = await process.new_channel()
            await sender.group_add("team.1", channel)
            client.queue.put_nowait({"type": "websocket.connect"})
            serving = asyncio.ensure_future(process.serve(channel, client.receive, dispatch))
            await asyncio.sleep(0.05)
            await sender.group_send_batch([(["team.1"], message(n)) for n in (1, 2, 3)])
            await asyncio.sleep(0.2)
            client.queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
            with pytest.raises(StopConsumer):
                await asyncio.wait_for(serving, 5)
            assert seen == ["websocket.connect", 1, 2, 3, "websocket.disconnect"]
            assert channel not in process._inboxes  # later messages for it are dropped

    asyncio.run(scenario())


def test_a_full_inbox_drops_channel_messages_never_the_clients(prefix):
    async def scenario():
        client, seen = Client(), []
        stuck = asyncio.Event()

        async def dispatch(message: dict) -> None:
            if message["type"] == "websocket.connect":
                await stuck.wait()  # a consumer not keeping up
            seen.append(label(message))
            if message["type"] == "websocket.disconnect":
                raise StopConsumer

        async with sender_and_process(prefix) as (sender, process):
            process.capacity = 3
            channel = await process.new_channel()
            await sender.group_add("team.1", channel)
            client.queue.put_nowait({"type": "websocket.connect"})
            serving = asyncio.ensure_future(process.serve(channel, client.receive, dispatch))
            await asyncio.sleep(0.05)
            for n in range(1, 7):
                await sender.group_send_many(["team.1"], message(n))
                await asyncio.sleep(0.02)  # each in its own read
            client.queue.put_nowait({"type": "websocket.receive", "text": "{}"})
            client.queue.put_nowait({"type": "websocket.disconnect", "code": 1000})
            await asyncio.sleep(0.05)
            stuck.set()
            with pytest.raises(StopConsumer):
                await asyncio.wait_for(serving, 5)
            # The first three fitted; the next three were dropped; the client's two came after all.
            assert seen == ["websocket.connect", 1, 2, 3, "websocket.receive", "websocket.disconnect"]

    asyncio.run(scenario())


def test_serve_ends_with_the_reader_when_redis_goes_away():
    port = free_port()
    server = start_redis(port)
    try:

        async def scenario():
            process = layer_on(f"redis://127.0.0.1:{port}/0", "gone")
            channel = await process.new_channel()
            never = asyncio.Event()

            async def receive() -> dict:
                await never.wait()
                return {}

            async def dispatch(message: dict) -> None:
                raise AssertionError(f"nothing to dispatch, got {message}")

            serving = asyncio.ensure_future(process.serve(channel, receive, dispatch))
            await asyncio.sleep(0.2)
            stop(server)
            with pytest.raises(InboxFailed):
                await asyncio.wait_for(serving, 10)
            assert process._inboxes == {}

        asyncio.run(scenario())
    finally:
        stop(server)


def test_serve_ends_with_the_clients_receive_failing(prefix):
    async def scenario():
        process = layer_on(settings.REDIS_URL, prefix)
        channel = await process.new_channel()

        async def receive() -> dict:
            raise ConnectionResetError("the application queue is gone")

        async def dispatch(message: dict) -> None:
            raise AssertionError(f"nothing to dispatch, got {message}")

        try:
            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(process.serve(channel, receive, dispatch), 5)
            assert channel not in process._inboxes
        finally:
            await process.close_pools()

    asyncio.run(scenario())


# --- take: a channel's message offered before it is queued ----------------------------


async def until(condition) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_a_taker_is_offered_each_message_in_order_and_what_it_declines_is_queued_in_order(prefix, caplog):
    async def scenario():
        offered: list[int] = []

        def taker(message: dict) -> bool:
            seq = message["event"]["seq"]
            offered.append(seq)
            if seq == 4:
                raise RuntimeError("a fault in the taker")
            return seq not in (2, 4)  # declines 2; 4 fails

        async with sender_and_process(prefix) as (sender, process):
            channel = await process.new_channel()
            await sender.group_add("team.1", channel)
            process.take(channel, taker)
            receiving = asyncio.ensure_future(process.receive(channel))  # starts the reader
            await sender.group_send_batch([(["team.1"], message(n)) for n in (1, 2, 3)])
            # 2 was declined and waits in the inbox, so 3 is queued behind it, not offered.
            assert (await asyncio.wait_for(receiving, 5))["event"]["seq"] == 2
            assert (await process.receive(channel))["event"]["seq"] == 3
            assert offered == [1, 2]
            # The inbox is empty again: 4 is offered, and a fault of the taker queues it (5 behind it).
            await sender.group_send_batch([(["team.1"], message(n)) for n in (4, 5)])
            assert [(await asyncio.wait_for(process.receive(channel), 5))["event"]["seq"] for _ in "45"] == [4, 5]
            assert offered == [1, 2, 4]
            await sender.group_send_batch([(["team.1"], message(6))])  # taken: not queued
            await asyncio.wait_for(until(lambda: 6 in offered), 5)
            process.take(channel, None)  # no more offers: everything is queued
            await sender.group_send_batch([(["team.1"], message(7))])
            assert (await asyncio.wait_for(process.receive(channel), 5))["event"]["seq"] == 7
            assert offered == [1, 2, 4, 6]

    asyncio.run(scenario())
    assert "taking a message for" in caplog.text


def test_a_taker_goes_with_its_channel_and_is_not_kept_for_one_unknown(prefix):
    async def scenario():
        async with sender_and_process(prefix) as (sender, process):
            process.take("specific.none!gone", lambda message: True)
            assert process._takers == {}
            channel = await process.new_channel()
            process.take(channel, lambda message: True)
            waiting = asyncio.ensure_future(process.receive(channel))
            await asyncio.sleep(0.05)
            waiting.cancel()  # the consumer ends
            await asyncio.gather(waiting, return_exceptions=True)
            assert process._takers == {}

    asyncio.run(scenario())
