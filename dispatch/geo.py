"""Distances on the WGS84 ellipsoid, cheap and exact, and the grid of cells the matching index files teams in.

No Django models here: the models (`TeamCell.of`) and the matching search both build on it.
"""

import math

from django.conf import settings
from geographiclib.geodesic import Geodesic

# Degrees ↔ kilometres, chosen to err on the side of a larger box: a degree of
# latitude is at least 110.57 km (at the equator), a degree of longitude at least
# 111.32·cos(φ) km (WGS84's equatorial radius times cos φ).
KM_PER_DEGREE_LAT_MIN = 110.5
KM_PER_DEGREE_LNG_EQUATOR = 111.32
# The cheap distance (`cheap_km`) errs by the flat ellipsoid's first neglected term, which
# grows with the square of the distance: measured against the WGS84 geodesic at latitudes to
# 75°, at most 5.8e-5 of the distance at 60 km and 5.8e-5·(d/60 km)² below, at every scale
# from 100 m up. Its stated bound is CHEAP_ERROR·(d/CHEAP_RANGE_KM)² of the distance, five
# times that, plus CHEAP_FLOOR_KM for float rounding (measured 2e-12 km). Past CHEAP_RANGE_KM
# it falls back to the mean sphere, good to 0.6 %, with FAR_ERROR.
CHEAP_ERROR = 3e-4
CHEAP_RANGE_KM = 60.0
CHEAP_FLOOR_KM = 1e-9
FAR_ERROR = 0.01
WGS84_A_KM = 6378.137
WGS84_E2 = 0.00669437999014
# A team exactly at its radius is inside it; a millimetre absorbs float noise.
EDGE_KM = 1e-6
EARTH_RADIUS_KM = 6371.0088
_WGS84 = Geodesic.WGS84
# Reach levels grow by √2: level L holds teams with radius up to 2**(L/2) km.
MAX_LEVEL_CAP = 40


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def cheap_km(lat1: float, lng1: float, lat2: float, lng2: float) -> tuple[float, float]:
    """A fast distance and a bound on its error, both in km.

    Near by, the ellipsoid is flat enough: scale the differences of latitude and longitude by
    the meridian and prime-vertical radii of curvature at the mean latitude (about 1 µs,
    against about 70 µs for geopy's geodesic).
    """
    mean = math.radians((lat1 + lat2) / 2)
    sin = math.sin(mean)
    w2 = 1 - WGS84_E2 * sin * sin
    n = WGS84_A_KM / math.sqrt(w2)
    m = n * (1 - WGS84_E2) / w2
    km = math.hypot(m * math.radians(lat2 - lat1), n * math.cos(mean) * math.radians(lng2 - lng1))
    if km <= CHEAP_RANGE_KM and abs(lat1) <= 75 and abs(lat2) <= 75:
        # Near by the bound is tiny, so few pairs of teams are too close to order cheaply.
        return km, km * CHEAP_ERROR * (km / CHEAP_RANGE_KM) ** 2 + CHEAP_FLOOR_KM
    far = haversine_km(lat1, lng1, lat2, lng2)
    return far, far * FAR_ERROR + CHEAP_FLOOR_KM


def exact_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """The WGS84 geodesic (Karney's algorithm, which geopy's `geodesic` wraps), asked for the
    distance alone: half the time of going through geopy."""
    return _WGS84.Inverse(lat1, lng1, lat2, lng2, Geodesic.DISTANCE)["s12"] / 1000


def bounding_box(lat: float, lng: float, km: float) -> tuple[float, float, float, float]:
    """(min_lat, max_lat, min_lng, max_lng) of a box that holds every point within `km` (geodesic)."""
    # 1 % more: a geodesic can leave the parallel box near its corners by a hair.
    km = km * 1.01 + 0.01
    dlat = km / KM_PER_DEGREE_LAT_MIN
    lo, hi = max(lat - dlat, -90.0), min(lat + dlat, 90.0)
    cos = math.cos(math.radians(max(abs(lo), abs(hi))))
    dlng = 180.0 if cos < 1e-6 else min(km / (KM_PER_DEGREE_LNG_EQUATOR * cos), 180.0)
    return lo, hi, lng - dlng, lng + dlng


def reach_level(radius_km: float) -> int:
    """The smallest level whose width covers the radius."""
    return min(max(0, math.ceil(2 * math.log2(max(radius_km, 1.0)) - 1e-9)), MAX_LEVEL_CAP)


def level_km(level: int) -> float:
    return 2 ** (level / 2)


def _cell_degrees(level: int) -> float:
    return level_km(level) / KM_PER_DEGREE_LAT_MIN


def _row(lat: float, deg: float) -> int:
    return math.floor((lat + 90.0) / deg)


def _col(lng: float, deg: float) -> int:
    return math.floor((lng + 180.0) / deg)


def _cell_key(level: int, row: int, col: int) -> int:
    """One integer per (level, cell): level, then the row, then the column."""
    return (level * 1_000_000 + row) * 1_000_000 + col


def cell_of(level: int, lat: float, lng: float) -> int:
    deg = _cell_degrees(level)
    return _cell_key(level, _row(lat, deg), _col(lng, deg))


def team_cell(lat: float, lng: float, radius_km: float) -> int:
    # No search looks farther than MAX_TEAM_RADIUS_KM, so a wider radius is filed as that
    # (the index must be refreshed if the setting is lowered).
    return cell_of(reach_level(min(radius_km, settings.MAX_TEAM_RADIUS_KM)), lat, lng)


def cells_within(lat: float, lng: float, km: float, *, max_radius_km: float) -> list[int]:
    """Every cell, at every level, that can hold a team within `km` of the point that reaches it."""
    cells: list[int] = []
    for level in range(reach_level(max_radius_km) + 1):
        # A team of this level reaches at most level_km(level): look no farther.
        reach = min(level_km(level), km)
        lo_lat, hi_lat, lo_lng, hi_lng = bounding_box(lat, lng, reach)
        deg = _cell_degrees(level)
        rows = range(_row(lo_lat, deg), _row(hi_lat, deg) + 1)
        cols = range(_col(lo_lng, deg), _col(hi_lng, deg) + 1)
        cells += [_cell_key(level, r, c) for r in rows for c in cols]
    return cells


def search_steps(max_radius_km: float) -> list[float]:
    """The search distances tried in turn: MATCH_SEARCH_KM, doubled, up to the largest radius."""
    step = min(settings.MATCH_SEARCH_KM, max_radius_km)
    steps = [step]
    while steps[-1] < max_radius_km:
        steps.append(min(steps[-1] * 2, max_radius_km))
    return steps


# --- eligibility (pure predicates) ------------------------------------------------
