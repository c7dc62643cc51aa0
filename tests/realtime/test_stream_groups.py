"""Each connection hears what its user may see, and nothing else."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from dispatch import services
from requests_app import services as intake
from tests import factories as f

from .conftest import communicator, events_only, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)

call = database_sync_to_async


async def opened(user):
    stream = communicator(f"/ws/v1/stream/?token={await call(token_for)(user)}")
    assert (await stream.connect())[0]
    assert (await stream.receive_json_from(timeout=5))["type"] == "heartbeat"
    return stream


async def next_event(stream) -> dict:
    return events_only(await read_until(stream, lambda m: m["type"] != "heartbeat"))[0]


def test_a_team_hears_its_own_offer_and_never_another_teams(story, other_team, other_leader):
    order = story.placed()

    async def scenario():
        mine, theirs = await opened(story.team_leader), await opened(other_leader)
        await call(services.order_dispatch)(
            order_id=order.pk, user=story.dispatcher, mode="broadcast", team_ids=[story.team.pk, other_team.pk]
        )
        got = await next_event(mine)
        assert got["type"] == "offer.created" and got["offer"]["team"] == story.team.pk
        assert got["order"]["id"] == order.pk and "contact_phone" not in got["order"]
        assert "sent_at" in got
        other = await next_event(theirs)
        assert other["offer"]["team"] == other_team.pk
        assert await mine.receive_nothing(timeout=0.3)
        assert await theirs.receive_nothing(timeout=0.3)
        await mine.disconnect()
        await theirs.disconnect()

    async_to_sync(scenario)()


def test_a_team_that_lost_a_broadcast_hears_its_offer_withdrawn(story, other_team, other_leader):
    order = story.dispatching(teams=[story.team, other_team], mode="broadcast")
    offer = story.offer_of(order)

    async def scenario():
        loser = await opened(other_leader)
        await call(services.offer_accept)(offer_id=offer.pk, user=story.team_leader)
        got = await next_event(loser)
        assert got["type"] == "offer.withdrawn"
        assert got["offer"]["team"] == other_team.pk and got["offer"]["state"] == "withdrawn"
        assert await loser.receive_nothing(timeout=0.3)
        await loser.disconnect()

    async_to_sync(scenario)()


def test_a_citizen_hears_their_new_order_on_an_open_connection_and_never_anothers(story, other_citizen):
    async def scenario():
        stream = await opened(story.citizen)
        await call(intake.order_place)(user=other_citizen, **f.order_fields(story.category))
        assert await stream.receive_nothing(timeout=0.3)
        order, _ = await call(intake.order_place)(user=story.citizen, **f.order_fields(story.category))
        placed = await next_event(stream)
        assert placed["type"] == "order.placed" and placed["order"]["id"] == order.pk
        await call(services.order_dispatch)(
            order_id=order.pk, user=story.dispatcher, mode="directed", team_ids=[story.team.pk]
        )
        dispatched = await next_event(stream)
        assert dispatched["type"] == "order.dispatched" and dispatched["order"]["state"] == "dispatching"
        # Offers are the teams' business, not the citizen's.
        assert await stream.receive_nothing(timeout=0.3)
        await stream.disconnect()

    async_to_sync(scenario)()


def test_dispatchers_hear_new_orders_of_their_subtree_only(story, station_dispatcher, other_dispatcher):
    async def scenario():
        center, station, elsewhere = (
            await opened(story.dispatcher),
            await opened(station_dispatcher),
            await opened(other_dispatcher),
        )
        order = await call(story.placed)()
        for stream in (center, station):
            placed = await next_event(stream)
            assert placed["type"] == "order.placed" and placed["order"]["id"] == order.pk
        assert await elsewhere.receive_nothing(timeout=0.3)
        for stream in (center, station, elsewhere):
            await stream.disconnect()

    async_to_sync(scenario)()
