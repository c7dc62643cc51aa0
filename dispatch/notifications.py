"""Notifications (DESIGN §7): who hears of which change, and the pluggable ways to reach them.

Services call `for_event` inside their transaction; it writes `Notification` rows and
enqueues their sending after commit, so a request never waits for a mail server or an
SMS gateway, a rolled-back change notifies nobody, and nothing is lost if a worker dies
(the sweep sends any row still unsent).

A backend is a class with `send(notification) -> None` that raises on failure, listed
by dotted path in `NOTIFICATION_BACKENDS`. Console and e-mail are built in; an SMS
gateway is one more class — see `SmsBackend`.
"""

import logging
from collections.abc import Iterable
from functools import cache
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.core.mail import send_mail
from django.utils import translation
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _

from volunteers.models import Team

from . import outbox
from .choices import Role
from .models import Notification, Offer, Order, StaffProfile, Unit

logger = logging.getLogger(__name__)

Kind = Notification.Kind


class ConsoleBackend:
    """Writes each notification to the log (the embedded default: `make run` shows them)."""

    def send(self, notification: Notification) -> None:
        logger.warning(
            "notification to %s: %s", notification.user or notification.phone or "(nobody)", notification.text
        )


class EmailBackend:
    """Sends through Django's e-mail settings (EMAIL_BACKEND, EMAIL_HOST, …) to users with an address."""

    def send(self, notification: Notification) -> None:
        email = getattr(notification.user, "email", "")
        if email:
            send_mail(
                subject=notification.get_kind_display(),
                message=notification.text,
                from_email=None,
                recipient_list=[email],
            )


class SmsBackend:
    """The extension point for an SMS gateway: subclass, implement `send_sms`, list the subclass
    in NOTIFICATION_BACKENDS. The phone is the recipient's account name (phones log in with their
    number) or, for an order placed on a citizen's behalf, the order's contact phone."""

    def send(self, notification: Notification) -> None:
        phone = notification.phone or getattr(notification.user, "username", "")
        if phone:
            self.send_sms(phone, notification.text)

    def send_sms(self, phone: str, text: str) -> None:
        raise NotImplementedError("Connect an SMS gateway by overriding send_sms().")


@cache
def backends() -> list[Any]:
    return [import_string(path)() for path in settings.NOTIFICATION_BACKENDS]


def deliver(notification: Notification) -> None:
    """Hand one notification to every backend; raises if any fails (the task retries)."""
    for backend in backends():
        backend.send(notification)


# --- who hears what -----------------------------------------------------------------


def _citizen(order: Order) -> tuple[Account | None, str]:
    if order.citizen is not None:
        return order.citizen.user, ""
    # Placed by station staff for a citizen without a phone app: reach the contact phone.
    return None, order.contact_phone


def _team_leader(team_id: int) -> list[Account]:
    team = Team.objects.select_related("leader").filter(pk=team_id).first()
    return [team.leader] if team and team.leader else []


def _dispatchers(unit: Unit) -> list[Account]:
    return [
        profile.user
        for profile in StaffProfile.objects.filter(unit=unit, user__groups__name=Role.DISPATCHER, user__is_active=True)
        .select_related("user")
        .distinct()
    ]


def _texts(order: Order) -> dict[str, str]:
    n = {"id": order.pk, "category": order.category.name}
    return {
        Kind.ORDER_ACCEPTED: _("Your order #%(id)s (%(category)s) was accepted; the volunteers will contact you.") % n,
        Kind.ORDER_STARTED: _("The volunteers for your order #%(id)s (%(category)s) are on site.") % n,
        Kind.ORDER_COMPLETED: _("Your order #%(id)s (%(category)s) is complete. Please rate the service.") % n,
        Kind.OFFER_NEW: _("New order #%(id)s (%(category)s) is offered to your team. Please answer soon.") % n,
        Kind.OFFER_REMINDER: _("Order #%(id)s (%(category)s) is still waiting for your team's answer.") % n,
        Kind.OFFER_WITHDRAWN: _("Order #%(id)s (%(category)s) is no longer offered to your team.") % n,
        Kind.ORDER_ESCALATED: _("Order #%(id)s (%(category)s) was not accepted in time and now needs you.") % n,
        Kind.ORDER_WAITING: _("Order #%(id)s (%(category)s) is still not accepted by any team.") % n,
        Kind.LOW_RATING: _("Order #%(id)s (%(category)s) was rated %(rating)s★.") % {**n, "rating": order.rating},
        Kind.UNRESOLVED: _("The citizen says order #%(id)s (%(category)s) was not solved (%(rating)s★).")
        % {**n, "rating": order.rating},
    }


def notify(
    kind: str, order: Order, *, users: Iterable[Account | None] = (), phones: Iterable[str] = ()
) -> list[Notification]:
    """Write the notifications and send them after commit."""
    # Stored in the platform's language: the recipient may be an SMS number with no browser to ask.
    with translation.override(settings.LANGUAGE_CODE):
        text = _texts(order)[kind]
    rows = [Notification(user=u, kind=kind, order=order, text=text) for u in dict.fromkeys(users) if u is not None]
    rows += [Notification(phone=p, kind=kind, order=order, text=text) for p in dict.fromkeys(phones) if p]
    if not rows:
        return []
    rows = Notification.objects.bulk_create(rows)
    for n in rows:
        outbox.enqueue_after_commit("dispatch.tasks.send_notification", n.pk)
    return rows


def for_event(event_type: str, order: Order, *, offer: Offer | None = None, unit: Unit | None = None) -> None:
    """The notifications one event causes (DESIGN §7: only changes that matter to a person)."""
    if event_type in ("order.accepted", "order.started", "order.completed"):
        user, phone = _citizen(order)
        kind = {
            "order.accepted": Kind.ORDER_ACCEPTED,
            "order.started": Kind.ORDER_STARTED,
            "order.completed": Kind.ORDER_COMPLETED,
        }[event_type]
        notify(kind, order, users=[user], phones=[phone])
    elif event_type == "offer.created" and offer is not None:
        notify(Kind.OFFER_NEW, order, users=_team_leader(offer.team_id))
    elif event_type == "offer.withdrawn" and offer is not None:
        notify(Kind.OFFER_WITHDRAWN, order, users=_team_leader(offer.team_id))
    elif event_type == "offer.reminder" and offer is not None:
        notify(Kind.OFFER_REMINDER, order, users=_team_leader(offer.team_id))
    elif event_type == "order.escalated" and unit is not None:
        notify(Kind.ORDER_ESCALATED, order, users=_dispatchers(unit))
    elif event_type == "order.waiting" and unit is not None:
        notify(Kind.ORDER_WAITING, order, users=_dispatchers(unit))
    elif event_type == "order.evaluated" and order.resolved is False:
        notify(Kind.UNRESOLVED, order, users=_dispatchers(order.station.parent or order.station))
    elif event_type == "order.evaluated" and order.rating is not None and order.rating <= settings.LOW_RATING_MAX:
        notify(Kind.LOW_RATING, order, users=_dispatchers(order.station.parent or order.station))
