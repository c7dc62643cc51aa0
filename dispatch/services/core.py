"""The order's shared core: locks, guarded transitions, and what an order event says and to whom.

Every writer of an order (here, requests_app and volunteers) goes through `lock_order` and
`order_transition`."""

from typing import Any, TypeVar

from django.contrib.auth.models import User as Account
from django.db import models
from django.db.models import F
from django.utils.translation import gettext as _
from django_fsm import can_proceed

from common.errors import Conflict, Forbidden, InvalidTransition, NotFound
from realtime import events
from realtime import groups as g
from volunteers.models import Team

from .. import notifications, outbox
from ..choices import OrderState
from ..models import ActionKey, Order, TeamCell, Transition
from ..selectors import (
    BUSY_STATES,
    acts_on,
    is_dispatcher,
    orders_visible_to,
    responsible_unit,
    team_ids_of,
)

M = TypeVar("M", bound=models.Model)

# The event each order transition publishes (DESIGN §5 names them).
ORDER_EVENTS = {
    "dispatch": "order.dispatched",
    "accept": "order.accepted",
    "requeue": "order.escalated",
    "escalate": "order.escalated",
    "recall": "order.recalled",
    "reject": "order.rejected",
    "cancel": "order.cancelled",
    "abandon": "order.abandoned",
    "start": "order.started",
    "complete": "order.completed",
    "evaluate": "order.evaluated",
    "auto_close": "order.closed",
}


def order_summary(order: Order) -> dict[str, Any]:
    """What any screen allowed to see the order may be pushed: no contact details."""
    return {
        "id": order.pk,
        "state": order.state,
        "level": order.level,
        "priority": order.priority,
        "category": order.category_id,
        "station": order.station_id,
        "team": order.team_id,
        "window_start": order.window_start,
        "window_end": order.window_end,
    }


def order_groups(order: Order) -> list[str]:
    # Not the board: it shows figures (realtime.tasks.board_tick), and an order event there
    # would reach dispatchers outside the order's branch.
    # The owners' own groups too: a citizen's connection hears their orders, new ones included,
    # without joining a group per order.
    names = [g.order(order.pk), *g.units_of_path(order.station.path), g.user(order.placed_by_id)]
    if order.citizen is not None:
        names.append(g.user(order.citizen.user_id))
    if order.team_id:
        names.append(g.team(order.team_id))
    return names


def lock_row(model: type[M], *related: str, **lookup: Any) -> M | None:
    """The row (or None), locked for the rest of the transaction.

    Its own row only, and FOR NO KEY UPDATE: a transaction that holds the event log's lock
    (realtime.events) checks its foreign keys (FOR KEY SHARE) at commit, so a wider or
    stronger lock here (a related row too) would close a deadlock with it.
    """
    return (
        model._default_manager.select_for_update(of=("self",), no_key=True)
        .select_related(*related)
        .filter(**lookup)
        .first()
    )


def lock_order(order_id: int) -> Order:
    """Lock the order row for the rest of the transaction; every writer of an order takes it first."""
    order = lock_row(Order, "station", "citizen", pk=order_id)
    if order is None:
        raise NotFound(_("Order %(id)s does not exist.") % {"id": order_id})
    return order


def visible_order_id(*, order_id: int, user: Account) -> int:
    """404 unless the user may see the order: an order outside one's scope does not exist for them."""
    if not orders_visible_to(user).filter(pk=order_id).exists():
        raise NotFound(_("Order %(id)s does not exist.") % {"id": order_id})
    return order_id


def ensure_can(order: Order, action: str) -> None:
    """409 unless the order's state allows the action; checked before any input that depends on it."""
    if not can_proceed(getattr(order, action)):
        raise _refuse(order, action)


def _refuse(order: Order, action: str) -> InvalidTransition:
    return InvalidTransition(
        _("Order %(id)s is %(state)s; it cannot be %(action)s.")
        % {"id": order.pk, "state": order.get_state_display(), "action": _action_past(action)}
    )


def _action_past(action: str) -> str:
    return {
        "dispatch": _("dispatched"),
        "accept": _("accepted"),
        "requeue": _("requeued"),
        "escalate": _("escalated"),
        "recall": _("recalled"),
        "reject": _("rejected"),
        "cancel": _("cancelled"),
        "abandon": _("abandoned"),
        "start": _("started"),
        "complete": _("completed"),
        "evaluate": _("evaluated"),
        "auto_close": _("closed"),
    }.get(action, action)


def order_transition(
    order: Order,
    action: str,
    *,
    by: Account | None,
    note: str = "",
    internal: bool = False,
    event_payload: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Order:
    """Run one order transition on a locked row: guard, save, log, publish."""
    ensure_can(order, action)
    before, team_before = order.state, order.team_id
    getattr(order, action)(**kwargs)
    order.save()
    busy_before = team_before if before in BUSY_STATES else None
    busy_after = order.team_id if order.state in BUSY_STATES else None
    if busy_before != busy_after:
        _team_load_moved(busy_before, -1)
        _team_load_moved(busy_after, +1)
    Transition.objects.create(
        order=order, action=action, from_state=before, to_state=order.state, by=by, note=note, internal=internal
    )
    groups = order_groups(order)
    if team_before and team_before != order.team_id:
        groups.append(g.team(team_before))  # the team that just let go of the order hears it too
    event_type = ORDER_EVENTS[action]
    events.publish(
        groups,
        event_type,
        {"order": order_summary(order), "by": getattr(by, "pk", None), **(event_payload or {})},
        order_id=order.pk,
    )
    climbed = action in ("requeue", "escalate")
    notifications.for_event(event_type, order, unit=responsible_unit(order) if climbed else None)
    if climbed:
        auto_dispatch_later(order)
    return order


def _team_load_moved(team_id: int | None, by: int) -> None:
    """Keep the matching index's load of a team in step with its orders in hand.

    Under the team's row lock, which matching_index_refresh also holds while it recounts:
    a count and a move of the same team never overlap, so neither loses the other.
    The order's row is locked first, as everywhere (order, then team)."""
    if team_id is None:
        return
    lock_row(Team, pk=team_id)
    TeamCell.objects.filter(team_id=team_id).update(load=F("load") + by)


def require_dispatcher(user: Account) -> None:
    if not is_dispatcher(user):
        raise Forbidden(_("Only dispatchers may do this."))


def require_dispatcher_of(user: Account, order: Order) -> None:
    """403 unless the user dispatches for the order's station (their unit's subtree)."""
    require_dispatcher(user)
    if not acts_on(user, order.station):
        raise Forbidden(_("Order %(id)s is outside your unit's area.") % {"id": order.pk}, code="outside_your_unit")


def require_member(user: Account, team_id: int | None) -> None:
    if team_id is None or team_id not in team_ids_of(user):
        raise Forbidden(_("Only the accepting team may do this."))


def auto_dispatch_later(order: Order) -> None:
    """After commit, let the order go out by itself if its unit dispatches automatically."""
    if order.state == OrderState.SUBMITTED:
        outbox.enqueue_after_commit("dispatch.tasks.auto_dispatch_order", order.pk)


def replayed(order: Order, action: str, *, user: Account, key: str | None) -> bool:
    """Whether this Idempotency-Key already did this action on this order (call with the order locked).

    A phone that sent a check-in or completion while its connection dropped sends it again with the
    same key: the second time answers as the first did and changes nothing.
    """
    if not key:
        return False
    earlier = ActionKey.objects.filter(user=user, key=key).first()
    if earlier is None:
        return False
    if earlier.order_id != order.pk or earlier.action != action:
        raise Conflict(_("This Idempotency-Key was already used for another request."), code="idempotency_key_reused")
    return True


def remember_key(order: Order, action: str, *, user: Account, key: str | None) -> None:
    if key:
        ActionKey.objects.create(user=user, key=key, action=action, order=order)
