"""The dispatchers' boards get live figures for their own unit only."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from realtime.tasks import board_tick

from .conftest import communicator, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)

call = database_sync_to_async


async def opened(user):
    stream = communicator(f"/ws/v1/stream/?token={await call(token_for)(user)}")
    assert (await stream.connect())[0]
    await read_until(stream, lambda m: m["type"] == "heartbeat")
    return stream


def is_tick(message: dict) -> bool:
    return message["type"] == "stats.tick"


def test_each_dispatcher_gets_the_live_figures_of_their_own_unit(
    story, center, station, station_dispatcher, other_dispatcher
):
    story.placed()
    story.dispatching()

    async def scenario():
        whole, here, elsewhere, leader = [
            await opened(u) for u in (story.dispatcher, station_dispatcher, other_dispatcher, story.team_leader)
        ]
        await call(board_tick)()
        for stream, unit in ((whole, center), (here, station)):
            tick = (await read_until(stream, is_tick))[-1]
            assert tick["unit"] == unit.pk and tick["live"] == 2
            assert tick["by_state"]["submitted"] == 1 and tick["by_state"]["dispatching"] == 1
        tick = (await read_until(elsewhere, is_tick))[-1]
        assert tick["live"] == 0 and set(tick["by_state"].values()) == {0}
        # Teams have no board.
        assert await leader.receive_nothing(timeout=0.3)
        for stream in (whole, here, elsewhere, leader):
            await stream.disconnect()

    async_to_sync(scenario)()
