"""Writes of the order's journey. Each service owns its transaction, logs every
transition and publishes its events after commit."""

from collections.abc import Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import models, transaction
from django.db.models import Avg, Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_fsm import can_proceed
from geopy.distance import geodesic

from realtime import events
from realtime import groups as g
from volunteers.models import Team

from . import notifications
from .choices import DispatchMode, OfferState, OrderState
from .errors import Conflict, Forbidden, InvalidInput, InvalidTransition, NotFound
from .models import TEAM_FACTS_COPIED, Notification, Offer, Order, StaffProfile, TeamCell, Transition, Unit
from .selectors import (
    BUSY_STATES,
    acts_on,
    dispatcher_unit,
    is_dispatcher,
    orders_visible_to,
    pending_offers,
    placed_by,
    responsible_unit,
    team_candidates,
    team_ids_of,
    team_load,
    team_loads,
    teams_outside_reach,
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


# --- shared pieces ------------------------------------------------------------


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
    if order.citizen_id:
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
    return model.objects.select_for_update(of=("self",), no_key=True).select_related(*related).filter(**lookup).first()


def lock_order(order_id: int) -> Order:
    """Lock the order row for the rest of the transaction; every writer of an order takes it first."""
    order = lock_row(Order, "station", "citizen", pk=order_id)
    if order is None:
        raise NotFound(_("Order %(id)s does not exist.") % {"id": order_id})
    return order


def visible_order_id(*, order_id: int, user: AbstractBaseUser) -> int:
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
    by: AbstractBaseUser | None,
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


def offer_transition(offer: Offer, action: str, *, by: AbstractBaseUser | None, note: str = "", **kwargs: Any) -> Offer:
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


def _offer_record(offer: Offer, *, action: str, from_state: str, by: AbstractBaseUser | None, note: str = "") -> None:
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


def _require_dispatcher(user: AbstractBaseUser) -> None:
    if not is_dispatcher(user):
        raise Forbidden(_("Only dispatchers may do this."))


def require_dispatcher_of(user: AbstractBaseUser, order: Order) -> None:
    """403 unless the user dispatches for the order's station (their unit's subtree)."""
    _require_dispatcher(user)
    if not acts_on(user, order.station):
        raise Forbidden(_("Order %(id)s is outside your unit's area.") % {"id": order.pk}, code="outside_your_unit")


def _require_member(user: AbstractBaseUser, team_id: int | None) -> None:
    if team_id is None or team_id not in team_ids_of(user):
        raise Forbidden(_("Only the accepting team may do this."))


def _withdraw_pending(order: Order, *, by: AbstractBaseUser | None, note: str = "") -> None:
    for offer in pending_offers(order).select_for_update(no_key=True):
        offer.order = order
        offer_transition(offer, "withdraw", by=by, note=note)


def _offer_create(order: Order, team: Team, *, mode: str, rank: int) -> Offer:
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
    from .tasks import enqueue_after_commit, expire_offer, remind_offer

    enqueue_after_commit(remind_offer, offer.pk, eta=offer.remind_at)
    enqueue_after_commit(expire_offer, offer.pk, eta=offer.expires_at)


def auto_dispatch_later(order: Order) -> None:
    """After commit, let the order go out by itself if its unit dispatches automatically."""
    if order.state == OrderState.SUBMITTED:
        from .tasks import auto_dispatch_order, enqueue_after_commit

        enqueue_after_commit(auto_dispatch_order, order.pk)


def _move_on(order: Order, *, by: AbstractBaseUser | None) -> None:
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
        _offer_create(order, team, mode=DispatchMode.CASCADE, rank=rank)
        return
    order_transition(order, "requeue", by=by, note=gettext_noop("Every offer was declined or expired."))


# --- services -----------------------------------------------------------------


def _clean_team_ids(order: Order, mode: str, team_ids: Iterable[Any], *, user: AbstractBaseUser) -> list[Team]:
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


def _dispatch(order: Order, teams: list[Team], *, mode: str, by: AbstractBaseUser | None, note: str = "") -> None:
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
        _offer_create(order, team, mode=mode, rank=rank)


def order_dispatch(
    *, order_id: int, user: AbstractBaseUser, mode: str, team_ids: Iterable[Any], note: str = ""
) -> Order:
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


def _offer_for_member(offer_id: int, user: AbstractBaseUser) -> Offer:
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


def offer_accept(*, offer_id: int, user: AbstractBaseUser) -> Order:
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
        _withdraw_pending(order, by=user, note=gettext_noop("Another team accepted first."))
        order_transition(order, "accept", by=user, team_id=team.pk, event_payload={"offer": offer.pk})
    return order


def offer_decline(*, offer_id: int, user: AbstractBaseUser, note: str = "") -> Order:
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


def order_recall(*, order_id: int, user: AbstractBaseUser, note: str = "") -> Order:
    """Take a dispatched order back before any team accepts it."""
    with transaction.atomic():
        order = lock_order(order_id)
        require_dispatcher_of(user, order)
        ensure_can(order, "recall")
        _withdraw_pending(order, by=user, note=gettext_noop("Recalled by the dispatcher."))
        order_transition(order, "recall", by=user, note=note)
    return order


def order_reject(*, order_id: int, user: AbstractBaseUser, note: str) -> Order:
    """Refuse an order. The reason stays with staff and the citizen; it is never shown publicly."""
    if not note or not note.strip():
        raise InvalidInput(_("Give a reason for the rejection."), fields={"note": [_("This field is required.")]})
    with transaction.atomic():
        order = lock_order(order_id)
        require_dispatcher_of(user, order)
        order_transition(order, "reject", by=user, note=note.strip(), internal=True, reason=note.strip())
    return order


def order_cancel(*, order_id: int, user: AbstractBaseUser, note: str = "") -> Order:
    """The citizen (or a dispatcher) calls the order off before service starts."""
    with transaction.atomic():
        order = lock_order(order_id)
        if is_dispatcher(user):
            require_dispatcher_of(user, order)
        elif not placed_by(order, user):
            raise Forbidden(_("Only the citizen who placed the order or a dispatcher may cancel it."))
        ensure_can(order, "cancel")
        _withdraw_pending(order, by=user, note=gettext_noop("The order was cancelled."))
        order_transition(order, "cancel", by=user, note=note)
    return order


def order_abandon(*, order_id: int, user: AbstractBaseUser, note: str = "") -> Order:
    """The accepting team gives the order back; it returns to the dispatch queue."""
    with transaction.atomic():
        order = lock_order(order_id)
        ensure_can(order, "abandon")
        _require_member(user, order.team_id)
        order_transition(order, "abandon", by=user, note=note)
    return order


def order_auto_close(*, order_id: int) -> Order:
    """Close a completed order the citizen did not rate in time (a no-op if it is not due)."""
    with transaction.atomic():
        order = lock_order(order_id)
        if order.state == OrderState.COMPLETED and can_proceed(order.auto_close):
            order_transition(order, "auto_close", by=None, note=gettext_noop("Closed without a rating."))
    return order


# --- the matching index and the teams' record ----------------------------------------


def matching_index_refresh(*, team_ids: Iterable[int] | None = None, batch_size: int = 20_000) -> int:
    """File teams (all, or these) in the matching index again, with a fresh copy of their facts.

    Call it after anything the search reads of a team changes: place, radius, categories,
    active, capacity, hours, name or record (the load is kept by order transitions, and
    recounted here). Rows are upserted, so two refreshes of one team at once cannot collide;
    rows of teams gone inactive or categories no longer served are removed. Returns the
    number of index rows written.
    """
    through = Team.categories.through
    teams = Team.objects.filter(active=True).order_by("id")
    scope = TeamCell.objects.all()
    if team_ids is not None:
        team_ids = list(team_ids)
        teams, scope = teams.filter(pk__in=team_ids), scope.filter(team_id__in=team_ids)
    copied = ["cell", "lat", "lng", "radius_km", *TEAM_FACTS_COPIED, "load"]
    written = 0
    with transaction.atomic():
        last = 0
        while True:
            # Locked while their loads are counted: see _team_load_moved.
            chunk = list(
                teams.filter(pk__gt=last)
                .select_for_update(of=("self",), no_key=True)
                .only("home_lat", "home_lng", "radius_km", *TEAM_FACTS_COPIED)[:batch_size]
            )
            if not chunk:
                break
            last = chunk[-1].pk
            loads = team_loads([t.pk for t in chunk])
            served: dict[int, list[int]] = {}
            for team_id, category_id in through.objects.filter(team_id__in=[t.pk for t in chunk]).values_list(
                "team_id", "category_id"
            ):
                served.setdefault(team_id, []).append(category_id)
            rows = [
                TeamCell.of(team, category_id, load=loads.get(team.pk, 0))
                for team in chunk
                for category_id in served.get(team.pk, ())
            ]
            TeamCell.objects.bulk_create(
                rows,
                batch_size=5000,
                update_conflicts=True,
                unique_fields=["team", "category"],
                update_fields=copied,
            )
            written += len(rows)
        still_served = through.objects.filter(
            team_id=OuterRef("team_id"), category_id=OuterRef("category_id"), team__active=True
        )
        scope.exclude(Exists(still_served)).delete()
    return written


TEAM_RECORD_FIELDS = ["offers_answered", "offers_accepted", "rating_sum", "rating_count", "response_seconds"]


def team_stats_refresh(*, team_ids: Iterable[int] | None = None) -> int:
    """Roll up each team's record for ranking: offers answered and accepted, ratings, response time.

    Idempotent: it recomputes from the offers and orders, so running it twice changes nothing.
    """
    answered_states = (OfferState.ACCEPTED, OfferState.DECLINED, OfferState.EXPIRED)
    offers = Offer.objects.filter(state__in=answered_states)
    orders = Order.objects.filter(rating__isnull=False, team__isnull=False)
    teams = Team.objects.all()
    if team_ids is not None:
        team_ids = list(team_ids)
        offers, orders, teams = (
            offers.filter(team_id__in=team_ids),
            orders.filter(team_id__in=team_ids),
            teams.filter(pk__in=team_ids),
        )
    answered = {
        row["team_id"]: row
        for row in offers.values("team_id").annotate(
            n=Count("id"),
            accepted=Count("id", filter=Q(state=OfferState.ACCEPTED)),
        )
    }
    # Only answers given by people say how fast a team responds; an expiry is no answer.
    response = {
        row["team_id"]: row["mean"]
        for row in offers.filter(responded_by__isnull=False, responded_at__isnull=False)
        .values("team_id")
        .annotate(mean=Avg(F("responded_at") - F("created_at")))
    }
    ratings = {row["team_id"]: row for row in orders.values("team_id").annotate(n=Count("id"), total=Sum("rating"))}
    changed = []
    for team in teams.only("id", *TEAM_RECORD_FIELDS):
        a, r, mean = answered.get(team.pk, {}), ratings.get(team.pk, {}), response.get(team.pk)
        record = {
            "offers_answered": a.get("n", 0),
            "offers_accepted": a.get("accepted", 0),
            "rating_sum": r.get("total") or 0,
            "rating_count": r.get("n", 0),
            "response_seconds": mean.total_seconds() if mean is not None else None,
        }
        if any(getattr(team, name) != value for name, value in record.items()):
            for name, value in record.items():
                setattr(team, name, value)
            changed.append(team)
    if changed:
        with transaction.atomic():
            Team.objects.bulk_update(changed, TEAM_RECORD_FIELDS, batch_size=2000)
            # Ranking reads the record from the matching index's copy.
            matching_index_refresh(team_ids=[team.pk for team in changed])
    return len(changed)


# --- timers (DESIGN §7): each is safe to run twice and safe to run late -------------


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
        _withdraw_pending(order, by=None, note=gettext_noop("Not accepted in time; escalated."))
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


def staff_move(*, user_id: int, unit_id: int, by: AbstractBaseUser) -> StaffProfile:
    """Move a staff member to another unit; their open stream connections follow at once."""
    _require_dispatcher(by)
    with transaction.atomic():
        profile = lock_row(StaffProfile, "unit", user_id=user_id)
        unit = Unit.objects.filter(pk=unit_id).first()
        if profile is None or unit is None:
            raise NotFound(_("No such staff member or unit."))
        scope = dispatcher_unit(by)
        if not by.is_superuser and (
            scope is None or not (profile.unit.path.startswith(scope.path) and unit.path.startswith(scope.path))
        ):
            raise Forbidden(_("Staff may be moved only within your own unit's subtree."))
        before = profile.unit_id
        if before == unit.pk:
            return profile
        profile.unit = unit
        profile.save(update_fields=["unit"])
        events.publish(
            [g.user(user_id), g.unit(before), g.unit(unit.pk)],
            "staff.moved",
            {"user": user_id, "from": before, "to": unit.pk, "by": by.pk},
        )
    return profile
