"""The fast candidate search returns exactly what a plain scan of every team returns."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from geopy.distance import geodesic
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from dispatch import geo, matching, selectors
from dispatch.matching import Jurisdiction, MatchQuery, TeamFacts
from dispatch.selectors import team_facts
from dispatch.services import matching_index_refresh
from volunteers.models import Team

from .. import factories as f

TZ = ZoneInfo("Asia/Shanghai")
CENTER = (28.70, 104.50)
# Radii that sit on and between the reach levels' edges (√2 steps), up to the largest allowed.
RADII = st.one_of(
    # 80 km: wider than MAX_TEAM_RADIUS_KM, which no search looks past.
    st.sampled_from([0.5, 1.0, 1.4142135623730951, 2.0, 3.0, 5.0, 8.0, 10.0, 15.0, 32.0, 50.0, 80.0]),
    st.floats(min_value=0.3, max_value=50.0, allow_nan=False),
)
HOURS = st.sampled_from([(time(8), time(18)), (time(0), time(23, 59)), (time(20), time(6)), (time(14), time(16))])


@st.composite
def point(draw, spread_km: float = 60.0) -> tuple[float, float]:
    bearing = draw(st.floats(min_value=0, max_value=360))
    km = draw(st.floats(min_value=0, max_value=spread_km))
    p = geodesic(kilometers=km).destination(CENTER, bearing)
    return round(p.latitude, 6), round(p.longitude, 6)


@st.composite
def teams(draw, max_size: int = 40) -> list[TeamFacts]:
    n = draw(st.integers(min_value=0, max_value=max_size))
    # A few shared spots, so that many teams stand at one point.
    spots = draw(st.lists(point(), min_size=1, max_size=4))
    out = []
    for i in range(n):
        lat, lng = draw(st.one_of(point(), st.sampled_from(spots)))
        start, end = draw(HOURS)
        capacity = draw(st.integers(min_value=1, max_value=4))
        answered = draw(st.integers(min_value=0, max_value=50))
        rated = draw(st.integers(min_value=0, max_value=20))
        out.append(
            TeamFacts(
                id=i + 1,
                name=f"队{i + 1}",
                lat=lat,
                lng=lng,
                radius_km=draw(RADII),
                capacity=capacity,
                available_from=start,
                available_to=end,
                available_weekdays=draw(st.sampled_from(["1234567", "12345", "67", "3"])),
                offers_answered=answered,
                offers_accepted=draw(st.integers(min_value=0, max_value=answered)),
                rating_sum=rated * draw(st.integers(min_value=1, max_value=5)),
                rating_count=rated,
                response_seconds=draw(st.none() | st.floats(min_value=5, max_value=7200)),
                load=draw(st.integers(min_value=0, max_value=capacity)),
            )
        )
    return out


@st.composite
def queries(draw, team_list: list[TeamFacts]) -> MatchQuery:
    if team_list and draw(st.booleans()):
        # An order exactly at some team's radius: the edge case the margins must get right.
        team = draw(st.sampled_from(team_list))
        p = geodesic(kilometers=team.radius_km).destination((team.lat, team.lng), draw(st.floats(0, 360)))
        lat, lng = p.latitude, p.longitude
    else:
        lat, lng = draw(point())
    start = datetime(2026, 12, 1, tzinfo=TZ) + timedelta(minutes=30 * draw(st.integers(min_value=0, max_value=7 * 48)))
    jurisdiction = None
    if draw(st.booleans()):
        jlat, jlng = draw(point(spread_km=20))
        jurisdiction = Jurisdiction(jlat, jlng, draw(st.sampled_from([5.0, 15.0, 60.0])))
    ids = [t.id for t in team_list]
    return MatchQuery(
        lat=lat,
        lng=lng,
        category_id=1,
        window_start=start,
        window_end=start + timedelta(hours=draw(st.sampled_from([1, 2, 8, 30]))),
        jurisdiction=jurisdiction,
        exclude=frozenset(draw(st.lists(st.sampled_from(ids), max_size=3)) if ids else []),
        limit=draw(st.sampled_from([None, 1, 3, 20])),
    )


def assert_same_answer(fast: list, reference: list) -> None:
    """The same teams in the same order; figures equal up to the cheap distance's rounding.

    The fast search keeps a cheap distance (within 1e-3 of the geodesic) for a team whose
    place in the order it cannot change, so its kilometres may differ in the last digits.
    """
    assert [c.team for c in fast] == [c.team for c in reference]
    for got, want in zip(fast, reference, strict=True):
        assert got.distance_km == pytest.approx(want.distance_km, rel=1e-3, abs=2e-3)
        assert got.score == pytest.approx(want.score, abs=2e-4)
        assert got.parts.keys() == want.parts.keys()


@st.composite
def rivals(draw, query: MatchQuery, first_id: int) -> list[TeamFacts]:
    """Pairs of teams alike in all but a few centimetres of distance from the order: only exact
    distances order them, since the cheap distance's bound is wider than their difference."""
    out = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        km = draw(st.floats(min_value=0.5, max_value=20))
        for gap_km in (0.0, draw(st.sampled_from([0.0, 1e-5, 3e-5, -2e-5]))):
            p = geodesic(kilometers=km + gap_km).destination((query.lat, query.lng), draw(st.floats(0, 360)))
            out.append(
                TeamFacts(id=first_id + len(out), name="邻", lat=p.latitude, lng=p.longitude, radius_km=25, capacity=2)
            )
    return out


@st.composite
def cases(draw) -> tuple[MatchQuery, list[TeamFacts]]:
    team_list = draw(teams())
    query = draw(queries(team_list))
    return query, team_list + draw(rivals(query, len(team_list) + 1))


@given(cases())
@hsettings(max_examples=150, deadline=None)
def test_ranking_in_memory_agrees_with_the_exhaustive_scan(case):
    query, team_list = case
    assert_same_answer(
        matching.search_in_memory(query, team_list).candidates, matching.search_exhaustive(query, team_list)
    )


@given(team=st.tuples(point(), RADII), bearing=st.floats(0, 360), share=st.floats(0, 1), search_km=RADII)
@hsettings(max_examples=500, deadline=None)
def test_a_team_that_reaches_a_point_is_filed_in_a_cell_the_point_searches(team, bearing, share, search_km):
    (lat, lng), radius = team
    p = geodesic(kilometers=radius * share).destination((lat, lng), bearing)
    cells = geo.cells_within(p.latitude, p.longitude, search_km, max_radius_km=50.0)
    if radius * share <= min(search_km, 50.0):
        assert geo.team_cell(lat, lng, radius) in cells
        min_lat, max_lat, min_lng, max_lng = geo.bounding_box(p.latitude, p.longitude, search_km)
        assert min_lat <= lat <= max_lat and min_lng <= lng <= max_lng


@pytest.fixture
def place(station):
    return station


@given(data=st.data())
@hsettings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_database_search_agrees_with_the_exhaustive_scan(data, place, category, django_db_blocker):
    Team.objects.all().delete()
    drawn = data.draw(teams(max_size=30))
    made = Team.objects.bulk_create(
        Team(
            name=t.name,
            unit=place,
            home_lat=t.lat,
            home_lng=t.lng,
            radius_km=t.radius_km,
            capacity=t.capacity,
            available_from=t.available_from,
            available_to=t.available_to,
            available_weekdays=t.available_weekdays,
            offers_answered=t.offers_answered,
            offers_accepted=t.offers_accepted,
            rating_sum=t.rating_sum,
            rating_count=t.rating_count,
            response_seconds=t.response_seconds,
            # Now and then a team that is out of service.
            active=t.id % 7 != 0,
        )
        for t in drawn
    )
    through = Team.categories.through
    other = f.CategoryFactory()
    through.objects.bulk_create(
        through(team_id=team.pk, category_id=category.pk if facts.id % 5 else other.pk)
        for team, facts in zip(made, drawn, strict=True)
    )
    matching_index_refresh(team_ids=[t.pk for t in made])
    all_teams = team_facts(category_id=category.pk)
    query = data.draw(queries(all_teams))
    query = MatchQuery(**{**query.__dict__, "category_id": category.pk, "exclude": frozenset()})
    assert_same_answer(selectors.search(query).candidates, matching.search_exhaustive(query, all_teams))


def test_the_search_widens_until_enough_teams_qualify(station, category):
    near = f.TeamFactory(unit=station, categories=[category], home_lat=28.70, home_lng=104.50, radius_km=40)
    far = [
        f.TeamFactory(unit=station, categories=[category], home_lat=28.70 + 0.2 + i * 0.01, radius_km=40)
        for i in range(settings.MATCH_MIN_CANDIDATES)
    ]
    start = f.tomorrow_at(10)
    query = MatchQuery(28.70, 104.50, category.pk, start, start + timedelta(hours=2))
    match = selectors.search(query)
    assert match.searched_km > settings.MATCH_SEARCH_KM
    assert {c.team for c in match.candidates} == {near.pk, *(t.pk for t in far)}
    assert match.candidates[0].team == near.pk


@pytest.fixture
def worst_cheap_distance(monkeypatch):
    """A cheap distance as wrong as its stated bound allows: too long northwards, too short otherwise.

    The real one is far better than its bound, so only this shows that the ranking settles
    every order the bound leaves in doubt."""
    real = matching.cheap_km

    def biased(lat1: float, lng1: float, lat2: float, lng2: float) -> tuple[float, float]:
        km, error_km = real(lat1, lng1, lat2, lng2)
        return km + 0.9 * error_km if lat2 > lat1 else km - 0.9 * error_km, error_km

    monkeypatch.setattr(matching, "cheap_km", biased)


def test_exact_distances_decide_a_near_tie_that_cheap_ones_get_wrong(worst_cheap_distance):
    north = geodesic(kilometers=10.0).destination(CENTER, 0)
    # 5 cm farther: within the cheap distance's bound at 10 km (about 8e-5 km).
    east = geodesic(kilometers=10.00005).destination(CENTER, 90)
    alike = {"radius_km": 20.0, "capacity": 2}
    team_list = [
        TeamFacts(id=1, name="北", lat=north.latitude, lng=north.longitude, **alike),
        TeamFacts(id=2, name="东", lat=east.latitude, lng=east.longitude, **alike),
    ]
    assert matching.cheap_km(*CENTER, east.latitude, east.longitude) < matching.cheap_km(
        *CENTER, north.latitude, north.longitude
    )
    start = datetime(2026, 12, 1, 10, tzinfo=TZ)
    query = MatchQuery(*CENTER, 1, start, start + timedelta(hours=2), limit=1)
    assert [c.team for c in matching.search_in_memory(query, team_list).candidates] == [1]
    assert [c.team for c in matching.search_exhaustive(query, team_list)] == [1]


@given(cases())
@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ranking_agrees_even_when_cheap_distances_are_as_wrong_as_allowed(worst_cheap_distance, case):
    query, team_list = case
    fast = matching.search_in_memory(query, team_list).candidates
    reference = matching.search_exhaustive(query, team_list)
    assert [c.team for c in fast] == [c.team for c in reference]


@given(
    lat=st.floats(min_value=-80, max_value=80),
    lng=st.floats(min_value=-179.9, max_value=179.9),
    radius=st.floats(min_value=0.1, max_value=200),
)
def test_the_migrations_frozen_cell_is_todays_cell(lat, lng, radius):
    from dispatch.migrations._cells_2026 import cell_of_team

    assert cell_of_team(lat, lng, radius) == geo.team_cell(lat, lng, radius)
