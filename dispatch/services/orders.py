"""Dispatchers' and citizens' writes of an order: dispatch (by hand or automatically), recall,
reject, cancel, abandon, close."""

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import User as Account
from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_fsm import can_proceed

from common.errors import Forbidden, InvalidInput
from volunteers.models import Team

from ..choices import DispatchMode, OrderState
from ..models import Order, Unit
from ..selectors import (
    is_dispatcher,
    placed_by,
    responsible_unit,
    team_candidates,
    teams_outside_reach,
)
from .core import (
    ensure_can,
    lock_order,
    lock_row,
    order_transition,
    require_dispatcher_of,
    require_member,
)
from .offers import offer_create, withdraw_pending


def _clean_team_ids(order: Order, mode: str, team_ids: Iterable[Any], *, user: Account) -> list[Team]:
    if mode not in DispatchMode.values:
        raise InvalidInput(_("Unknown dispatch mode."), fields={"mode": [_("Choose directed, broadcast or cascade.")]})
    try:
        ids = [int(t) for t in team_ids]
    except (TypeError, ValueError):
        raise InvalidInput(_("Teams must be team ids."), fields={"teams": [_("A list of team ids.")]}) from None
    if not ids:
        raise InvalidInput(_("Choose at least one team."), fields={"teams": [_("Choose at least one team.")]})
    if len(set(ids)) != len(ids):
        raise InvalidInput(_("A team is listed twice."), fields={"teams": [_("Each team once.")]})
    if mode == DispatchMode.DIRECTED and len(ids) != 1:
        raise InvalidInput(
            _("A directed dispatch goes to exactly one team."), fields={"teams": [_("Choose exactly one team.")]}
        )
    teams = {t.pk: t for t in Team.objects.filter(pk__in=ids, active=True, categories=order.category_id)}
    missing = [i for i in ids if i not in teams]
    if missing:
        raise InvalidInput(
            _("Some teams are unknown, inactive or do not serve this category."),
            fields={"teams": [_("Not eligible: %(ids)s") % {"ids": ", ".join(map(str, missing))}]},
        )
    chosen = [teams[i] for i in ids]
    outside = teams_outside_reach(order, chosen, for_user=user)
    if outside:
        raise InvalidInput(
            _("Some teams lie outside the area your unit dispatches to."),
            fields={"teams": [_("Outside your area: %(ids)s") % {"ids": ", ".join(map(str, outside))}]},
        )
    return chosen


def _dispatch(order: Order, teams: list[Team], *, mode: str, by: Account | None, note: str = "") -> None:
    ensure_can(order, "dispatch")
    now_teams = teams[:1] if mode == DispatchMode.CASCADE else teams
    queue = [t.pk for t in teams[1:]] if mode == DispatchMode.CASCADE else []
    order_transition(
        order,
        "dispatch",
        by=by,
        note=note,
        mode=mode,
        cascade_queue=queue,
        event_payload={"teams": [t.pk for t in teams], "auto": by is None},
    )
    for rank, team in enumerate(now_teams, start=1):
        offer_create(order, team, mode=mode, rank=rank)


def order_dispatch(*, order_id: int, user: Account, mode: str, team_ids: Iterable[Any], note: str = "") -> Order:
    """Offer the order to teams: one (directed), several at once (broadcast) or one after another (cascade)."""
    with transaction.atomic():
        order = lock_order(order_id)
        require_dispatcher_of(user, order)
        teams = _clean_team_ids(order, mode, team_ids, user=user)
        _dispatch(order, teams, mode=mode, by=user, note=note)
    return order


def auto_dispatch_setting(unit: Unit) -> Unit | None:
    """The unit whose auto-dispatch applies: this one, else the nearest ancestor that has it on."""
    ids = unit.path_ids
    settings_of = dict(Unit.objects.filter(pk__in=ids).exclude(auto_dispatch="").values_list("pk", "auto_dispatch"))
    for pk in reversed(ids):
        if pk in settings_of:
            return unit if pk == unit.pk else Unit.objects.get(pk=pk)
    return None


def order_auto_dispatch(*, order_id: int) -> Order | None:
    """Send a waiting order to its best candidates when its unit dispatches automatically.

    Once per level: an order already dispatched or weighed at its level (a recall by staff, a
    repeated message) is left alone, and so is one with no eligible team (dispatchers see it in
    their queue; escalation moves it on in time)."""
    with transaction.atomic():
        order = lock_row(Order, "station", "citizen", pk=order_id)
        if order is None or order.state != OrderState.SUBMITTED or order.considered_level == order.level:
            return order
        order.considered_level = order.level
        order.save(update_fields=["considered_level", "updated_at"])
        rule = auto_dispatch_setting(responsible_unit(order))
        if rule is None:
            return order
        many = 1 if rule.auto_dispatch == DispatchMode.DIRECTED else max(1, rule.auto_dispatch_teams)
        best = team_candidates(order, limit=many).candidates
        if not best:
            return order
        teams = {t.pk: t for t in Team.objects.filter(pk__in=[c.team for c in best])}
        _dispatch(
            order,
            [teams[c.team] for c in best],
            mode=rule.auto_dispatch,
            by=None,
            note=gettext_noop("Dispatched automatically to the best candidates."),
        )
    return order


def order_recall(*, order_id: int, user: Account, note: str = "") -> Order:
    """Take a dispatched order back before any team accepts it."""
    with transaction.atomic():
        order = lock_order(order_id)
        require_dispatcher_of(user, order)
        ensure_can(order, "recall")
        withdraw_pending(order, by=user, note=gettext_noop("Recalled by the dispatcher."))
        order_transition(order, "recall", by=user, note=note)
    return order


def order_reject(*, order_id: int, user: Account, note: str) -> Order:
    """Refuse an order. The reason stays with staff and the citizen; it is never shown publicly."""
    if not note or not note.strip():
        raise InvalidInput(_("Give a reason for the rejection."), fields={"note": [_("This field is required.")]})
    with transaction.atomic():
        order = lock_order(order_id)
        require_dispatcher_of(user, order)
        order_transition(order, "reject", by=user, note=note.strip(), internal=True, reason=note.strip())
    return order


def order_cancel(*, order_id: int, user: Account, note: str = "") -> Order:
    """The citizen (or a dispatcher) calls the order off before service starts."""
    with transaction.atomic():
        order = lock_order(order_id)
        if is_dispatcher(user):
            require_dispatcher_of(user, order)
        elif not placed_by(order, user):
            raise Forbidden(_("Only the citizen who placed the order or a dispatcher may cancel it."))
        ensure_can(order, "cancel")
        withdraw_pending(order, by=user, note=gettext_noop("The order was cancelled."))
        order_transition(order, "cancel", by=user, note=note)
    return order


def order_abandon(*, order_id: int, user: Account, note: str = "") -> Order:
    """The accepting team gives the order back; it returns to the dispatch queue."""
    with transaction.atomic():
        order = lock_order(order_id)
        ensure_can(order, "abandon")
        require_member(user, order.team_id)
        order_transition(order, "abandon", by=user, note=note)
    return order


def order_auto_close(*, order_id: int) -> Order:
    """Close a completed order the citizen did not rate in time (a no-op if it is not due)."""
    with transaction.atomic():
        order = lock_order(order_id)
        if order.state == OrderState.COMPLETED and can_proceed(order.auto_close):
            order_transition(order, "auto_close", by=None, note=gettext_noop("Closed without a rating."))
    return order
