"""Hostile input gets a 400 in the API's JSON error format, and changes nothing (issue: hardening)."""

import re

import pytest
from rest_framework.test import APIClient

from dispatch.models import Order, Transition
from realtime.models import Event

from .. import factories as f

pytestmark = pytest.mark.django_db

HUGE = 2**70


def anonymous() -> APIClient:
    return APIClient(raise_request_exception=False)


def signed_in(user) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.force_login(user)
    return client


def rows() -> tuple[int, int, int]:
    return Order.objects.count(), Transition.objects.count(), Event.objects.count()


def assert_json_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert set(body) == {"code", "detail", "fields"}
    if code is not None:
        assert body["code"] == code, body
    return body


# --- JSON that would make a recursive decoder recurse ---------------------------------------


@pytest.mark.parametrize(
    "body",
    ["[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000],
    ids=["nested-arrays", "nested-objects"],
)
def test_it_refuses_deeply_nested_json_at_the_token_endpoint(body):
    response = anonymous().post("/api/v1/auth/token/", body, content_type="application/json")

    assert_json_error(response, 400, "malformed_request")


def test_it_refuses_deeply_nested_json_on_a_signed_in_endpoint(citizen, category):
    before = rows()

    response = signed_in(citizen).post("/api/v1/orders/", "[" * 50_000, content_type="application/json")

    assert_json_error(response, 400, "malformed_request")
    assert rows() == before


def test_it_still_takes_json_nested_as_deep_as_the_api_needs(api, story, team_leader):
    order = story.in_service()
    volunteer = story.team.memberships.first().volunteer_id

    response = api(team_leader).post(
        f"/api/v1/orders/{order.pk}/complete/",
        {"summary": "完成", "hours": [{"volunteer": volunteer, "hours": 1.5}]},
        format="json",
    )

    assert response.status_code == 200, response.json()


def test_it_refuses_nan_which_is_not_json(citizen, category):
    body = '{"category": %d, "lat": NaN, "lng": 104.5}' % category.pk

    response = signed_in(citizen).post("/api/v1/orders/", body, content_type="application/json")

    assert_json_error(response, 400, "malformed_request")


# --- numbers the database cannot hold, dates at the calendar's edge ---------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/v1/teams/?categories=%d" % HUGE, "categories"),
        ("/api/v1/teams/?unit=%d" % HUGE, "unit"),
        ("/api/v1/orders/?team=%d" % HUGE, "team"),
        ("/api/v1/orders/?station=%d" % HUGE, "station"),
        ("/api/v1/orders/?category=%d" % HUGE, "category"),
        ("/api/v1/orders/?unit=%d" % HUGE, "unit"),
        ("/api/v1/offers/?order=%d" % HUGE, "order"),
        ("/api/v1/orders/?created_after=0001-01-01T00:00:00", "created_after"),
        ("/api/v1/orders/?created_before=9999-12-31T23:59:59", "created_before"),
    ],
)
def test_a_filter_out_of_the_databases_range_answers_400_naming_it(dispatcher, path, field):
    assert field in assert_json_error(signed_in(dispatcher).get(path), 400)["fields"]


def test_an_events_seq_past_64_bits_answers_400_naming_after(story):
    order = story.placed()

    response = signed_in(story.citizen).get(f"/api/v1/orders/{order.pk}/events/", {"after": HUGE})

    assert "after" in assert_json_error(response, 400)["fields"]


def test_a_filter_on_an_unknown_id_is_an_empty_list(dispatcher):
    response = signed_in(dispatcher).get("/api/v1/orders/", {"team": 2**62})

    assert response.status_code == 200
    assert response.json()["results"] == []


def test_a_dispatch_to_a_team_id_past_64_bits_answers_400_naming_teams(api, story):
    order = story.placed()

    body = assert_json_error(
        signed_in(story.dispatcher).post(
            f"/api/v1/orders/{order.pk}/dispatch/", {"mode": "directed", "teams": [HUGE]}, format="json"
        ),
        400,
    )

    assert "teams" in body["fields"]
    assert Order.objects.get(pk=order.pk).state == "submitted"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00", "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-12:00"])
def test_a_time_window_at_the_calendars_edge_answers_400(citizen, category, moment):
    before = rows()

    response = signed_in(citizen).post("/api/v1/orders/", f.order_payload(category, window_start=moment), format="json")

    assert "window_start" in assert_json_error(response, 400)["fields"]
    assert rows() == before


# --- a boolean is not a number; a place must be in the district --------------------------------


@pytest.mark.parametrize("field", ["lat", "lng"])
def test_placing_with_a_boolean_coordinate_answers_400(citizen, category, field):
    before = rows()

    response = signed_in(citizen).post("/api/v1/orders/", f.order_payload(category, **{field: True}), format="json")

    assert field in assert_json_error(response, 400)["fields"]
    assert rows() == before


def test_checking_in_with_a_boolean_coordinate_answers_400(story):
    order = story.accepted()

    response = signed_in(story.team_leader).post(
        f"/api/v1/orders/{order.pk}/start/", {"lat": True, "lng": True}, format="json"
    )

    assert set(assert_json_error(response, 400)["fields"]) == {"lat", "lng"}
    assert Order.objects.get(pk=order.pk).state == "accepted"


def test_placing_far_outside_the_chosen_stations_area_is_refused_with_the_reason(citizen, category, station):
    before = rows()

    response = signed_in(citizen).post(
        "/api/v1/orders/", f.order_payload(category, station=station.pk, lat=1.0, lng=104.5), format="json"
    )

    body = assert_json_error(response, 400, "place_outside_area")
    assert station.name in body["detail"]
    assert re.search(r"\b3\d\d\d\.\d\b", body["detail"])  # some 3 000 km away, said in the reason
    assert rows() == before


def test_placing_at_a_place_inside_an_upper_units_area_is_taken(citizen, category, station, institute):
    institute.jurisdiction_km = 20
    institute.save()

    response = signed_in(citizen).post(
        "/api/v1/orders/", f.order_payload(category, station=station.pk, lat=28.78, lng=104.5), format="json"
    )

    assert response.status_code == 201, response.json()


# --- every answer under /api/ is JSON ------------------------------------------------------------


def test_a_multipart_body_without_a_boundary_answers_json(api, story):
    order = story.placed()

    response = signed_in(story.citizen).generic(
        "POST", f"/api/v1/orders/{order.pk}/cancel/", b"x", content_type="multipart/form-data"
    )

    assert_json_error(response, 400, "malformed_request")
    assert Order.objects.get(pk=order.pk).state == "submitted"


@pytest.mark.parametrize(
    "path", ["/api/v1/orders/null/start/", "/api/v1/nothing/", "/api/v1/orders/99999999999999999999999/"]
)
def test_an_unknown_address_under_api_answers_a_json_404(citizen, path):
    assert_json_error(signed_in(citizen).post(path, {}, format="json"), 404, "not_found")


def test_an_unknown_page_outside_api_is_still_an_html_404(client, db):
    response = client.get("/no-such-page/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_a_server_error_under_api_answers_json(citizen, monkeypatch):
    from dispatch import apis

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(apis, "order_details_visible_to", broken)

    response = signed_in(citizen).get("/api/v1/orders/")

    body = assert_json_error(response, 500, "server_error")
    assert "a bug" not in body["detail"]
