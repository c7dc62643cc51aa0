"""A volunteer leaves a team: who may end a membership, and what it tells the stream."""

import pytest

from common.errors import Forbidden, NotFound
from realtime.models import Event
from volunteers import services
from volunteers.models import Membership


def membership_of(user) -> Membership:
    return Membership.objects.get(volunteer__user=user)


def test_the_volunteer_the_leader_or_a_dispatcher_may_end_it(story, volunteer):
    ended = services.membership_end(membership_id=membership_of(volunteer).pk, user=story.team_leader)
    assert ended.active is False
    event = Event.objects.get(type="team.member_left")
    assert set(event.groups) == {f"team.{story.team.pk}", f"user.{volunteer.pk}"}
    assert event.payload["user"] == volunteer.pk


def test_a_stranger_may_not_end_someone_elses_membership(story, volunteer, other_leader):
    with pytest.raises(Forbidden):
        services.membership_end(membership_id=membership_of(volunteer).pk, user=other_leader)
    assert membership_of(volunteer).active


def test_ending_a_membership_twice_changes_nothing_the_second_time(story, volunteer):
    membership = membership_of(volunteer)
    services.membership_end(membership_id=membership.pk, user=volunteer)
    services.membership_end(membership_id=membership.pk, user=volunteer)
    assert Event.objects.filter(type="team.member_left").count() == 1


def test_a_leader_who_leaves_no_longer_leads_the_team(story):
    services.membership_end(membership_id=membership_of(story.team_leader).pk, user=story.dispatcher)
    story.team.refresh_from_db()
    assert story.team.leader is None


def test_an_unknown_membership_is_not_found(story):
    with pytest.raises(NotFound):
        services.membership_end(membership_id=999_999, user=story.dispatcher)
