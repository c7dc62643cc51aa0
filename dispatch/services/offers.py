"""Offers: made by a dispatch, answered by a team (exactly one accept wins), expired by a timer."""

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_fsm import can_proceed
from geopy.distance import geodesic

from common.errors import Conflict, Forbidden, InvalidTransition, NotFound
from realtime import events
from realtime import groups as g
from volunteers.models import Team

from .. import notifications, outbox
from ..choices import DispatchMode, OfferState, OrderState
from ..models import Offer, Order, Transition
from ..selectors import (
    pending_offers,
    team_ids_of,
    team_load,
)
from .core import ensure_can, lock_order, order_summary, order_transition


def offer_transition(offer: Offer, action: str, *, by: Account | None, note: str = "", **kwargs: Any) -> Offer:
    method = getattr(offer, action)
    if not can_proceed(method):
        raise InvalidTransition(
            _("Offer %(id)s is %(state)s; it cannot be %(action)s.")
            % {"id": offer.pk, "state": offer.get_state_display(), "action": action}
        )
    before = offer.state
    method(**kwargs)
    offer.save()
    _offer_record(offer, action=action, from_state=before, by=by, note=note)
    return offer


OFFER_EVENTS = {
    "create": "offer.created",
    "accept": "offer.accepted",
    "decline": "offer.declined",
    "expire": "offer.expired",
    "withdraw": "offer.withdrawn",
}


def _offer_record(offer: Offer, *, action: str, from_state: str, by: Account | None, note: str = "") -> None:
    """Log an offer's change and tell its team and the dispatchers above the order's station."""
    order = offer.order
    Transition.objects.create(
        order=order,
        offer=offer,
        action=f"offer_{action}",
        from_state=from_state,
        to_state=offer.state,
        by=by,
        note=note,
    )
    events.publish(
        [g.team(offer.team_id), *g.units_of_path(order.station.path)],
        OFFER_EVENTS[action],
        {"offer": offer_summary(offer), "order": order_summary(order)},
        order_id=order.pk,
    )
    notifications.for_event(OFFER_EVENTS[action], order, offer=offer)


def offer_summary(offer: Offer) -> dict[str, Any]:
    return {
        "id": offer.pk,
        "order": offer.order_id,
        "team": offer.team_id,
        "state": offer.state,
        "mode": offer.mode,
        "expires_at": offer.expires_at,
        "distance_km": offer.distance_km,
    }


def withdraw_pending(order: Order, *, by: Account | None, note: str = "") -> None:
    for offer in pending_offers(order).select_for_update(no_key=True):
        offer.order = order
        offer_transition(offer, "withdraw", by=by, note=note)


def offer_create(order: Order, team: Team, *, mode: str, rank: int) -> Offer:
    offer = Offer.objects.create(
        order=order,
        team=team,
        mode=mode,
        rank=rank,
        distance_km=round(geodesic((order.lat, order.lng), (team.home_lat, team.home_lng)).km, 3),
        expires_at=timezone.now() + settings.OFFER_EXPIRY,
    )
    _offer_record(offer, action="create", from_state="", by=None)
    _schedule_offer_timers(offer)
    return offer


def _schedule_offer_timers(offer: Offer) -> None:
    """Expire (and remind) on time; the periodic sweep catches any message that gets lost."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # no broker to hold a timer: the in-process sweep does it
    outbox.enqueue_after_commit("dispatch.tasks.remind_offer", offer.pk, eta=offer.remind_at)
    outbox.enqueue_after_commit("dispatch.tasks.expire_offer", offer.pk, eta=offer.expires_at)


def _move_on(order: Order, *, by: Account | None) -> None:
    """After an offer closed without acceptance: next team of a cascade, or back to the queue one level up."""
    if order.state != OrderState.DISPATCHING or pending_offers(order).exists():
        return
    queue = list(order.cascade_queue)
    while queue:
        team = Team.objects.filter(pk=queue.pop(0), active=True).first()
        if team is None:
            continue
        order.cascade_queue = queue
        order.save(update_fields=["cascade_queue", "updated_at"])
        rank = order.offers.count() + 1
        offer_create(order, team, mode=DispatchMode.CASCADE, rank=rank)
        return
    order_transition(order, "requeue", by=by, note=gettext_noop("Every offer was declined or expired."))


def _offer_for_member(offer_id: int, user: Account) -> Offer:
    offer = Offer.objects.filter(pk=offer_id).only("id", "order_id", "team_id").first()
    if offer is None:
        raise NotFound(_("Offer %(id)s does not exist.") % {"id": offer_id})
    if offer.team_id not in team_ids_of(user):
        raise Forbidden(_("Only the team the order was offered to may answer the offer."))
    return offer


def _lock_offer(offer: Offer) -> tuple[Order, Offer]:
    # Order first, then offer (then team): every writer locks in this order, so none deadlocks.
    order = lock_order(offer.order_id)
    offer = Offer.objects.select_for_update(no_key=True).get(pk=offer.pk)
    offer.order = order
    return order, offer


def offer_accept(*, offer_id: int, user: Account) -> Order:
    """The team takes the order. Exactly one accept wins; the others' offers are withdrawn."""
    offer = _offer_for_member(offer_id, user)
    with transaction.atomic():
        order, offer = _lock_offer(offer)
        if offer.state != OfferState.PENDING:
            if order.state in (OrderState.ACCEPTED, OrderState.IN_SERVICE, OrderState.COMPLETED, OrderState.CLOSED):
                raise Conflict(
                    _("Order %(id)s was already accepted by another team.") % {"id": order.pk},
                    code="already_accepted",
                )
            raise InvalidTransition(
                _("Offer %(id)s is %(state)s; it cannot be accepted.")
                % {"id": offer.pk, "state": offer.get_state_display()}
            )
        if offer.is_past_expiry():
            raise Conflict(_("Offer %(id)s has expired.") % {"id": offer.pk}, code="offer_expired")
        ensure_can(order, "accept")
        team = Team.objects.select_for_update(no_key=True).get(pk=offer.team_id)
        if team_load(team.pk) >= team.capacity:
            raise Conflict(
                _("Team %(team)s is at capacity (%(cap)d orders).") % {"team": team.name, "cap": team.capacity},
                code="team_at_capacity",
            )
        offer_transition(offer, "accept", by=user, responder=user)
        withdraw_pending(order, by=user, note=gettext_noop("Another team accepted first."))
        order_transition(order, "accept", by=user, team_id=team.pk, event_payload={"offer": offer.pk})
    return order


def offer_decline(*, offer_id: int, user: Account, note: str = "") -> Order:
    offer = _offer_for_member(offer_id, user)
    with transaction.atomic():
        order, offer = _lock_offer(offer)
        offer_transition(offer, "decline", by=user, note=note, responder=user)
        _move_on(order, by=user)
    return order


def offer_expire(*, offer_id: int) -> Order | None:
    """Expire a pending offer whose time is up; safe to call twice (the second call does nothing)."""
    offer = Offer.objects.filter(pk=offer_id).only("id", "order_id").first()
    if offer is None:
        return None
    with transaction.atomic():
        order, offer = _lock_offer(offer)
        if not can_proceed(offer.expire):
            return order
        offer_transition(offer, "expire", by=None)
        _move_on(order, by=None)
    return order
