"""Candidate teams for an order: eligibility, the edges, and what the dispatcher is told."""

from datetime import timedelta

import pytest
from geopy.distance import geodesic

from dispatch import services
from dispatch.choices import Level
from dispatch.models import Order, TeamCell
from dispatch.selectors import team_candidates
from volunteers.models import Team

from .. import factories as f
from ..conftest import requires_postgres


@pytest.fixture
def spot(station):
    return (station.lat, station.lng)


def at(origin: tuple[float, float], km: float, bearing: float = 45) -> dict:
    p = geodesic(kilometers=km).destination(origin, bearing)
    return {"home_lat": p.latitude, "home_lng": p.longitude}


def test_a_team_exactly_at_its_radius_is_a_candidate(story, station, category, spot):
    f.edit_teams(Team.objects.filter(pk=story.team.pk), active=False)
    edge = f.TeamFactory(unit=station, categories=[category], radius_km=3.0, **at(spot, 3.0, bearing=30))
    beyond = f.TeamFactory(unit=station, categories=[category], radius_km=3.0, **at(spot, 3.001, bearing=210))
    order = story.placed(lat=spot[0], lng=spot[1])
    teams = [c.team for c in team_candidates(order).candidates]
    assert edge.pk in teams and beyond.pk not in teams


def test_many_teams_at_one_point_are_ranked_by_their_record_then_by_id(story, station, category, spot):
    f.edit_teams(Team.objects.filter(pk=story.team.pk), active=False)
    same = [f.TeamFactory(unit=station, categories=[category], home_lat=spot[0], home_lng=spot[1]) for _ in range(6)]
    f.edit_teams(Team.objects.filter(pk=same[3].pk), rating_sum=50, rating_count=10)  # a 5★ record lifts it
    order = story.placed(lat=spot[0], lng=spot[1])
    ranked = [c.team for c in team_candidates(order).candidates]
    assert ranked == [same[3].pk, *(t.pk for t in same if t is not same[3])]


def test_an_order_with_no_eligible_team_gets_an_empty_answer_that_says_why(story, api):
    f.edit_teams(Team.objects.all(), capacity=1)
    busy = story.accepted()  # the only near team now has no free capacity
    order = story.placed()
    assert busy.team_id == story.team.pk
    response = api(story.dispatcher).get(f"/api/v1/orders/{order.pk}/candidates/?explain=true")
    assert response.status_code == 200
    body = response.json()
    assert body["candidates"] == [] and body["at_capacity"] == 1
    assert body["reachable"] == 1 and "1" in body["explanation"]
    assert api(story.dispatcher).get(f"/api/v1/orders/{order.pk}/candidates/").json() == []


def test_a_team_off_duty_at_the_requested_time_is_left_out(story, station, category):
    f.edit_teams(Team.objects.filter(pk=story.team.pk), available_weekdays="")
    start = f.tomorrow_at(10)
    order = story.placed(window_start=start, window_end=start + timedelta(hours=2))
    match = team_candidates(order)
    assert story.team.pk not in [c.team for c in match.candidates] and match.unavailable >= 1


def test_a_night_shift_team_serves_an_early_morning_window(story):
    from datetime import time

    f.edit_teams(Team.objects.filter(pk=story.team.pk), available_from=time(20), available_to=time(6))
    start = f.tomorrow_at(4)
    order = story.placed(window_start=start, window_end=start + timedelta(hours=1))
    assert story.team.pk in [c.team for c in team_candidates(order).candidates]


def test_the_jurisdiction_widens_with_the_orders_level(story, station, institute, category, spot):
    # 8 km out: beyond the station's 5 km jurisdiction, inside the institute's 15 km.
    institute.lat, institute.lng, institute.jurisdiction_km = spot[0], spot[1], 15
    institute.save()
    far = f.TeamFactory(unit=station, categories=[category], radius_km=10, **at(spot, 8))
    order = story.placed(lat=spot[0], lng=spot[1])
    assert far.pk not in [c.team for c in team_candidates(order).candidates]
    Order.objects.filter(pk=order.pk).update(level=Level.INSTITUTE)
    order.refresh_from_db()
    assert far.pk in [c.team for c in team_candidates(order).candidates]


def test_teams_that_declined_the_order_are_not_proposed_again(story, other_team, other_leader):
    order = story.dispatching(teams=[story.team])
    services.offer_decline(offer_id=story.offer_of(order).pk, user=story.team_leader)
    order.refresh_from_db()
    teams = [c.team for c in team_candidates(order).candidates]
    assert story.team.pk not in teams and other_team.pk in teams


def test_each_candidate_carries_its_reason_and_score_parts(story, api):
    order = story.placed()
    [first, *_] = api(story.dispatcher).get(f"/api/v1/orders/{order.pk}/candidates/").json()
    assert first["team"] == story.team.pk
    assert " · " in first["reason"] and "/2" in first["reason"]
    assert set(first["parts"]) == {"distance", "load", "acceptance", "rating", "response"}
    assert all(0 <= v <= 1 for v in first["parts"].values())


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "explain=maybe"])
def test_bad_candidate_parameters_are_refused_by_name(story, api, query):
    order = story.placed()
    response = api(story.dispatcher).get(f"/api/v1/orders/{order.pk}/candidates/?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["fields"]


def test_the_team_record_rolls_up_answers_and_ratings(story, other_team, other_leader):
    order = story.dispatching(teams=[story.team, other_team], mode="broadcast")
    services.offer_decline(offer_id=story.offer_of(order, other_team).pk, user=other_leader)
    services.offer_accept(offer_id=story.offer_of(order).pk, user=story.team_leader)
    assert services.team_stats_refresh() == 2
    team, other = Team.objects.get(pk=story.team.pk), Team.objects.get(pk=other_team.pk)
    assert (team.offers_answered, team.offers_accepted) == (1, 1)
    assert (other.offers_answered, other.offers_accepted) == (1, 0)
    assert team.response_seconds is not None and team.response_seconds >= 0
    # Ranking reads the record from the matching index's copy, refreshed with it.
    copy = TeamCell.objects.get(team=story.team)
    assert (copy.offers_answered, copy.offers_accepted, copy.response_seconds) == (1, 1, team.response_seconds)
    assert services.team_stats_refresh() == 0  # nothing moved: nothing written


def test_the_matching_index_follows_the_team_it_copies(team, category):
    other = f.CategoryFactory(code="medical", name="医疗")
    f.edit_teams(Team.objects.filter(pk=team.pk), name="新名字", capacity=4)
    team.categories.add(other)
    assert services.matching_index_refresh(team_ids=[team.pk]) == 2
    assert set(TeamCell.objects.filter(team=team).values_list("category_id", "name", "capacity")) == {
        (category.pk, "新名字", 4),
        (other.pk, "新名字", 4),
    }
    team.categories.remove(category)
    services.matching_index_refresh(team_ids=[team.pk])
    assert list(TeamCell.objects.filter(team=team).values_list("category_id", flat=True)) == [other.pk]
    f.edit_teams(Team.objects.filter(pk=team.pk), active=False)  # an inactive team is not in the index at all
    assert not TeamCell.objects.filter(team=team).exists()
    f.edit_teams(Team.objects.filter(pk=team.pk), active=True)
    assert services.matching_index_refresh() == TeamCell.objects.count() == 1


def test_a_higher_dispatcher_sees_teams_across_their_own_wider_jurisdiction(
    story, station, institute, category, spot, api
):
    institute.lat, institute.lng, institute.jurisdiction_km = spot[0], spot[1], 15
    institute.save()
    institute_dispatcher = f.staff(institute)
    station_dispatcher = f.staff(station)
    far = f.TeamFactory(unit=station, categories=[category], radius_km=10, **at(spot, 8))
    order = story.placed(lat=spot[0], lng=spot[1])

    def teams_for(user) -> list[int]:
        return [c["team"] for c in api(user).get(f"/api/v1/orders/{order.pk}/candidates/").json()]

    assert far.pk not in teams_for(station_dispatcher)
    assert far.pk in teams_for(institute_dispatcher)


def test_reindexing_finds_a_team_moved_behind_the_index_back(story, center, spot):
    from django.core.management import call_command

    center.jurisdiction_km = 60
    center.save()
    Team.objects.filter(pk=story.team.pk).update(home_lat=spot[0] + 0.2)  # 22 km, moved without the admin
    order = story.placed(lat=spot[0] + 0.2, lng=spot[1])
    Order.objects.filter(pk=order.pk).update(level=Level.CENTER)
    order.refresh_from_db()
    assert story.team.pk not in [c.team for c in team_candidates(order).candidates]
    call_command("reindex_teams")
    assert story.team.pk in [c.team for c in team_candidates(order).candidates]


@requires_postgres
def test_on_postgresql_the_search_is_prepared_once_per_connection(story):
    from django.db import connection

    order = story.placed()
    for _ in range(3):
        team_candidates(order)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%dispatch_teamcell%"])
        assert len(cursor.fetchall()) == 1  # Django's own statements stay unprepared
        cursor.execute("SHOW plan_cache_mode")
        assert cursor.fetchone() == ("force_generic_plan",)


def test_the_index_keeps_each_teams_load_in_step_with_its_orders(story, team_leader):
    def load() -> tuple[int, int]:
        copy = TeamCell.objects.get(team=story.team).load
        return copy, Order.objects.filter(team=story.team, state__in=("accepted", "in_service")).count()

    f.edit_teams(Team.objects.filter(pk=story.team.pk), capacity=4)
    first, _second = story.accepted(), story.in_service()
    assert load() == (2, 2)
    services.matching_index_refresh(team_ids=[story.team.pk])  # a recount agrees
    assert load() == (2, 2)
    story.completed()  # accepted, in service, completed: in hand, then not
    assert load() == (2, 2)
    services.order_abandon(order_id=first.pk, user=team_leader)
    assert load() == (1, 1)
    third = story.accepted()
    assert load() == (2, 2)
    services.order_cancel(order_id=third.pk, user=story.dispatcher)
    assert load() == (1, 1)
