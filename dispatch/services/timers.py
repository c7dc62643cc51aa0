"""Timers (DESIGN §7): escalation, reminders and notifications; each is safe to run twice and safe to run late."""

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from realtime import events
from realtime import groups as g

from .. import notifications
from ..choices import OfferState, OrderState
from ..models import Notification, Offer, Order
from ..selectors import (
    responsible_unit,
)
from .core import lock_row, order_summary, order_transition
from .offers import withdraw_pending


def order_escalate(*, order_id: int, level: int | None = None) -> Order | None:
    """Move an order not accepted in time up one tier, or remind the top tier it is still waiting.

    `level` is the level the caller saw: a repeated message (a worker killed after the commit)
    finds the order already higher and does nothing, so the escalation happens exactly once.
    """
    with transaction.atomic():
        order = lock_row(Order, "station", "citizen", pk=order_id)
        if order is None or (level is not None and order.level != level):
            return order
        if order.state not in (OrderState.SUBMITTED, OrderState.DISPATCHING) or not order.is_past_escalation_time():
            return order
        if not order.is_below_center():
            return _remind_waiting(order)
        withdraw_pending(order, by=None, note=gettext_noop("Not accepted in time; escalated."))
        order_transition(
            order,
            "escalate",
            by=None,
            note=gettext_noop("Not accepted in time; escalated to the next level."),
            event_payload={"from_level": order.level},
        )
    return order


def _remind_waiting(order: Order) -> Order:
    """At the top level there is no one above: remind the center once per escalation period."""
    now = timezone.now()
    if order.reminded_at and now - order.reminded_at < settings.ESCALATE_AFTER:
        return order
    order.reminded_at = now
    order.save(update_fields=["reminded_at", "updated_at"])
    events.publish(
        g.units_of_path(order.station.path), "order.waiting", {"order": order_summary(order)}, order_id=order.pk
    )
    notifications.for_event("order.waiting", order, unit=responsible_unit(order))
    return order


def offer_remind(*, offer_id: int) -> Offer | None:
    """Nudge a team whose offer is still open late in its time (once per offer)."""
    with transaction.atomic():
        offer = lock_row(Offer, "order", "order__category", pk=offer_id)
        if offer is None or offer.state != OfferState.PENDING or offer.reminded_at is not None:
            return offer
        if timezone.now() < offer.remind_at:
            return offer
        offer.reminded_at = timezone.now()
        offer.save(update_fields=["reminded_at"])
        notifications.for_event("offer.reminder", offer.order, offer=offer)
    return offer


def notification_send(*, notification_id: int) -> Notification | None:
    """Send one notification through every backend and mark it sent; a sent one is not sent again."""
    try:
        # The row stays locked while the backends run, so two workers never send it twice.
        with transaction.atomic():
            n = lock_row(Notification, "user", pk=notification_id)
            if n is None or n.sent_at is not None:
                return n
            notifications.deliver(n)
            n.attempts += 1
            n.sent_at, n.error = timezone.now(), ""
            n.save(update_fields=["attempts", "error", "sent_at"])
    except Exception as exc:
        # Written after the rollback, so the failed try is counted and the sweep gives up in time.
        Notification.objects.filter(pk=notification_id, sent_at__isnull=True).update(
            attempts=F("attempts") + 1, error=repr(exc)[:1000]
        )
        raise
    return n
