"""The big screen's figures (数据大屏): one selector answering for a unit's subtree and a day.

Every figure reads only the day's rows through an index on its timestamp (or the month's, for
hours), so the answer costs the same with a thousand orders or a million.
"""

import statistics
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import ExtractHour
from django.utils import timezone

from volunteers.models import ServiceRecord, Team

from .choices import Level, OrderState
from .models import Order, Transition, Unit


def _day_bounds(day: date) -> tuple[datetime, datetime]:
    zone = timezone.get_current_timezone()
    start = datetime.combine(day, time.min, zone)
    return start, start + timedelta(days=1)


def _within(unit: Unit | None, field: str = "station__path") -> Q:
    return Q(**{f"{field}__startswith": unit.path}) if unit is not None else Q()


def masked(name: str) -> str:
    """A citizen's name on a public screen: the surname and a star (张*)."""
    name = (name or "").strip()
    return f"{name[0]}*" if name else "*"


def board_figures(unit: Unit | None, day: date | None = None) -> dict[str, Any]:
    """Today's counters, funnel, categories, hours of the day, time to accept, satisfaction, this
    month's volunteer hours, the busiest stations and best-rated teams, and the latest changes."""
    day = day or timezone.localdate()
    start, end = _day_bounds(day)
    mine = Order.objects.filter(_within(unit))
    placed: QuerySet[Order] = mine.filter(created_at__gte=start, created_at__lt=end)

    def count(field: str) -> int:
        return mine.filter(**{f"{field}__gte": start, f"{field}__lt": end}).count()

    accepted = mine.filter(accepted_at__gte=start, accepted_at__lt=end).values_list("created_at", "accepted_at")
    waits = sorted((a - c).total_seconds() / 60 for c, a in accepted)
    rated = mine.filter(closed_at__gte=start, closed_at__lt=end, rating__isnull=False)
    month_start = datetime.combine(day.replace(day=1), time.min, timezone.get_current_timezone())
    hours = ServiceRecord.objects.filter(recorded_at__gte=month_start, recorded_at__lt=end).filter(
        _within(unit, "order__station__path")
    )
    by_hour = dict(placed.annotate(h=ExtractHour("created_at")).values_list("h").annotate(n=Count("pk")).order_by())
    teams = Team.objects.filter(_within(unit, "unit__path"), rating_count__gt=0)
    return {
        "day": day.isoformat(),
        "counters": {
            "placed": placed.count(),
            "dispatched": count("dispatched_at"),
            "accepted": len(waits),
            "completed": count("completed_at"),
            "rated": rated.count(),
        },
        "by_state": dict(placed.order_by().values_list("state").annotate(n=Count("pk"))),
        "state_labels": {value: str(label) for value, label in OrderState.choices},
        "by_category": list(
            placed.order_by().values(name=F("category__name")).annotate(n=Count("pk")).order_by("-n", "name")
        ),
        "by_hour": [by_hour.get(h, 0) for h in range(24)],
        "accept_minutes": {
            "median": round(statistics.median(waits), 1) if waits else None,
            "p90": round(waits[min(len(waits) - 1, int(len(waits) * 0.9))], 1) if waits else None,
        },
        "satisfaction": _satisfaction(rated),
        "month_hours": float(hours.aggregate(h=Sum("hours"))["h"] or 0),
        "busiest_stations": list(
            placed.order_by().values(name=F("station__name")).annotate(n=Count("pk")).order_by("-n", "name")[:5]
        ),
        "best_teams": [
            {"name": t.name, "rating": round(t.rating_sum / t.rating_count, 2), "ratings": t.rating_count}
            for t in teams.order_by(-F("rating_sum") * 1.0 / F("rating_count"), "-rating_count")[:5]
        ],
        "latest": latest_changes(unit),
        "stations": _stations(unit, placed),
    }


def _stations(unit: Unit | None, placed: QuerySet[Order]) -> list[dict[str, Any]]:
    """Every station of the subtree with today's orders: the map's points and its heat."""
    today = dict(placed.order_by().values_list("station").annotate(n=Count("pk")))
    stations = Unit.objects.filter(_within(unit, "path"), level=Level.STATION).only("name", "lat", "lng")
    return [{"id": s.pk, "name": s.name, "lat": s.lat, "lng": s.lng, "n": today.get(s.pk, 0)} for s in stations]


def _satisfaction(rated: QuerySet[Order]) -> dict[str, Any]:
    values = [r for r in rated.values_list("rating", flat=True) if r is not None]
    return {"avg": round(sum(values) / len(values), 2) if values else None, "ratings": len(values)}


def latest_changes(unit: Unit | None, limit: int = 12) -> list[dict[str, Any]]:
    """What just happened, newest first, with the citizen's name masked."""
    rows = (
        Transition.objects.filter(_within(unit, "order__station__path"), offer__isnull=True)
        .select_related("order", "order__category", "order__station")
        .order_by("-at", "-pk")[:limit]
    )
    return [
        {
            "at": timezone.localtime(t.at).strftime("%H:%M"),
            "state": t.to_state,
            "state_label": str(OrderState(t.to_state).label) if t.to_state in OrderState.values else t.to_state,
            "category": t.order.category.name,
            "station": t.order.station.name,
            "who": masked(t.order.contact_name),
        }
        for t in rows
    ]
