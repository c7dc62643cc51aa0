"""Candidate teams for an order: a database prefilter, then exact ranking with geopy.

The ranking functions are pure (no ORM) so that a faster prefilter or a smarter
score can replace either half without touching the other.
"""

import math
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext as _
from geopy.distance import geodesic

from volunteers.models import Team

from .models import Order
from .selectors import team_loads

KM_PER_DEGREE_LAT = 111.32


@dataclass(frozen=True)
class TeamFacts:
    """What ranking needs to know of one team, read once from the database."""

    id: int
    name: str
    lat: float
    lng: float
    radius_km: float
    capacity: int
    load: int


@dataclass(frozen=True)
class Candidate:
    team: int
    name: str
    distance_km: float
    score: float
    reason: str
    parts: dict[str, float] = field(default_factory=dict)


def bounding_box(lat: float, lng: float, km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) of a square that holds every point within `km`."""
    dlat = km / KM_PER_DEGREE_LAT
    cos = max(math.cos(math.radians(lat)), 1e-6)
    dlng = km / (KM_PER_DEGREE_LAT * cos)
    return lat - dlat, lat + dlat, lng - dlng, lng + dlng


def rank(lat: float, lng: float, teams: list[TeamFacts]) -> list[Candidate]:
    """Eligible teams (radius reaches the point, capacity free), nearest and least busy first."""
    out = []
    for t in teams:
        if t.load >= t.capacity:
            continue
        distance = geodesic((lat, lng), (t.lat, t.lng)).km
        if distance > t.radius_km:
            continue
        load_share = t.load / t.capacity if t.capacity else 1.0
        # Lower is better: a kilometre weighs as much as a tenth of the team's capacity in use.
        score = round(distance + 10 * load_share, 4)
        reason = _("%(km).1f km · %(load)d/%(cap)d busy") % {"km": distance, "load": t.load, "cap": t.capacity}
        out.append(
            Candidate(
                team=t.id,
                name=t.name,
                distance_km=round(distance, 3),
                score=score,
                reason=reason,
                parts={"distance_km": round(distance, 3), "load": load_share},
            )
        )
    out.sort(key=lambda c: (c.score, c.distance_km, c.team))
    return out


def team_candidates(order: Order, *, limit: int | None = None) -> list[Candidate]:
    """Active teams serving the order's category whose radius reaches it, ranked."""
    min_lat, max_lat, min_lng, max_lng = bounding_box(order.lat, order.lng, settings.MAX_TEAM_RADIUS_KM)
    rows = list(
        Team.objects.filter(
            active=True,
            categories=order.category_id,
            home_lat__range=(min_lat, max_lat),
            home_lng__range=(min_lng, max_lng),
        ).values_list("id", "name", "home_lat", "home_lng", "radius_km", "capacity")
    )
    loads = team_loads([r[0] for r in rows])
    facts = [
        TeamFacts(id=r[0], name=r[1], lat=r[2], lng=r[3], radius_km=r[4], capacity=r[5], load=loads.get(r[0], 0))
        for r in rows
    ]
    ranked = rank(order.lat, order.lng, facts)
    return ranked[:limit] if limit else ranked
