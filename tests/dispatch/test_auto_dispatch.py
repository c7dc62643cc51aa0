"""Auto-dispatch per unit: new orders go out by themselves; staff can always step in."""

import pytest

from dispatch import services
from dispatch.choices import DispatchMode, Level, OfferState, OrderState
from dispatch.models import Order

from .. import factories as f


@pytest.fixture
def third_team(station, category):
    return f.TeamFactory(unit=station, categories=[category], home_lat=28.705)


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service and what it leaves for after commit (the auto-dispatch task, eager here)."""

    def run(service, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            result = service(*args, **kwargs)
        return Order.objects.get(pk=result.pk) if isinstance(result, Order) else result

    return run


def auto(unit, mode: str, teams: int = 3) -> None:
    unit.auto_dispatch, unit.auto_dispatch_teams = mode, teams
    unit.save()


def test_an_order_is_not_dispatched_by_itself_unless_its_unit_says_so(story, committed):
    order = committed(story.placed)
    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED


def test_a_new_order_goes_to_the_best_team_when_its_station_auto_dispatches_directed(
    story, station, other_team, committed
):
    auto(station, DispatchMode.DIRECTED)
    order = committed(story.placed)
    assert order.state == OrderState.DISPATCHING and order.mode == DispatchMode.DIRECTED
    offer = order.offers.get()
    assert offer.team_id == story.team.pk  # at the order's door, the other team 1 km off
    assert order.transitions.get(action="dispatch").by is None


def test_an_institute_setting_covers_its_stations_in_broadcast(story, institute, other_team, third_team, committed):
    auto(institute, DispatchMode.BROADCAST, teams=2)
    order = committed(story.placed)
    assert order.mode == DispatchMode.BROADCAST
    assert order.offers.filter(state=OfferState.PENDING).count() == 2


def test_cascade_auto_dispatch_queues_the_rest_in_rank_order(story, station, other_team, third_team, committed):
    auto(station, DispatchMode.CASCADE, teams=3)
    order = committed(story.placed)
    assert order.offers.count() == 1 and len(order.cascade_queue) == 2


def test_staff_can_recall_an_auto_dispatched_order_and_send_it_elsewhere(story, station, other_team, committed):
    auto(station, DispatchMode.DIRECTED)
    order = committed(story.placed)
    services.order_recall(order_id=order.pk, user=story.dispatcher, note="改派")
    services.order_dispatch(order_id=order.pk, user=story.dispatcher, mode="directed", team_ids=[other_team.pk])
    order.refresh_from_db()
    assert order.offers.get(state=OfferState.PENDING).team_id == other_team.pk


def test_an_order_with_no_candidate_waits_for_the_dispatchers(story, station, committed):
    auto(station, DispatchMode.DIRECTED)
    story.team.categories.clear()
    services.matching_index_refresh(team_ids=[story.team.pk])
    order = committed(story.placed)
    assert order.state == OrderState.SUBMITTED and not order.offers.exists()


def test_when_every_team_declines_the_order_climbs_and_goes_out_again_without_them(
    story, station, institute, other_team, other_leader, committed
):
    auto(institute, DispatchMode.DIRECTED)
    order = committed(story.placed)
    first = order.offers.get()
    committed(services.offer_decline, offer_id=first.pk, user=story.team_leader)
    order.refresh_from_db()
    assert order.level == Level.INSTITUTE and order.state == OrderState.DISPATCHING
    assert order.offers.get(state=OfferState.PENDING).team_id == other_team.pk


def test_auto_dispatch_of_an_order_no_longer_waiting_does_nothing(story, station):
    order = story.dispatching()
    auto(station, DispatchMode.DIRECTED)
    services.order_auto_dispatch(order_id=order.pk)
    assert Order.objects.get(pk=order.pk).offers.count() == 1


def test_the_sweep_makes_up_for_a_lost_auto_dispatch_message_once(story, station, django_capture_on_commit_callbacks):
    from datetime import timedelta

    from django.utils import timezone

    from dispatch import tasks

    order = story.placed()  # its after-commit message never ran: as if lost
    auto(station, DispatchMode.DIRECTED)
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep()["orders_to_auto_dispatch"] == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.DISPATCHING
    services.order_recall(order_id=order.pk, user=story.dispatcher, note="人工处理")
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep()["orders_to_auto_dispatch"] == 0  # a recall by staff is not undone
    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED
