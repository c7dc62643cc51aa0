"""A connection stops hearing what its user may no longer see, without reconnecting."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from dispatch import services
from dispatch.models import StaffProfile
from realtime import events
from realtime import keeper as keeper_module
from realtime.models import Event
from volunteers import services as field_work
from volunteers.models import Membership

from .conftest import communicator, events_only, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)

call = database_sync_to_async


async def opened(user):
    stream = communicator(f"/ws/v1/stream/?token={await call(token_for)(user)}")
    assert (await stream.connect())[0]
    await read_until(stream, lambda m: m["type"] == "heartbeat")
    return stream


def test_a_volunteer_who_leaves_the_team_hears_that_and_then_nothing_more_of_it(story, volunteer):
    async def scenario():
        stream = await opened(volunteer)
        await call(story.dispatching)()
        assert events_only(await read_until(stream, lambda m: m.get("type") == "offer.created"))
        membership = await call(Membership.objects.get)(volunteer__user=volunteer)
        await call(field_work.membership_end)(membership_id=membership.pk, user=story.team_leader)
        left = events_only(await read_until(stream, lambda m: m.get("type") == "team.member_left"))
        assert left[-1]["user"] == volunteer.pk and left[-1]["team"] == story.team.pk
        await call(story.dispatching)()
        assert await stream.receive_nothing(timeout=0.5)
        await stream.disconnect()

    async_to_sync(scenario)()


def test_the_rest_of_the_team_hears_who_left(story, volunteer):
    async def scenario():
        leader = await opened(story.team_leader)
        membership = await call(Membership.objects.get)(volunteer__user=volunteer)
        await call(field_work.membership_end)(membership_id=membership.pk, user=volunteer)
        left = events_only(await read_until(leader, lambda m: m.get("type") == "team.member_left"))
        assert left[-1]["volunteer"] == membership.volunteer_id
        await call(story.dispatching)()
        assert events_only(await read_until(leader, lambda m: m.get("type") == "offer.created"))
        await leader.disconnect()

    async_to_sync(scenario)()


def test_a_dispatcher_moved_to_another_branch_hears_the_new_one_not_the_old(
    story, station_dispatcher, other_station, other_citizen
):
    async def scenario():
        stream = await opened(station_dispatcher)
        await call(services.staff_move)(user_id=station_dispatcher.pk, unit_id=other_station.pk, by=story.dispatcher)
        moved = events_only(await read_until(stream, lambda m: m.get("type") == "staff.moved"))
        assert moved[-1]["to"] == other_station.pk
        await call(story.placed)()
        assert await stream.receive_nothing(timeout=0.5)
        await stream.disconnect()

    async_to_sync(scenario)()
    assert StaffProfile.objects.get(user=station_dispatcher).unit == other_station


def test_a_user_deactivated_by_the_admin_is_disconnected_at_the_next_rights_check(story, settings, monkeypatch):
    settings.STREAM_HEARTBEAT_SECONDS = 0.1
    monkeypatch.setattr(keeper_module, "RIGHTS_CHECK_BEATS", 1)

    async def scenario():
        stream = await opened(story.team_leader)
        story.team_leader.is_active = False
        await call(story.team_leader.save)()
        while True:
            message = await stream.receive_output(timeout=5)
            if message["type"] == "websocket.close":
                break
        assert message["code"] == 4403

    async_to_sync(scenario)()


def test_a_membership_ended_in_the_admin_takes_effect_at_the_next_rights_check(story, volunteer, settings, monkeypatch):
    settings.STREAM_HEARTBEAT_SECONDS = 0.1
    monkeypatch.setattr(keeper_module, "RIGHTS_CHECK_BEATS", 1)

    async def scenario():
        stream = await opened(volunteer)
        await call(Membership.objects.filter(volunteer__user=volunteer).update)(active=False)
        # Three beats: the keeper's check runs once a beat, the first may have started before the change.
        for _ in range(3):
            await read_until(stream, lambda m: m["type"] == "heartbeat")
        await call(story.dispatching)()
        messages = await read_until(stream, lambda m: m["type"] == "heartbeat")
        assert events_only(messages) == []
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_catch_up_across_a_rights_change_chooses_the_rest_by_the_new_rights(
    story, station_dispatcher, other_station, settings, monkeypatch
):
    settings.STREAM_HEARTBEAT_SECONDS = 3600  # no beat: the resume below is the one catch-up
    # Every live push is lost, so one catch-up from the log answers the move and what follows,
    # and the events after the move must be chosen by the new unit's rights, not the old.
    monkeypatch.setattr(events, "_deliver", lambda sends: None)
    far = {"lat": other_station.lat, "lng": other_station.lng}

    async def scenario():
        stream = await opened(station_dispatcher)
        start = await call(lambda: Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0)()
        await call(services.staff_move)(user_id=station_dispatcher.pk, unit_id=other_station.pk, by=story.dispatcher)
        at_old, at_new = await call(story.placed)(), await call(story.placed)(**far)
        assert at_new.station_id == other_station.pk != at_old.station_id
        await stream.send_json_to({"type": "resume", "after": start})
        seen = events_only(await read_until(stream, lambda m: m["type"] == "heartbeat"))
        assert [(m["type"], m.get("order", {}).get("id")) for m in seen] == [
            ("staff.moved", None),
            ("order.placed", at_new.pk),
        ]
        await stream.disconnect()

    async_to_sync(scenario)()
