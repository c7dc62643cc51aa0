"""The big screen's figures (数据大屏): one selector answering for a unit's subtree and a day.

Every figure reads only the day's rows through an index on its timestamp, and the month's hours
come from a daily roll-up per station, so the answer costs the same with a thousand orders or a million.
"""

import operator
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import reduce
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import ExtractHour
from django.utils import timezone

from volunteers.models import StationHours, Team

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
    stations = list(Unit.objects.filter(_within(unit, "path"), level=Level.STATION).values("id", "name", "lat", "lng"))
    # A subquery on the units rather than a join: each figure then reads its day's rows only.
    subtree = Unit.objects.filter(_within(unit, "path"), level=Level.STATION).values("id")
    mine = Order.objects.filter(station_id__in=subtree) if unit is not None else Order.objects.all()

    def on_day(field: str) -> Q:
        return Q(**{f"{field}__gte": start, f"{field}__lt": end})

    stamps = ("created_at", "dispatched_at", "accepted_at", "completed_at", "closed_at")
    rated = on_day("closed_at") & Q(rating__isnull=False)
    totals = mine.filter(reduce(operator.or_, map(on_day, stamps))).aggregate(
        placed=Count("pk", filter=on_day("created_at")),
        dispatched=Count("pk", filter=on_day("dispatched_at")),
        completed=Count("pk", filter=on_day("completed_at")),
        rated=Count("pk", filter=rated),
        rating_sum=Sum("rating", filter=rated),
    )
    # The wait as one interval per row: half the values to read back as two timestamps.
    wait = ExpressionWrapper(F("accepted_at") - F("created_at"), output_field=DurationField())
    accepted = mine.filter(on_day("accepted_at")).annotate(wait=wait).values_list("wait", flat=True)
    waits = sorted(w.total_seconds() / 60 for w in accepted)
    placed = _placed_today(mine.filter(on_day("created_at")), {s["id"]: s["name"] for s in stations})
    teams = Team.objects.filter(_within(unit, "unit__path"), rating_count__gt=0)
    return {
        "day": day.isoformat(),
        "counters": {
            "placed": totals["placed"],
            "dispatched": totals["dispatched"],
            "accepted": len(waits),
            "completed": totals["completed"],
            "rated": totals["rated"],
        },
        "by_state": dict(placed.by_state),
        "state_labels": {value: str(label) for value, label in OrderState.choices},
        "by_category": _ranked(placed.by_category),
        "by_hour": [placed.by_hour[h] for h in range(24)],
        "accept_minutes": {
            "median": round(statistics.median(waits), 1) if waits else None,
            "p90": round(waits[min(len(waits) - 1, int(len(waits) * 0.9))], 1) if waits else None,
        },
        "satisfaction": {
            "avg": round(totals["rating_sum"] / totals["rated"], 2) if totals["rated"] else None,
            "ratings": totals["rated"],
        },
        "month_hours": _month_hours(unit, subtree, day),
        "busiest_stations": _ranked(placed.by_station)[:5],
        "best_teams": [
            {"name": t.name, "rating": round(t.rating_sum / t.rating_count, 2), "ratings": t.rating_count}
            for t in teams.order_by(-F("rating_sum") * 1.0 / F("rating_count"), "-rating_count")[:5]
        ],
        "latest": latest_changes(unit),
        "stations": [{**s, "n": placed.by_station_id[s["id"]]} for s in stations],
    }


@dataclass
class _Placed:
    """The day's new orders tallied four ways from one grouped query."""

    by_state: Counter[str] = field(default_factory=Counter)
    by_category: Counter[str] = field(default_factory=Counter)
    by_station: Counter[str] = field(default_factory=Counter)
    by_station_id: Counter[int] = field(default_factory=Counter)
    by_hour: Counter[int] = field(default_factory=Counter)


def _placed_today(placed: QuerySet[Order], station_names: dict[int, str]) -> _Placed:
    tally = _Placed()
    groups = (
        placed.annotate(h=ExtractHour("created_at"))
        .values_list("state", "category__name", "station_id", "h")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for state, category, station, hour, n in groups:
        tally.by_state[state] += n
        tally.by_category[category] += n
        tally.by_station[station_names.get(station, "")] += n
        tally.by_station_id[station] += n
        tally.by_hour[hour] += n
    return tally


def _ranked(counts: Counter[str]) -> list[dict[str, Any]]:
    return [{"name": name, "n": n} for name, n in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def _month_hours(unit: Unit | None, station_ids: QuerySet[Unit, Any], day: date) -> float:
    """Volunteer hours counted this month up to the day, from the stations' daily roll-up."""
    days = StationHours.objects.filter(day__gte=day.replace(day=1), day__lte=day)
    if unit is not None:
        days = days.filter(station_id__in=station_ids)
    return float(days.aggregate(h=Sum("hours"))["h"] or 0)


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
