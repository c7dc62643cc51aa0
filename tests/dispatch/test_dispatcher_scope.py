"""A dispatcher places and acts only inside their unit's subtree, and dispatches only to teams their
candidate search covers (issue: hardening)."""

import re

import pytest

from dispatch.models import Offer, Order, StaffProfile, Transition
from realtime.models import Event
from requests_app import services as intake

from .. import factories as f

pytestmark = pytest.mark.django_db


def rows() -> tuple[int, int, int, int]:
    return Order.objects.count(), Offer.objects.count(), Transition.objects.count(), Event.objects.count()


@pytest.fixture
def institute_dispatcher(institute):
    return f.staff(institute)


@pytest.fixture
def far_team(other_station, category):
    """A team of another institute, 14 km away: outside the institute's 5 km jurisdiction."""
    return f.TeamFactory(unit=other_station, categories=[category], home_lat=28.80, home_lng=104.60, radius_km=30)


def test_an_institute_dispatcher_cannot_place_an_order_at_another_institutes_station(
    api, institute_dispatcher, category, other_station
):
    before = rows()

    response = api(institute_dispatcher).post(
        "/api/v1/orders/",
        f.order_payload(category, station=other_station.pk, lat=None, lng=None),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "outside_your_unit"
    assert "station" in response.json()["fields"]
    assert rows() == before


def test_an_institute_dispatcher_cannot_place_at_a_place_another_institute_serves(
    api, institute_dispatcher, category, station, other_station
):
    before = rows()

    response = api(institute_dispatcher).post(
        "/api/v1/orders/", f.order_payload(category, lat=28.801, lng=104.601), format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "outside_your_unit"
    assert rows() == before


def test_an_institute_dispatcher_places_an_order_in_their_own_subtree(api, institute_dispatcher, category, station):
    response = api(institute_dispatcher).post("/api/v1/orders/", f.order_payload(category), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["station"] == station.pk


@pytest.fixture
def moved_away(institute_dispatcher, category, station, other_station):
    """An order the dispatcher placed in their subtree, before they moved to another institute."""
    order, _ = intake.order_place(user=institute_dispatcher, **f.order_fields(category))
    StaffProfile.objects.filter(user=institute_dispatcher).update(unit=other_station.parent)
    institute_dispatcher.refresh_from_db()
    return order


@pytest.mark.parametrize(
    ("method", "action", "body"),
    [
        ("get", "candidates", None),
        ("post", "dispatch", "team"),
        ("post", "recall", {"note": ""}),
        ("post", "reject", {"note": "不在服务范围"}),
        ("post", "cancel", {"note": ""}),
    ],
)
def test_a_dispatcher_acts_on_no_order_outside_their_subtree_even_one_they_placed(
    api, moved_away, institute_dispatcher, team, method, action, body
):
    if body == "team":
        body = {"mode": "directed", "teams": [team.pk]}
    before = rows()

    response = getattr(api(institute_dispatcher), method)(
        f"/api/v1/orders/{moved_away.pk}/{action}/", body, format="json"
    )

    assert response.status_code == 403, response.json()
    assert response.json()["code"] in ("outside_your_unit", "permission_denied")
    assert rows() == before
    assert Order.objects.get(pk=moved_away.pk).state == "submitted"


def test_a_dispatcher_cannot_dispatch_to_a_team_outside_what_their_unit_may_dispatch_to(
    api, institute_dispatcher, story, far_team
):
    order = story.placed()
    before = rows()

    response = api(institute_dispatcher).post(
        f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "broadcast", "teams": [story.team.pk, far_team.pk]}
    )

    assert response.status_code == 400
    (reason,) = response.json()["fields"]["teams"]
    assert re.findall(r"\d+", reason) == [str(far_team.pk)]
    assert rows() == before


def test_the_teams_a_dispatcher_may_dispatch_to_are_those_their_candidate_search_covers(
    api, institute_dispatcher, story, far_team, center
):
    center.jurisdiction_km = 60
    center.save()
    order = story.placed()
    candidates = {c["team"] for c in api(story.dispatcher).get(f"/api/v1/orders/{order.pk}/candidates/").json()}
    assert far_team.pk in candidates  # the center's search reaches it...

    response = api(story.dispatcher).post(
        f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [far_team.pk]}
    )

    assert response.status_code == 200, response.json()  # ...so the center may dispatch to it
    institute_candidates = api(institute_dispatcher).get(f"/api/v1/orders/{story.placed().pk}/candidates/").json()
    assert far_team.pk not in {c["team"] for c in institute_candidates}
