"""GET /orders/{id}/events/ answers what the user's own stream carried: a team reads its own offers only."""

import pytest

from dispatch import services

pytestmark = pytest.mark.django_db


def events_of(api, user, order) -> list[dict]:
    response = api(user).get(f"/api/v1/orders/{order.pk}/events/")
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def lost_broadcast(story, other_team):
    order = story.dispatching(teams=[story.team, other_team], mode="broadcast")
    services.offer_accept(offer_id=story.offer_of(order).pk, user=story.team_leader)
    return order


def test_a_team_that_lost_a_broadcast_reads_only_its_own_offers_events(api, lost_broadcast, other_team, other_leader):
    seen = events_of(api, other_leader, lost_broadcast)

    assert [e["type"] for e in seen] == ["offer.created", "offer.withdrawn"]
    assert {e["offer"]["team"] for e in seen} == {other_team.pk}
    assert not any("teams" in e for e in seen)


def test_the_winning_team_reads_its_offer_and_the_order_from_its_acceptance(api, story, lost_broadcast):
    seen = events_of(api, story.team_leader, lost_broadcast)

    assert [e["type"] for e in seen] == ["offer.created", "offer.accepted", "order.accepted"]
    assert {e["offer"]["team"] for e in seen if e["type"].startswith("offer.")} == {story.team.pk}


def test_the_citizen_and_the_dispatcher_read_the_orders_whole_story(api, story, lost_broadcast):
    citizen = [e["type"] for e in events_of(api, story.citizen, lost_broadcast)]
    dispatcher = [e["type"] for e in events_of(api, story.dispatcher, lost_broadcast)]

    assert citizen == ["order.placed", "order.dispatched", "order.accepted"]
    assert dispatcher.count("offer.created") == 2 and "order.dispatched" in dispatcher


def test_after_skips_what_the_client_already_has(api, story, lost_broadcast):
    first, *rest = events_of(api, story.citizen, lost_broadcast)

    response = api(story.citizen).get(f"/api/v1/orders/{lost_broadcast.pk}/events/", {"after": first["seq"]})

    assert [e["seq"] for e in response.json()] == [e["seq"] for e in rest]
