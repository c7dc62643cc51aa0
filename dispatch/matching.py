"""Candidate teams for an order (DESIGN §4): an indexed prefilter, then exact ranking.

Two halves that meet at `TeamFacts`:

* `selectors.search` asks the database for the few teams that can reach a point. Every team
  is indexed (`TeamCell`, one row per category served) in a grid cell of a *reach
  level*: teams whose radius is at most `level_km(L)` live in cells `level_km(L)`
  wide, so a query reads, per level, only the handful of cells around the point.
  The search distance starts at `MATCH_SEARCH_KM` and doubles while fewer than
  `MATCH_MIN_CANDIDATES` teams qualify.
* `qualify` and `rank` are pure (no ORM): eligibility and score from facts. They
  measure cheaply (`cheap_km`) first and spend the exact geodesic only where the
  cheap figure could change the answer: a team near its radius, the search distance
  or the jurisdiction's edge, or in a run of candidates whose scores are too close
  to order on cheap distances.

`search_exhaustive` is the reference: every team, geopy's geodesic for each. The
property tests hold the fast search to it.
"""

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from geopy.distance import geodesic

from .geo import (
    EDGE_KM,
    cheap_km,
    exact_km,
    search_steps,
)

ALL_WEEK, MIDNIGHT, LAST_MINUTE = "1234567", time(0, 0), time(23, 59)


@dataclass(frozen=True)
class Jurisdiction:
    """The disk of the unit responsible for an order at its level."""

    lat: float
    lng: float
    km: float


@dataclass(frozen=True)
class MatchQuery:
    lat: float
    lng: float
    category_id: int
    window_start: datetime
    window_end: datetime
    jurisdiction: Jurisdiction | None = None
    exclude: frozenset[int] = frozenset()
    limit: int | None = None


class TeamFacts(NamedTuple):
    """What ranking needs to know of one team, read once from the database.

    A named tuple: a search builds one per team that reaches the order, and a tuple is made
    several times faster than a frozen dataclass."""

    id: int
    name: str
    lat: float
    lng: float
    radius_km: float
    capacity: int
    available_from: time = time(0, 0)
    available_to: time = time(23, 59)
    available_weekdays: str = "1234567"
    offers_answered: int = 0
    offers_accepted: int = 0
    rating_sum: int = 0
    rating_count: int = 0
    response_seconds: float | None = None
    # Orders accepted and not yet completed.
    load: int = 0


@dataclass(frozen=True)
class Candidate:
    team: int
    name: str
    distance_km: float
    score: float
    reason: str
    parts: dict[str, float] = field(default_factory=dict)


@dataclass
class Match:
    """The ranked candidates and how they were found, so an empty answer can say why."""

    candidates: list[Candidate]
    searched_km: float
    reachable: int = 0
    unavailable: int = 0
    at_capacity: int = 0
    outside_jurisdiction: int = 0

    @property
    def explanation(self) -> str:
        if self.candidates:
            return _("%(n)d teams within %(km)g km.") % {"n": len(self.candidates), "km": self.searched_km}
        if not self.reachable:
            return _("No active team serving this category reaches this place within %(km)g km.") % {
                "km": self.searched_km
            }
        return _(
            "%(n)d teams reach this place but none can take it: %(busy)d at capacity, "
            "%(off)d not available at that time, %(out)d outside the jurisdiction."
        ) % {
            "n": self.reachable,
            "busy": self.at_capacity,
            "off": self.unavailable,
            "out": self.outside_jurisdiction,
        }


# --- geometry -------------------------------------------------------------------


def is_available(facts: TeamFacts, start: datetime, end: datetime) -> bool:
    """The team's service hours on one of its weekdays overlap the requested window."""
    tz = ZoneInfo(settings.TIME_ZONE)
    return _is_available_local(facts, start.astimezone(tz), end.astimezone(tz), tz)


def _available(
    facts: TeamFacts, start: datetime, end: datetime, tz: ZoneInfo, seen: dict[tuple[time, time, str], bool]
) -> bool:
    # Teams share a handful of schedules: work each out once per query.
    key = (facts.available_from, facts.available_to, facts.available_weekdays)
    if key not in seen:
        seen[key] = _is_available_local(facts, start, end, tz)
    return seen[key]


def _is_available_local(facts: TeamFacts, local_start: datetime, local_end: datetime, tz: ZoneInfo) -> bool:
    if facts.available_weekdays == ALL_WEEK and facts.available_from == MIDNIGHT and facts.available_to >= LAST_MINUTE:
        return True  # round the clock, every day: nothing to compute
    day = local_start.date() - timedelta(days=1)  # a shift that began the evening before may still run
    while day <= local_end.date():
        if str(day.isoweekday()) in facts.available_weekdays:
            open_at = datetime.combine(day, facts.available_from, tz)
            close_day = day + timedelta(days=1) if facts.available_to <= facts.available_from else day
            close_at = datetime.combine(close_day, facts.available_to, tz)
            if open_at < local_end and local_start < close_at:
                return True
        day += timedelta(days=1)
    return False


def has_capacity(facts: TeamFacts) -> bool:
    return facts.load < facts.capacity


# --- score --------------------------------------------------------------------------


# The score's parts that a team's record and load give, whatever the order's place.
RECORD_PARTS = ("load", "acceptance", "rating", "response")


@dataclass(frozen=True)
class Scoring:
    """The score's settings, read once per search (a settings read per team costs more than the sum)."""

    weights: dict[str, float]
    distance_scale_km: float
    response_scale_min: float
    prior_weight: float
    prior_acceptance: float
    prior_rating: float
    prior_response_min: float

    @classmethod
    def current(cls) -> "Scoring":
        total = sum(settings.MATCH_WEIGHTS.values()) or 1.0
        return cls(
            weights={k: v / total for k, v in settings.MATCH_WEIGHTS.items()},
            distance_scale_km=settings.MATCH_DISTANCE_SCALE_KM,
            response_scale_min=settings.MATCH_RESPONSE_SCALE_MIN,
            prior_weight=settings.MATCH_PRIOR_WEIGHT,
            prior_acceptance=settings.MATCH_PRIOR_ACCEPTANCE,
            prior_rating=settings.MATCH_PRIOR_RATING,
            prior_response_min=settings.MATCH_PRIOR_RESPONSE_MIN,
        )

    def record_parts(self, facts: TeamFacts) -> dict[str, float]:
        """The parts that do not depend on distance, each in [0, 1], higher is better.

        A team with little history leans on the prior, as if it had `prior_weight` answers like it."""
        return dict(zip(RECORD_PARTS, self._record_values(facts), strict=True))

    def _record_values(self, facts: TeamFacts) -> tuple[float, float, float, float]:
        n = self.prior_weight
        acceptance = (facts.offers_accepted + n * self.prior_acceptance) / (facts.offers_answered + n)
        rating = (facts.rating_sum + n * self.prior_rating) / (facts.rating_count + n)
        response_min = facts.response_seconds / 60 if facts.response_seconds is not None else self.prior_response_min
        return (
            1 - facts.load / facts.capacity if facts.capacity else 0.0,
            acceptance,
            (rating - 1) / 4,
            1 / (1 + response_min / self.response_scale_min),
        )

    @functools.cached_property
    def record_weights(self) -> tuple[float, ...]:
        """The weights of RECORD_PARTS, in that order."""
        return tuple(self.weights.get(part, 0.0) for part in RECORD_PARTS)

    def record_score(self, facts: TeamFacts) -> float:
        # Run for every team that qualifies: the products summed in RECORD_PARTS' order, with
        # no dict or generator in between.
        load, acceptance, rating, response = self._record_values(facts)
        w_load, w_acceptance, w_rating, w_response = self.record_weights
        return w_load * load + w_acceptance * acceptance + w_rating * rating + w_response * response

    def distance_part(self, km: float) -> float:
        return 1 / (1 + km / self.distance_scale_km)

    def parts(self, facts: TeamFacts, km: float) -> dict[str, float]:
        """Every part of the score, each in [0, 1]: what a candidate shows beside its score."""
        return {"distance": self.distance_part(km), **self.record_parts(facts)}

    def total(self, facts: TeamFacts, km: float) -> float:
        """The score, without building the parts' dict: a search scores more teams than it shows."""
        return self.record_score(facts) + self.weights.get("distance", 0.0) * self.distance_part(km)

    @property
    def distance_sensitivity(self) -> float:
        """How much the score can move per km of distance error (the distance part's steepest slope)."""
        return self.weights.get("distance", 0.0) / self.distance_scale_km


def reason_texts() -> dict[str, str]:
    """The reason's phrases in the current language, looked up once per language, not per search."""
    return _reason_texts_in(get_language())


@functools.lru_cache(maxsize=32)
def _reason_texts_in(language: str | None) -> dict[str, str]:
    # gettext answers in the active language, which is `language`: the cache key.
    return {
        "km": _("%(km).1f km"),
        "busy": _("%(load)d/%(cap)d busy"),
        "stars": _("%(stars).1f★"),
        "unrated": _("not yet rated"),
        "accepts": _("accepts %(pct)d%%"),
        "answers": _("answers in ~%(min)d min"),
    }


def reason(facts: TeamFacts, distance_km: float, texts: dict[str, str] | None = None) -> str:
    t = texts or reason_texts()
    bits = [t["km"] % {"km": distance_km}, t["busy"] % {"load": facts.load, "cap": facts.capacity}]
    if facts.rating_count:
        bits.append(t["stars"] % {"stars": facts.rating_sum / facts.rating_count})
    else:
        bits.append(t["unrated"])
    if facts.offers_answered:
        bits.append(t["accepts"] % {"pct": round(100 * facts.offers_accepted / facts.offers_answered)})
    if facts.response_seconds is not None:
        bits.append(t["answers"] % {"min": max(1, round(facts.response_seconds / 60))})
    return " · ".join(bits)


# --- ranking --------------------------------------------------------------------------


def _cheap_verdict(cheap: float, error_km: float, limit_km: float) -> bool | None:
    """Whether a cheap distance is within the limit, or None when its error leaves it in doubt."""
    if cheap <= limit_km - error_km:
        return True
    if cheap > limit_km + error_km + EDGE_KM:
        return False
    return None


class _Measured:
    """A team's distance: cheap until it must be exact."""

    __slots__ = ("facts", "km", "exact", "error_km")

    def __init__(self, facts: TeamFacts, query: MatchQuery) -> None:
        self.facts = facts
        self.km, self.error_km = cheap_km(query.lat, query.lng, facts.lat, facts.lng)
        self.exact = False

    def make_exact(self, query: MatchQuery) -> float:
        if not self.exact:
            self.km = exact_km(query.lat, query.lng, self.facts.lat, self.facts.lng)
            self.exact, self.error_km = True, 0.0
        return self.km

    def within(self, limit_km: float, query: MatchQuery) -> bool:
        if not self.exact:
            verdict = _cheap_verdict(self.km, self.error_km, limit_km)
            if verdict is not None:
                return verdict
            self.make_exact(query)
        return self.km <= limit_km + EDGE_KM


def in_jurisdiction(j: Jurisdiction | None, lat: float, lng: float) -> bool:
    """Whether a place lies in the disk (no disk: anywhere)."""
    if j is None:
        return True
    verdict = _cheap_verdict(*cheap_km(j.lat, j.lng, lat, lng), j.km)
    if verdict is not None:
        return verdict
    return exact_km(j.lat, j.lng, lat, lng) <= j.km + EDGE_KM


def qualify(query: MatchQuery, teams: Iterable[TeamFacts], searched_km: float) -> tuple[list[_Measured], Match]:
    """The teams that may take the order, and the tally of those that may not."""
    tally = Match(candidates=[], searched_km=searched_km)
    near = []
    tz = ZoneInfo(settings.TIME_ZONE)
    local_start, local_end = query.window_start.astimezone(tz), query.window_end.astimezone(tz)
    seen: dict[tuple[time, time, str], bool] = {}
    for facts in teams:
        if facts.id in query.exclude:
            continue
        m = _Measured(facts, query)
        if not m.within(min(facts.radius_km, searched_km), query):
            continue
        tally.reachable += 1
        if not in_jurisdiction(query.jurisdiction, facts.lat, facts.lng):
            tally.outside_jurisdiction += 1
        elif not _available(facts, local_start, local_end, tz, seen):
            tally.unavailable += 1
        else:
            near.append(m)
    out = []
    for m in near:
        if has_capacity(m.facts):
            out.append(m)
        else:
            tally.at_capacity += 1
    return out, tally


def rank(query: MatchQuery, qualified: list[_Measured]) -> list[Candidate]:
    """Best first, in the order exact distances give; computed exactly only where they change it.

    Each cheap score stands for an interval that holds the exact one. Teams whose intervals
    overlap no other are already in their exact place; only runs of overlapping intervals
    (and the cut at `limit`) are settled with geodesic distances.
    """
    scoring = Scoring.current()
    slack = scoring.distance_sensitivity
    rows = []
    for m in qualified:
        s = scoring.total(m.facts, m.km)
        rows.append((s - slack * m.error_km, s + slack * m.error_km, m))
    if query.limit is not None and len(rows) > query.limit:
        # A team can be in the top `limit` only if its best case reaches the limit-th worst case.
        bar = sorted((low for low, _high, _m in rows), reverse=True)[query.limit - 1]
        rows = [row for row in rows if row[1] >= bar]
    rows.sort(key=lambda row: -row[1])
    run: list[_Measured] = []
    run_low = math.inf
    for low, high, m in rows:
        if run and high < run_low:
            _settle(run, query)
            run, run_low = [], math.inf
        run.append(m)
        run_low = min(run_low, low)
    _settle(run, query)
    return _finish(query, [(m.facts, m.km) for _low, _high, m in rows], scoring)


def _settle(run: list[_Measured], query: MatchQuery) -> None:
    if len(run) > 1:
        for m in run:
            m.make_exact(query)


def _finish(query: MatchQuery, measured: list[tuple[TeamFacts, float]], scoring: Scoring) -> list[Candidate]:
    rows = []
    for facts, km in measured:
        s = scoring.total(facts, km)
        rows.append((-s, round(km, 3), facts.id, facts, km, s))
    rows.sort(key=lambda r: r[:3])
    if query.limit is not None:
        rows = rows[: query.limit]
    texts = reason_texts()
    return [
        Candidate(
            team=facts.id,
            name=facts.name,
            distance_km=rounded_km,
            score=round(s, 4),
            reason=reason(facts, km, texts),
            parts={k: round(v, 4) for k, v in scoring.parts(facts, km).items()},
        )
        for _neg, rounded_km, _id, facts, km, s in rows
    ]


def search_in_memory(query: MatchQuery, teams: Sequence[TeamFacts]) -> Match:
    """The fast rules over teams already in memory (facts with their loads)."""
    return search_with(query, lambda km: teams)


def search_exhaustive(query: MatchQuery, teams: Sequence[TeamFacts]) -> list[Candidate]:
    """The reference answer, written plainly: every team, geopy's geodesic for each."""
    steps = search_steps(settings.MAX_TEAM_RADIUS_KM)
    for searched_km in steps:
        eligible = []
        for facts in teams:
            km = geodesic((query.lat, query.lng), (facts.lat, facts.lng)).km
            j = query.jurisdiction
            if (
                facts.id not in query.exclude
                and km <= facts.radius_km + EDGE_KM
                and km <= searched_km + EDGE_KM
                and (j is None or geodesic((j.lat, j.lng), (facts.lat, facts.lng)).km <= j.km + EDGE_KM)
                and is_available(facts, query.window_start, query.window_end)
                and has_capacity(facts)
            ):
                eligible.append((facts, km))
        if len(eligible) >= settings.MATCH_MIN_CANDIDATES or searched_km == steps[-1]:
            return _finish(query, eligible, Scoring.current())
    raise AssertionError("unreachable: the last step always returns")


def search_with(query: MatchQuery, facts_within: Callable[[float], Sequence[TeamFacts]]) -> Match:
    """The search distances in turn, reading teams at most twice: at the first distance, then —
    if too few qualify there — at the widest, whose teams hold every narrower step's."""
    steps = search_steps(settings.MAX_TEAM_RADIUS_KM)
    qualified, tally = qualify(query, facts_within(steps[0]), steps[0])
    if len(qualified) < settings.MATCH_MIN_CANDIDATES and len(steps) > 1:
        widest = facts_within(steps[-1])
        for searched_km in steps[1:]:
            qualified, tally = qualify(query, widest, searched_km)
            if len(qualified) >= settings.MATCH_MIN_CANDIDATES:
                break
    tally.candidates = rank(query, qualified)
    return tally
