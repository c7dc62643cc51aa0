"""Directed, broadcast and cascade dispatch; what happens when offers are declined or expire."""

from datetime import timedelta

import pytest
from django.utils import timezone

from common.errors import InvalidInput
from dispatch import services
from dispatch.choices import DispatchMode, Level, OfferState, OrderState
from dispatch.models import Offer

from .. import factories as f


@pytest.fixture
def third_team(station, category):
    return f.TeamFactory(unit=station, categories=[category], home_lat=28.72)


def test_directed_dispatch_offers_the_order_to_one_team(story):
    order = story.dispatching()
    offers = Offer.objects.filter(order=order)
    assert [(o.team_id, o.state, o.mode) for o in offers] == [(story.team.pk, "pending", "directed")]
    assert offers[0].expires_at > timezone.now()


def test_broadcast_offers_every_team_at_once(story, other_team, third_team):
    order = story.dispatching(teams=[story.team, other_team, third_team], mode=DispatchMode.BROADCAST)
    assert set(order.offers.filter(state="pending").values_list("team_id", flat=True)) == {
        story.team.pk,
        other_team.pk,
        third_team.pk,
    }


def test_cascade_offers_the_next_team_when_one_declines(story, other_team, other_leader, third_team):
    order = story.dispatching(teams=[story.team, other_team, third_team], mode=DispatchMode.CASCADE)
    assert list(order.offers.values_list("team_id", flat=True)) == [story.team.pk]
    services.offer_decline(offer_id=story.offer_of(order).pk, user=story.team_leader, note="人手不够")
    pending = order.offers.get(state=OfferState.PENDING)
    assert pending.team_id == other_team.pk and pending.rank == 2
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING and order.cascade_queue == [third_team.pk]


def test_cascade_moves_on_when_an_offer_expires(story, other_team):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.CASCADE)
    offer = story.offer_of(order)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.offer_expire(offer_id=offer.pk)
    assert Offer.objects.get(pk=offer.pk).state == OfferState.EXPIRED
    assert order.offers.get(state=OfferState.PENDING).team_id == other_team.pk


def test_an_offer_is_not_expired_before_its_time(story):
    order = story.dispatching()
    services.offer_expire(offer_id=story.offer_of(order).pk)
    assert story.offer_of(order).state == OfferState.PENDING


def test_expiring_twice_changes_nothing_the_second_time(story):
    order = story.dispatching()
    offer = story.offer_of(order)
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    services.offer_expire(offer_id=offer.pk)
    log_size = order.transitions.count()
    services.offer_expire(offer_id=offer.pk)
    assert order.transitions.count() == log_size


def test_when_every_offer_is_declined_the_order_returns_to_the_queue_one_level_up(story, other_team, other_leader):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)
    services.offer_decline(offer_id=story.offer_of(order).pk, user=story.team_leader)
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING  # the other team may still accept
    services.offer_decline(offer_id=story.offer_of(order, other_team).pk, user=other_leader)
    order.refresh_from_db()
    assert (order.state, order.level) == (OrderState.SUBMITTED, Level.INSTITUTE)
    assert order.transitions.filter(action="requeue").exists()


def test_the_level_stops_at_the_center(story):
    order = story.placed()
    for _ in range(4):
        services.order_dispatch(order_id=order.pk, user=story.dispatcher, mode="directed", team_ids=[story.team.pk])
        services.offer_decline(offer_id=story.offer_of(order).pk, user=story.team_leader)
    order.refresh_from_db()
    assert order.level == Level.CENTER


def test_recall_withdraws_every_pending_offer(story, other_team):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)
    services.order_recall(order_id=order.pk, user=story.dispatcher, note="改派")
    order.refresh_from_db()
    assert order.state == OrderState.SUBMITTED and order.level == Level.STATION
    assert set(order.offers.values_list("state", flat=True)) == {OfferState.WITHDRAWN}


def test_abandon_returns_the_order_to_the_queue_and_frees_the_team(story):
    order = story.accepted()
    services.order_abandon(order_id=order.pk, user=story.team_leader, note="车坏了")
    order.refresh_from_db()
    assert order.state == OrderState.SUBMITTED and order.team_id is None


@pytest.mark.parametrize(
    ("mode", "teams", "field"),
    [
        ("directed", "two", "teams"),
        ("sideways", "one", "mode"),
        ("broadcast", "none", "teams"),
        ("broadcast", "twice", "teams"),
        ("broadcast", "wrong_category", "teams"),
        ("broadcast", "inactive", "teams"),
    ],
)
def test_a_bad_dispatch_names_the_field_and_changes_nothing(story, other_team, category, station, mode, teams, field):
    order = story.placed()
    other_category_team = f.TeamFactory(unit=station, categories=[f.CategoryFactory()])
    inactive = f.TeamFactory(unit=station, categories=[category], active=False)
    team_ids = {
        "one": [story.team.pk],
        "two": [story.team.pk, other_team.pk],
        "none": [],
        "twice": [story.team.pk, story.team.pk],
        "wrong_category": [other_category_team.pk],
        "inactive": [inactive.pk],
    }[teams]
    with pytest.raises(InvalidInput) as error:
        services.order_dispatch(order_id=order.pk, user=story.dispatcher, mode=mode, team_ids=team_ids)
    assert field in error.value.fields
    order.refresh_from_db()
    assert order.state == OrderState.SUBMITTED and not order.offers.exists()


def test_auto_close_waits_out_the_rating_period(story, settings):
    order = story.completed()
    services.order_auto_close(order_id=order.pk)
    order.refresh_from_db()
    assert order.state == OrderState.COMPLETED
    settings.AUTO_CLOSE_AFTER = timedelta(0)
    services.order_auto_close(order_id=order.pk)
    order.refresh_from_db()
    assert order.state == OrderState.CLOSED and order.rating is None
