"""Reads for the dispatcher's console: the queue with its filters and counts, an order's map."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User as Account
from django.db.models import Case, Count, IntegerField, QuerySet, Value, When
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _

from volunteers.models import Team

from .choices import OrderState, Priority
from .filters import OrderFilter
from .matching import Match
from .models import Order, Unit
from .selectors import orders_visible_to

# What a dispatcher works: orders waiting for a team, and those on their way to being served.
WAITING = (OrderState.SUBMITTED,)
IN_FLIGHT = (OrderState.DISPATCHING, OrderState.ACCEPTED, OrderState.IN_SERVICE)
QUEUE_STATES = WAITING + IN_FLIGHT
# How an order's age is told, in words and colour: up to each bound in minutes.
AGE_BANDS = ((15, "fresh"), (60, "waiting"), (120, "late"))


@dataclass(frozen=True)
class Queue:
    filters: OrderFilter
    orders: list[Order]
    counts: dict[str, int]
    waiting: int


def queue(user: Account, params: QueryDict, limit: int = 200) -> Queue:
    """The orders of the user's subtree that are waiting or in flight (or as the filters say), urgent
    and oldest first, with the count in each state."""
    # An empty field of the filter form means "any", not "the empty value".
    params = params.copy()
    for name in [name for name, values in params.lists() if not any(values)]:
        del params[name]
    visible = orders_visible_to(user)
    live = visible.filter(state__in=QUEUE_STATES)
    base = visible if params.get("state") else live
    filters = OrderFilter(params, queryset=base)
    urgent_first = Case(When(priority=Priority.URGENT, then=Value(0)), default=Value(1), output_field=IntegerField())
    rows: QuerySet[Order] = filters.qs if filters.is_valid() else base.none()
    orders = list(rows.select_related("item").order_by(urgent_first, "created_at", "pk")[:limit])
    counts = dict(live.order_by().values_list("state").annotate(n=Count("pk")))
    return Queue(filters, orders, {s: counts.get(s, 0) for s in QUEUE_STATES}, counts.get(OrderState.SUBMITTED, 0))


def age_band(created_at: datetime, now: datetime | None = None) -> str:
    minutes = ((now or timezone.now()) - created_at) / timedelta(minutes=1)
    return next((band for bound, band in AGE_BANDS if minutes < bound), "overdue")


def age_label(created_at: datetime, now: datetime | None = None) -> str:
    minutes = int(((now or timezone.now()) - created_at) / timedelta(minutes=1))
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    if minutes < 24 * 60:
        return _("%(h)d h %(m)d min") % {"h": minutes // 60, "m": minutes % 60}
    return _("%(d)d days") % {"d": minutes // (24 * 60)}


def order_map(order: Order, match: Match | None) -> dict[str, Any]:
    """What the order's map draws without any tile server: the units above the order's station with
    their jurisdictions, the order, and the ranked candidate teams."""
    units = Unit.objects.filter(pk__in=order.station.path_ids).only("name", "level", "lat", "lng", "jurisdiction_km")
    candidates = match.candidates if match else []
    homes = {
        t.pk: (t.home_lat, t.home_lng, t.radius_km)
        for t in Team.objects.filter(pk__in=[c.team for c in candidates]).only("home_lat", "home_lng", "radius_km")
    }
    return {
        "order": {"lat": order.lat, "lng": order.lng, "label": f"#{order.pk} {order.category.name}"},
        "units": [
            {"name": u.name, "level": u.level, "lat": u.lat, "lng": u.lng, "km": u.jurisdiction_km}
            for u in sorted(units, key=lambda u: -u.level)
        ],
        "teams": [
            {
                "rank": rank,
                "name": c.name,
                "lat": homes[c.team][0],
                "lng": homes[c.team][1],
                "km": homes[c.team][2],
                "reason": c.reason,
            }
            for rank, c in enumerate(candidates, 1)
            if c.team in homes
        ],
    }
