"""A stream process keeps its connections out of the garbage collector's full collections.

Why and what was measured: realtime/keeper.py. Asserted here through the collector itself:
which objects a collection walks, and which closed connections it gets back.
"""

import asyncio
import gc
import weakref

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from realtime import keeper as keeper_module
from realtime.keeper import keeper

from .conftest import communicator, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def quick_freeze(monkeypatch, settings):
    settings.STREAM_HEARTBEAT_SECONDS = 3600  # no beat and no keeper round during the test
    monkeypatch.setattr(keeper_module, "FREEZE_AFTER_JOIN_SECONDS", 0.05)
    monkeypatch.setattr(keeper_module, "THAW_AFTER_LEAVE_SECONDS", 0.05)
    yield
    gc.unfreeze()  # leave the next tests a collector as they would find it


def collected_generations() -> set[int]:
    """ids of every object in generations 0-2: what collections walk (frozen ones are in none)."""
    return {id(o) for generation in range(3) for o in gc.get_objects(generation)}


async def opened(user):
    stream = communicator(f"/ws/v1/stream/?token={await database_sync_to_async(token_for)(user)}")
    assert (await stream.connect())[0]
    await read_until(stream, lambda m: m["type"] == "heartbeat")
    return stream


async def thawed(count: int) -> None:
    for _ in range(100):
        if keeper.thaws == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{keeper.thaws} thaws, expected {count}")


async def frozen_members(count: int) -> list:
    for _ in range(100):
        if keeper.frozen_open == count:
            return list(keeper._members)
        await asyncio.sleep(0.02)
    raise AssertionError(f"{keeper.frozen_open} connections frozen, expected {count}")


def test_a_connection_leaves_the_collected_generations_once_it_has_joined(story, volunteer):
    async def scenario():
        stream = await opened(story.team_leader)
        [consumer] = list(keeper._members)
        assert id(consumer) in collected_generations()  # young: the next collections walk it
        await frozen_members(1)
        assert id(consumer) not in collected_generations()
        # A connection made after the freeze is young until the next one, which follows by itself.
        later = await opened(volunteer)
        [newer] = [m for m in keeper._members if m is not consumer]
        assert id(newer) in collected_generations()
        await frozen_members(2)
        assert id(newer) not in collected_generations()
        await later.disconnect()
        await stream.disconnect()

    async_to_sync(scenario)()


def test_frozen_connections_that_closed_are_collected_once_as_many_as_those_still_open(
    story, volunteer, other_leader, station_dispatcher, monkeypatch
):
    monkeypatch.setattr(keeper_module, "THAW_MIN_CLOSED", 2)

    async def scenario():
        streams = [await opened(u) for u in (story.team_leader, volunteer, other_leader, station_dispatcher)]
        members = await frozen_members(4)
        gone = [weakref.ref(m) for m in members[:2]]
        del members
        thaws = keeper.thaws
        await streams[0].disconnect()
        # One closed, three open: it waits, frozen (its objects hold each other in cycles).
        await asyncio.sleep(0.2)
        gc.collect()
        assert keeper.thaws == thaws and keeper.frozen_closed == 1 and gone[0]() is not None
        await streams[1].disconnect()
        # Two closed, two open: one full collection gets both back.
        await thawed(thaws + 1)
        assert keeper.frozen_closed == 0 and keeper.frozen_open == 2
        assert [ref() for ref in gone] == [None, None]
        for stream in streams[2:]:
            await stream.disconnect()

    async_to_sync(scenario)()


def test_the_last_connection_to_leave_takes_the_closed_ones_with_it(story):
    async def scenario():
        stream = await opened(story.team_leader)
        [member] = await frozen_members(1)
        gone = weakref.ref(member)
        del member
        thaws = keeper.thaws
        await stream.disconnect()
        await thawed(thaws + 1)
        assert gone() is None

    async_to_sync(scenario)()
