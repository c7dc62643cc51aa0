"""dispatch.visibility: what of an order each viewer may read."""

import pytest

from dispatch import services
from dispatch.choices import DispatchMode
from dispatch.models import Order
from dispatch.visibility import CONTACT_FIELDS, OWNER_FIELDS, Viewer, sees_private_details

pytestmark = pytest.mark.django_db

EVERY_FIELD = dict.fromkeys((*CONTACT_FIELDS, *OWNER_FIELDS), "x")


def hidden_from(user, order: Order) -> set[str]:
    data = Viewer.of(user).redact(order, dict(EVERY_FIELD))
    return {name for name, value in data.items() if value is None}


@pytest.fixture
def broadcast(story, other_team) -> Order:
    return story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)


def test_a_team_offered_the_order_reads_neither_contact_nor_place_nor_the_code(story, broadcast):
    assert hidden_from(story.team_leader, broadcast) == {*CONTACT_FIELDS, *OWNER_FIELDS}


def test_the_team_that_accepted_reads_the_contact_but_not_the_code(story, broadcast):
    services.offer_accept(offer_id=story.offer_of(broadcast).pk, user=story.team_leader)
    order = Order.objects.select_related("station", "citizen").get(pk=broadcast.pk)

    assert hidden_from(story.team_leader, order) == set(OWNER_FIELDS)
    assert sees_private_details(story.team_leader, order)


def test_the_citizen_and_the_orders_dispatcher_read_everything(story, broadcast, station_dispatcher):
    for user in (story.citizen, story.dispatcher, station_dispatcher):
        assert hidden_from(user, broadcast) == set()


def test_a_dispatcher_of_another_branch_is_no_staff_of_the_order(broadcast, other_dispatcher):
    assert not Viewer.of(other_dispatcher).is_staff_of(broadcast)
    assert not sees_private_details(other_dispatcher, broadcast)


def test_a_team_reads_only_its_own_offers_and_their_history(story, broadcast, other_team, other_leader):
    services.offer_accept(offer_id=story.offer_of(broadcast).pk, user=story.team_leader)
    viewer = Viewer.of(other_leader)

    offers = viewer.offers_seen(broadcast, broadcast.offers.all())
    history = viewer.history_seen(broadcast, broadcast.transitions.select_related("offer"))

    assert {o.team_id for o in offers} == {other_team.pk}
    assert {t.offer.team_id for t in history if t.offer is not None} == {other_team.pk}
    assert not any(t.internal for t in history)
    assert len(Viewer.of(story.citizen).history_seen(broadcast, broadcast.transitions.all())) > len(history)
