"""Reads that several callers share: who may see what."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account
from django.db import connection
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from publicity.models import ReturnVisit
from volunteers.models import Membership, ServiceRecord, Team

from .choices import Level, OfferState, OrderState, Role
from .geo import KM_PER_DEGREE_LAT_MIN, KM_PER_DEGREE_LNG_EQUATOR, bounding_box, cells_within
from .matching import Jurisdiction, Match, MatchQuery, TeamFacts, in_jurisdiction, search_with
from .models import TEAM_FACTS_COPIED, Notification, Offer, Order, TeamCell, Transition, Unit

if TYPE_CHECKING:
    from psycopg.rows import RowFactory

BUSY_STATES = (OrderState.ACCEPTED, OrderState.IN_SERVICE)

User = Account | AnonymousUser


def placed_by(order: Order, user: User) -> bool:
    """The citizen whose order it is, or the staff member who placed it for them."""
    return user.is_authenticated and (
        order.placed_by_id == user.pk or (order.citizen is not None and order.citizen.user_id == user.pk)
    )


def roles_of(user: User) -> frozenset[str]:
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_civic_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user.__dict__["_civic_roles"] = cached
    return cached


def is_dispatcher(user: User) -> bool:
    return user.is_authenticated and (user.is_superuser or Role.DISPATCHER in roles_of(user))


def dispatcher_unit(user: User) -> Unit | None:
    profile = getattr(user, "staff_profile", None) if user.is_authenticated else None
    return profile.unit if profile else None


def dispatch_scope(user: User) -> str | None:
    """The path prefix of the stations the user dispatches for: their unit's, "" (all) for a superuser, else None."""
    if not is_dispatcher(user):
        return None
    if user.is_superuser:
        return ""
    unit = dispatcher_unit(user)
    return unit.path if unit is not None else None


def acts_on(user: User, station: Unit) -> bool:
    """Whether the user acts as a dispatcher for orders at this station: inside their unit's subtree only.

    The one scope rule of every dispatcher's write (placing for a citizen, dispatching,
    recalling, rejecting, cancelling), of the candidates they are shown and of what they read.
    """
    scope = dispatch_scope(user)
    return scope is not None and station.path.startswith(scope)


def team_ids_of(user: User) -> set[int]:
    """Teams the user serves in: as an active member, or as the team's leader."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_civic_team_ids", None)
    if cached is None:
        # Two indexed lookups: an OR across the two joins would scan the membership table.
        cached = set(Team.objects.filter(leader=user).values_list("id", flat=True))
        cached |= set(Membership.objects.filter(volunteer__user=user, active=True).values_list("team_id", flat=True))
        user.__dict__["_civic_team_ids"] = cached
    return cached


def orders_visible_to(user: User) -> QuerySet[Order]:
    """Dispatchers see their unit's subtree, teams the orders offered to them, citizens their own."""
    qs = Order.objects.select_related("category", "station", "team", "citizen")
    if not user.is_authenticated:
        return qs.none()
    if user.is_superuser:
        return qs
    scope = Q(placed_by=user) | Q(citizen__user=user)
    if is_dispatcher(user):
        unit = dispatcher_unit(user)
        if unit is not None:
            scope |= Q(station__path__startswith=unit.path)
    team_ids = team_ids_of(user)
    if team_ids:
        scope |= Q(team_id__in=team_ids) | Q(id__in=Offer.objects.filter(team_id__in=team_ids).values("order_id"))
    return qs.filter(scope)


def order_details_visible_to(user: User) -> QuerySet[Order]:
    """Visible orders with what their detail renders: offers with teams, the history with offers."""
    return orders_visible_to(user).prefetch_related(
        Prefetch("offers", queryset=Offer.objects.select_related("team").order_by("id")),
        Prefetch("transitions", queryset=Transition.objects.select_related("offer").order_by("at", "id")),
        "photos",
    )


def offers_visible_to(user: User) -> QuerySet[Offer]:
    qs = Offer.objects.select_related("order", "order__category", "order__station", "team")
    if user.is_authenticated and user.is_superuser:
        return qs
    team_ids = team_ids_of(user)
    scope = Q(team_id__in=team_ids)
    if is_dispatcher(user) and (unit := dispatcher_unit(user)) is not None:
        scope |= Q(order__station__path__startswith=unit.path)
    return qs.filter(scope)


def teams_visible_to(user: User) -> QuerySet[Team]:
    qs = Team.objects.select_related("unit", "leader")
    if user.is_authenticated and user.is_superuser:
        return qs
    scope = Q(id__in=team_ids_of(user))
    if is_dispatcher(user) and (unit := dispatcher_unit(user)) is not None:
        # A dispatcher sees teams of the subtree and every team an order of theirs was offered to.
        scope |= Q(unit__path__startswith=unit.path) | Q(offers__order__station__path__startswith=unit.path)
    return qs.filter(scope).distinct()


def team_load(team_id: int) -> int:
    return Order.objects.filter(team_id=team_id, state__in=BUSY_STATES).count()


def team_loads(team_ids: list[int]) -> dict[int, int]:
    rows = Order.objects.filter(team_id__in=team_ids, state__in=BUSY_STATES).values("team_id").annotate(n=Count("id"))
    return {row["team_id"]: row["n"] for row in rows}


# The team's columns that TeamFacts takes, in its order (the load follows them), and the
# matching index's copies of them: the place under other names, the rest as the team names them.
FACT_COLUMNS = ("id", "name", "home_lat", "home_lng", "radius_km", *TEAM_FACTS_COPIED[1:])
INDEX_FACT_COLUMNS = ("team_id", "name", "lat", "lng", "radius_km", *TEAM_FACTS_COPIED[1:], "load")


def _time(value: time | str) -> time:
    # Raw rows skip the ORM's converters: SQLite hands times back as text.
    return value if isinstance(value, time) else time.fromisoformat(value)


def _facts_sql(cell_count: int) -> str:
    cell = TeamCell._meta.db_table
    # PostgreSQL takes the cells as one array parameter, so the statement stays the same
    # whatever their number; SQLite needs a placeholder each.
    cells = "= ANY(%s::bigint[])" if connection.vendor == "postgresql" else f"IN ({', '.join(['%s'] * cell_count)})"
    return f"""
        SELECT {", ".join(f"c.{column}" for column in INDEX_FACT_COLUMNS)}
        FROM {cell} c
        WHERE c.category_id = %s AND c.cell {cells}
          AND c.lat BETWEEN %s AND %s AND c.lng BETWEEN %s AND %s
          AND (c.lat - %s) * (c.lat - %s) * %s + (c.lng - %s) * (c.lng - %s) * %s
              <= (c.radius_km * {REACH_SLACK} + {EDGE_SLACK_KM}) * (c.radius_km * {REACH_SLACK} + {EDGE_SLACK_KM})
    """


# The database's reach test under-measures (smallest kilometres per degree, flat) and then
# allows 1 % more: it may keep a team that does not reach, never drop one that does.
REACH_SLACK = 1.01
EDGE_SLACK_KM = 0.01


def _prepared(sql: str, params: list[Any], row_factory: "RowFactory[Any]") -> list[Any]:
    """Run on PostgreSQL as a prepared statement: parsed and planned once per connection.

    Django's cursors bind parameters on the client, so the cells' array would land in the SQL
    text and PostgreSQL would parse and plan every search anew (measured at a million teams:
    3.6 ms that way against 1.1 ms with the parameters bound on the server; preparing once
    spares another 0.2 ms of parse and bind). The statement runs on the request's own
    connection and transaction (config.settings.base lets psycopg prepare it).
    """
    from psycopg import Cursor

    connection.ensure_connection()
    with Cursor(connection.connection, row_factory=row_factory) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall()


def team_facts_in_cells(
    *, category_id: int, cells: list[int], box: tuple[float, float, float, float], at: tuple[float, float]
) -> list[TeamFacts]:
    """Active teams serving the category, filed in these cells, whose home lies in the box, with their loads.

    One hand-written statement: the candidate search runs it for every order a console opens,
    and building it through the ORM cost several times what the database spends answering it.
    """
    min_lat, max_lat, min_lng, max_lng = box
    lat, lng = at
    # Square kilometres per square degree, the smallest anywhere in the box.
    ky2 = KM_PER_DEGREE_LAT_MIN**2
    kx2 = (KM_PER_DEGREE_LNG_EQUATOR * math.cos(math.radians(max(abs(min_lat), abs(max_lat))))) ** 2
    sql, rest = _facts_sql(len(cells)), [min_lat, max_lat, min_lng, max_lng, lat, lat, ky2, lng, lng, kx2]
    if connection.vendor == "postgresql":
        # The cells' array in its text form: psycopg's list adapter costs more than the query.
        # psycopg hands back times as times: each row becomes TeamFacts as it is read.
        return _prepared(sql, [category_id, "{" + ",".join(map(str, cells)) + "}", *rest], _team_facts_rows)
    with connection.cursor() as cursor:
        cursor.execute(sql, [category_id, *cells, *rest])
        rows = cursor.fetchall()
    return [TeamFacts._make((*row[:6], _time(row[6]), _time(row[7]), *row[8:])) for row in rows]


def _team_facts_rows(_cursor: Any) -> Callable[[Sequence[Any]], TeamFacts]:
    return TeamFacts._make


def team_facts(*, category_id: int | None = None, team_ids: list[int] | None = None) -> list[TeamFacts]:
    """Every active team (serving the category, or of these ids) with its load: the input of brute-force scans."""
    qs = Team.objects.filter(active=True).order_by("id")
    if category_id is not None:
        qs = qs.filter(categories=category_id)
    if team_ids is not None:
        qs = qs.filter(pk__in=team_ids)
    rows = list(qs.values_list(*FACT_COLUMNS))
    loads = team_loads([row[0] for row in rows])
    return [TeamFacts._make((*row, loads.get(row[0], 0))) for row in rows]


def pending_offers(order: Order) -> QuerySet[Offer]:
    return order.offers.filter(state=OfferState.PENDING)


def responsible_unit(order: Order, level: int | None = None) -> Unit:
    """The unit that answers for the order at its level (or at `level`): its station, institute, then the center."""
    ids = order.station.path_ids
    unit_id = ids[max(0, len(ids) - (level or order.level))]
    return order.station if unit_id == order.station_id else Unit.objects.get(pk=unit_id)


def responsible_jurisdiction(order: Order, *, level: int | None = None) -> Jurisdiction:
    """The disk teams must lie in: that of the unit answering for the order at `level` or its own, the higher."""
    unit = responsible_unit(order, max(level or order.level, order.level))
    return Jurisdiction(unit.lat, unit.lng, unit.jurisdiction_km)


def match_query(order: Order, *, limit: int | None = None, level: int | None = None) -> MatchQuery:
    """What the order asks of a team; teams that already said no (or let it lapse) are left out.

    Teams must lie in the jurisdiction of the order's unit at `level` (default: the order's own level).
    """
    declined = Offer.objects.filter(order=order, state__in=(OfferState.DECLINED, OfferState.EXPIRED))
    return MatchQuery(
        lat=order.lat,
        lng=order.lng,
        category_id=order.category_id,
        window_start=order.window_start,
        window_end=order.window_end,
        jurisdiction=responsible_jurisdiction(order, level=level),
        exclude=frozenset(declined.values_list("team_id", flat=True)),
        limit=limit,
    )


def search(query: MatchQuery) -> Match:
    """Candidates from the database: the indexed cells around the point, widening while too few qualify."""

    def facts_within(km: float) -> list[TeamFacts]:
        return team_facts_in_cells(
            category_id=query.category_id,
            cells=cells_within(query.lat, query.lng, km, max_radius_km=settings.MAX_TEAM_RADIUS_KM),
            box=bounding_box(query.lat, query.lng, km),
            at=(query.lat, query.lng),
        )

    return search_with(query, facts_within)


def search_level(user: User | None) -> int | None:
    """How high a dispatcher's search reaches: their own unit's level (a superuser's, the center's)."""
    if user is None or not user.is_authenticated:
        return None
    unit = dispatcher_unit(user)
    return unit.level if unit is not None else (Level.CENTER if user.is_superuser else None)


def team_candidates(order: Order, *, limit: int | None = None, for_user: User | None = None) -> Match:
    """Eligible teams for the order, best first, each with its reason (DESIGN §4).

    Asked by a dispatcher, the search reaches as wide as the dispatcher's own unit when that is
    higher than the order's level: the center's console sees the whole district's teams.
    """
    limit = limit if limit is not None else settings.MATCH_LIMIT
    match = search(match_query(order, limit=limit, level=search_level(for_user)))
    satisfied = visit_satisfaction([c.team for c in match.candidates])
    if satisfied:
        text = _("return visits %(pct)d%% satisfied")
        match.candidates = [
            replace(c, reason=f"{c.reason} · {text % {'pct': round(100 * satisfied[c.team])}}")
            if c.team in satisfied
            else c
            for c in match.candidates
        ]
    return match


def visit_satisfaction(team_ids: list[int]) -> dict[int, float]:
    """Each team's share of return visits (回访) that reached the citizen and found them satisfied."""
    rows = (
        ReturnVisit.objects.filter(order__team_id__in=team_ids, reached=True, satisfied__isnull=False)
        .values("order__team_id")
        .annotate(n=Count("id"), yes=Count("id", filter=Q(satisfied=True)))
    )
    return {r["order__team_id"]: r["yes"] / r["n"] for r in rows}


def teams_outside_reach(order: Order, teams: list[Team], *, for_user: User | None) -> list[int]:
    """The teams that lie outside the jurisdiction the user's candidate search covers for this order."""
    jurisdiction = responsible_jurisdiction(order, level=search_level(for_user))
    return [t.pk for t in teams if not in_jurisdiction(jurisdiction, t.home_lat, t.home_lng)]


@dataclass
class DueWork:
    offers_to_expire: list[int]
    offers_to_remind: list[int]
    orders_to_escalate: list[tuple[int, int]]
    orders_to_close: list[int]
    notifications_to_send: list[int]
    orders_to_auto_dispatch: list[int]

    def counts(self) -> dict[str, int]:
        return {name: len(value) for name, value in self.__dict__.items()}


# One sweep takes at most this many of each kind; the next sweep takes the rest.
SWEEP_BATCH = 500
# A notification or an auto-dispatch gets this long to be done by its own message before the sweep steps in.
MESSAGE_GRACE = timedelta(minutes=1)
NOTIFICATION_MAX_ATTEMPTS = 5


def due_work(now: datetime | None = None) -> DueWork:
    """Every timer that is due now, read from the database alone."""
    now = now or timezone.now()
    pending = Offer.objects.filter(state=OfferState.PENDING)
    # Offers all live OFFER_EXPIRY long, so "past the reminder share of its time" is a fixed
    # distance before expiry; offer_remind checks each exactly.
    remind_before = settings.OFFER_EXPIRY * (1 - settings.OFFER_REMIND_AT)
    waiting = Order.objects.filter(state__in=(OrderState.SUBMITTED, OrderState.DISPATCHING)).annotate(
        clock=Coalesce("escalated_at", "created_at")
    )
    overdue = now - settings.ESCALATE_AFTER
    escalate = waiting.filter(clock__lte=overdue).filter(
        Q(level__lt=Level.CENTER) | Q(reminded_at__isnull=True) | Q(reminded_at__lte=overdue)
    )
    return DueWork(
        offers_to_expire=list(pending.filter(expires_at__lte=now).values_list("pk", flat=True)[:SWEEP_BATCH]),
        offers_to_remind=list(
            pending.filter(
                reminded_at__isnull=True, expires_at__gt=now, expires_at__lte=now + remind_before
            ).values_list("pk", flat=True)[:SWEEP_BATCH]
        ),
        orders_to_escalate=list(escalate.order_by("clock").values_list("pk", "level")[:SWEEP_BATCH]),
        orders_to_close=list(
            Order.objects.filter(state=OrderState.COMPLETED, completed_at__lte=now - settings.AUTO_CLOSE_AFTER)
            .order_by("completed_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        ),
        notifications_to_send=list(
            Notification.objects.filter(
                sent_at__isnull=True, created_at__lte=now - MESSAGE_GRACE, attempts__lt=NOTIFICATION_MAX_ATTEMPTS
            )
            .order_by("created_at")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        ),
        orders_to_auto_dispatch=list(
            waiting.filter(state=OrderState.SUBMITTED, clock__lte=now - MESSAGE_GRACE)
            .filter(Q(considered_level__isnull=True) | Q(considered_level__lt=F("level")))
            .order_by("clock")
            .values_list("pk", flat=True)[:SWEEP_BATCH]
        ),
    )


def teams_with_recent_activity(since: timedelta | None = None) -> list[int]:
    """Teams whose record may have moved since the last roll-up: an answered offer or a rating."""
    since_at = timezone.now() - (since or timedelta(seconds=2 * settings.TEAM_STATS_INTERVAL_S))
    answered = Offer.objects.filter(responded_at__gte=since_at).values_list("team_id", flat=True)
    rated = Order.objects.filter(closed_at__gte=since_at, team__isnull=False).values_list("team_id", flat=True)
    return sorted(set(answered) | set(rated))


def order_statistics(user: User) -> dict[str, Any]:
    """Counts, timings, satisfaction and hours of the orders the user may see (a dispatcher: the subtree)."""
    orders = orders_visible_to(user)
    unit = dispatcher_unit(user)
    by_state = dict(orders.order_by().values_list("state").annotate(n=Count("id")))
    accepted = orders.filter(accepted_at__isnull=False, dispatched_at__isnull=False).annotate(
        wait=ExpressionWrapper(F("accepted_at") - F("created_at"), output_field=DurationField())
    )
    avg_wait = accepted.aggregate(v=Avg("wait"))["v"]
    rated = orders.filter(rating__isnull=False).aggregate(avg=Avg("rating"), n=Count("id"))
    records = ServiceRecord.objects.filter(order__in=orders.values("id"))
    return {
        "unit": unit.pk if unit else None,
        "orders": orders.count(),
        "by_state": {s: by_state.get(s, 0) for s in OrderState.values},
        "by_category": list(
            orders.order_by().values("category", name=F("category__name")).annotate(n=Count("id")).order_by("-n")
        ),
        "by_unit": list(
            orders.order_by().values("station", name=F("station__name")).annotate(n=Count("id")).order_by("-n")[:50]
        ),
        "by_day": [
            {"day": row["day"], "n": row["n"]}
            for row in orders.order_by()
            .annotate(day=TruncDate("created_at"))
            .values("day")
            .annotate(n=Count("id"))
            .order_by("day")
        ],
        "avg_minutes_to_accept": round(avg_wait.total_seconds() / 60, 1) if avg_wait else None,
        "satisfaction": {"avg_rating": round(rated["avg"], 2) if rated["avg"] else None, "ratings": rated["n"]},
        "hours": float(records.aggregate(h=Sum("hours"))["h"] or 0),
    }
