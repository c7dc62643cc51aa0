"""A dispatcher moves a staff member to another unit within their own subtree."""

import pytest

from common.errors import Forbidden
from dispatch import services
from dispatch.models import StaffProfile
from realtime.models import Event


def test_the_center_moves_a_station_dispatcher_and_the_stream_is_told(
    story, station, other_station, station_dispatcher
):
    services.staff_move(user_id=station_dispatcher.pk, unit_id=other_station.pk, by=story.dispatcher)
    assert StaffProfile.objects.get(user=station_dispatcher).unit == other_station
    event = Event.objects.get(type="staff.moved")
    assert event.payload == {
        "user": station_dispatcher.pk,
        "from": station.pk,
        "to": other_station.pk,
        "by": story.dispatcher.pk,
    }
    assert f"user.{station_dispatcher.pk}" in event.groups


def test_a_dispatcher_may_not_move_staff_out_of_their_subtree(
    story, station_dispatcher, other_station, other_dispatcher
):
    with pytest.raises(Forbidden):
        services.staff_move(user_id=other_dispatcher.pk, unit_id=other_station.pk, by=station_dispatcher)
    with pytest.raises(Forbidden):
        services.staff_move(user_id=station_dispatcher.pk, unit_id=other_station.pk, by=station_dispatcher)


def test_only_dispatchers_move_staff(story, station_dispatcher, center):
    with pytest.raises(Forbidden):
        services.staff_move(user_id=station_dispatcher.pk, unit_id=center.pk, by=story.team_leader)
