"""The matching index's cell of a team, frozen as the data migrations 0003 and 0005 filed teams.

Migrations run against the history of the schema, not the code of today: if dispatch.geo's grid
changes, a new migration re-files the teams, and these stay as they ran. (The migration loader
skips modules whose name begins with an underscore.)
"""

import math

from django.conf import settings

KM_PER_DEGREE_LAT = 110.5
LEVEL_CAP = 40


def cell_of_team(lat: float, lng: float, radius_km: float) -> int:
    """Reach level L = ⌈2·log2 r⌉ (cells 2^(L/2) km wide), then (level, row, column) in one integer."""
    radius = min(radius_km, settings.MAX_TEAM_RADIUS_KM)
    level = min(max(0, math.ceil(2 * math.log2(max(radius, 1.0)) - 1e-9)), LEVEL_CAP)
    degrees = 2 ** (level / 2) / KM_PER_DEGREE_LAT
    row, col = math.floor((lat + 90.0) / degrees), math.floor((lng + 180.0) / degrees)
    return (level * 1_000_000 + row) * 1_000_000 + col
