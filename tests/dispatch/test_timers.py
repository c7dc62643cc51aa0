"""Timers: the sweep expires offers, cascades, escalates, reminds and auto-closes; each exactly once."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from dispatch import services, sweeper, tasks
from dispatch.choices import DispatchMode, Level, OfferState, OrderState
from dispatch.models import Notification, Offer, Order
from dispatch.selectors import due_work
from realtime.models import Event

from .. import factories as f


@pytest.fixture
def sweep(django_capture_on_commit_callbacks):
    """One beat of the periodic sweep, with what it leaves for after commit (eager tasks here)."""

    def run() -> dict[str, int]:
        with django_capture_on_commit_callbacks(execute=True):
            return tasks.sweep()

    return run


def age(order: Order, by: timedelta) -> None:
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - by)


def lapse(offer: Offer) -> None:
    Offer.objects.filter(pk=offer.pk).update(expires_at=timezone.now() - timedelta(seconds=1))


def test_the_sweep_expires_a_lapsed_offer_and_the_cascade_moves_on(story, other_team, sweep):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.CASCADE)
    lapse(story.offer_of(order))
    assert sweep()["offers_to_expire"] == 1
    assert order.offers.get(team=story.team).state == OfferState.EXPIRED
    assert order.offers.get(state=OfferState.PENDING).team_id == other_team.pk
    assert sweep()["offers_to_expire"] == 0


def test_when_the_last_offer_lapses_the_order_climbs_a_level(story, sweep):
    order = story.dispatching()
    lapse(story.offer_of(order))
    sweep()
    order.refresh_from_db()
    assert (order.state, order.level) == (OrderState.SUBMITTED, Level.INSTITUTE)
    assert order.escalated_at is not None


def test_an_order_not_accepted_in_time_escalates_and_its_offers_are_withdrawn(story, institute, sweep):
    institute_dispatcher = f.staff(institute)
    order = story.dispatching()
    age(order, settings.ESCALATE_AFTER + timedelta(minutes=1))
    assert sweep()["orders_to_escalate"] == 1
    order.refresh_from_db()
    assert (order.state, order.level) == (OrderState.SUBMITTED, Level.INSTITUTE)
    assert order.offers.get().state == OfferState.WITHDRAWN
    assert Event.objects.filter(order_id=order.pk, type="order.escalated").count() == 1
    told = Notification.objects.filter(order=order, kind=Notification.Kind.ORDER_ESCALATED)
    assert [n.user for n in told] == [institute_dispatcher]
    assert told.get().sent_at is not None
    # The clock starts again at the new level: nothing more is due.
    assert sweep()["orders_to_escalate"] == 0


def test_escalation_happens_once_however_often_it_is_asked(story):
    order = story.placed()
    age(order, settings.ESCALATE_AFTER + timedelta(minutes=1))
    services.order_escalate(order_id=order.pk, level=Level.STATION)
    services.order_escalate(order_id=order.pk, level=Level.STATION)  # the same message, delivered again
    services.order_escalate(order_id=order.pk)  # and a sweep that raced it
    order.refresh_from_db()
    assert order.level == Level.INSTITUTE
    assert order.transitions.filter(action="escalate").count() == 1


def test_an_order_is_not_escalated_before_its_time(story):
    order = story.placed()
    services.order_escalate(order_id=order.pk, level=Level.STATION)
    assert Order.objects.get(pk=order.pk).level == Level.STATION


def test_at_the_top_the_center_is_reminded_once_per_period(story, center, sweep):
    center_dispatcher = story.dispatcher
    order = story.placed()
    Order.objects.filter(pk=order.pk).update(level=Level.CENTER)
    age(order, settings.ESCALATE_AFTER + timedelta(minutes=1))
    sweep()
    sweep()
    order.refresh_from_db()
    assert order.level == Level.CENTER and order.reminded_at is not None
    waiting = Notification.objects.filter(order=order, kind=Notification.Kind.ORDER_WAITING)
    assert [n.user for n in waiting] == [center_dispatcher]
    assert Event.objects.filter(order_id=order.pk, type="order.waiting").count() == 1


def test_a_team_is_reminded_of_an_open_offer_late_in_its_time_once(story, sweep):
    order = story.dispatching()
    offer = story.offer_of(order)
    services.offer_remind(offer_id=offer.pk)
    assert Offer.objects.get(pk=offer.pk).reminded_at is None  # too early
    Offer.objects.filter(pk=offer.pk).update(
        created_at=timezone.now() - settings.OFFER_EXPIRY * 0.9, expires_at=timezone.now() + settings.OFFER_EXPIRY * 0.1
    )
    assert sweep()["offers_to_remind"] == 1
    assert sweep()["offers_to_remind"] == 0
    reminders = Notification.objects.filter(order=order, kind=Notification.Kind.OFFER_REMINDER)
    assert [n.user for n in reminders] == [story.team_leader]


def test_a_completed_order_left_unrated_closes_after_the_rating_period(story, sweep):
    order = story.completed()
    assert sweep()["orders_to_close"] == 0
    Order.objects.filter(pk=order.pk).update(completed_at=timezone.now() - settings.AUTO_CLOSE_AFTER)
    assert sweep()["orders_to_close"] == 1
    assert Order.objects.get(pk=order.pk).state == OrderState.CLOSED


def test_the_sweep_sends_a_notification_whose_message_was_lost(story, sweep):
    order = story.placed()
    note = Notification.objects.create(
        user=story.citizen, kind=Notification.Kind.ORDER_ACCEPTED, order=order, text="已接单"
    )
    assert sweep()["notifications_to_send"] == 0  # its own message still has time
    Notification.objects.filter(pk=note.pk).update(created_at=timezone.now() - timedelta(minutes=5))
    assert sweep()["notifications_to_send"] == 1
    note.refresh_from_db()
    assert note.sent_at is not None and note.attempts == 1
    services.notification_send(notification_id=note.pk)
    note.refresh_from_db()
    assert note.attempts == 1  # a sent notification is never sent again


class Broken:
    def send(self, notification) -> None:
        raise ConnectionError("gateway down")


def test_a_failing_backend_leaves_the_notification_unsent_for_the_next_try(story, settings):
    from dispatch import notifications

    settings.NOTIFICATION_BACKENDS = ["tests.dispatch.test_timers.Broken"]
    notifications.backends.cache_clear()
    try:
        order = story.placed()
        note = Notification.objects.create(user=story.citizen, kind="order_accepted", order=order, text="已接单")
        with pytest.raises(ConnectionError):
            services.notification_send(notification_id=note.pk)
        note.refresh_from_db()
        assert note.sent_at is None and note.attempts == 1 and "gateway down" in note.error
    finally:
        notifications.backends.cache_clear()


def test_people_hear_of_the_changes_that_matter_to_them(story, institute, django_capture_on_commit_callbacks):
    institute_dispatcher = f.staff(institute)
    with django_capture_on_commit_callbacks(execute=True):
        order = story.closed()
    kinds = {(n.kind, n.user_id) for n in Notification.objects.filter(order=order)}
    citizen, leader = story.citizen.pk, story.team_leader.pk
    assert kinds == {
        ("offer_new", leader),
        ("order_accepted", citizen),
        ("order_started", citizen),
        ("order_completed", citizen),
    }
    assert not Notification.objects.filter(sent_at__isnull=True).exists()
    low = story.completed()
    from requests_app import services as intake

    intake.order_evaluate(order_id=low.pk, user=story.citizen, rating=1, comment="没人来")
    assert Notification.objects.get(order=low, kind="low_rating").user == institute_dispatcher


def test_due_work_reads_nothing_when_nothing_is_due(story):
    story.dispatching()
    assert not any(due_work().counts().values())


def test_the_in_process_sweep_runs_the_same_sweep(story):
    order = story.dispatching()
    lapse(story.offer_of(order))
    counts = sweeper.sweep_once()
    assert counts["offers_to_expire"] == 1
    assert Order.objects.get(pk=order.pk).level == Level.INSTITUTE
