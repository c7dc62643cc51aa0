"""Placing an order (群众点单) through POST /api/v1/orders/ (DESIGN §3, §5)."""

from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from dispatch.choices import Level
from dispatch.models import Order, Transition
from realtime.models import Event
from requests_app.models import ServiceItem

from .. import factories as f

URL = "/api/v1/orders/"


def row_counts() -> tuple[int, int, int]:
    """Everything a placing request may write: the order, its audit row, its event."""
    return Order.objects.count(), Transition.objects.count(), Event.objects.count()


def window(start_in: timedelta, length: timedelta = timedelta(hours=2)) -> dict[str, str]:
    start = timezone.now() + start_in
    return {"window_start": start.isoformat(), "window_end": (start + length).isoformat()}


# --- a valid order -------------------------------------------------------------


@pytest.mark.parametrize(
    ("lat", "lng", "nearest"),
    [(28.701, 104.501, "station"), (28.799, 104.599, "other_station")],
    ids=["near-station", "near-other-station"],
)
def test_it_places_a_submitted_order_at_the_nearest_station(
    api, citizen, category, station, other_station, lat, lng, nearest
):
    expected = {"station": station, "other_station": other_station}[nearest]

    response = api(citizen).post(URL, f.order_payload(category, lat=lat, lng=lng), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "submitted"
    assert body["level"] == Level.STATION == 1
    assert body["station"] == expected.pk
    assert (body["lat"], body["lng"]) == (lat, lng)
    order = Order.objects.get(pk=body["id"])
    assert order.station_id == expected.pk
    assert order.citizen.user_id == citizen.pk
    assert order.placed_by_id == citizen.pk
    assert list(order.transitions.values_list("action", "to_state")) == [("place", "submitted")]
    assert Event.objects.filter(order_id=order.pk, type="order.placed").count() == 1


def test_it_places_an_order_at_the_chosen_stations_centroid_when_no_lat_lng_is_given(
    api, citizen, category, station, other_station
):
    payload = f.order_payload(category, station=other_station.pk)
    del payload["lat"], payload["lng"]

    response = api(citizen).post(URL, payload, format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["station"] == other_station.pk
    assert (body["lat"], body["lng"]) == (other_station.lat, other_station.lng)
    order = Order.objects.get(pk=body["id"])
    assert (order.station_id, order.lat, order.lng) == (other_station.pk, other_station.lat, other_station.lng)


def test_it_lets_station_staff_place_an_order_on_behalf_of_a_citizen_without_an_account(
    api, station_dispatcher, category, station
):
    response = api(station_dispatcher).post(
        URL, f.order_payload(category, contact_name="李奶奶", contact_phone="0831-5551234"), format="json"
    )

    assert response.status_code == 201, response.json()
    order = Order.objects.get(pk=response.json()["id"])
    assert order.placed_by_id == station_dispatcher.pk
    assert order.citizen is None
    assert order.contact_name == "李奶奶"
    assert order.state == "submitted"


@pytest.mark.parametrize("who", ["stranger", "volunteer"])
def test_it_forbids_placing_to_users_who_are_neither_citizens_nor_staff(api, request, category, station, who):
    user = request.getfixturevalue(who)
    before = row_counts()

    response = api(user).post(URL, f.order_payload(category), format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert row_counts() == before


# --- Idempotency-Key -------------------------------------------------------------


def test_it_answers_a_repeated_request_with_the_same_key_with_the_first_order(api, citizen, category, station):
    client = api(citizen)
    payload = f.order_payload(category)

    first = client.post(URL, payload, format="json", headers={"Idempotency-Key": "phone-7f3a"})
    after_first = row_counts()
    second = client.post(URL, payload, format="json", headers={"Idempotency-Key": "phone-7f3a"})

    assert first.status_code == 201
    assert second.status_code == 200, second.json()
    assert second.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1
    assert row_counts() == after_first


def test_it_rejects_the_same_key_with_a_different_request(api, citizen, category, station):
    client = api(citizen)
    client.post(URL, f.order_payload(category), format="json", headers={"Idempotency-Key": "phone-7f3a"})
    before = row_counts()

    response = client.post(
        URL,
        f.order_payload(category, description="帮老人修电视"),
        format="json",
        headers={"Idempotency-Key": "phone-7f3a"},
    )

    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"
    assert row_counts() == before
    assert Order.objects.get().description == "帮老人买菜"


def test_it_keeps_idempotency_keys_apart_between_users(api, citizen, other_citizen, category, station):
    payload = f.order_payload(category)

    mine = api(citizen).post(URL, payload, format="json", headers={"Idempotency-Key": "same-key"})
    theirs = api(other_citizen).post(URL, payload, format="json", headers={"Idempotency-Key": "same-key"})

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]
    assert Order.objects.count() == 2
    assert set(Order.objects.values_list("placed_by", flat=True)) == {citizen.pk, other_citizen.pk}


# --- bad input: 400, the field named, nothing written ------------------------------

DROP = object()


@pytest.fixture
def places(db, category, station, institute, center):
    other_category = f.CategoryFactory()
    return SimpleNamespace(
        category=category,
        station=station,
        institute=institute,
        center=center,
        inactive_category=f.CategoryFactory(active=False),
        foreign_item=ServiceItem.objects.create(category=other_category, name="义诊"),
    )


BAD_INPUT: list[tuple[str, Callable[[SimpleNamespace], dict], tuple[str, ...]]] = [
    ("lat-above-90", lambda p: {"lat": 90.5}, ("lat",)),
    ("lat-below-minus-90", lambda p: {"lat": -90.5}, ("lat",)),
    ("lng-above-180", lambda p: {"lng": 180.5}, ("lng",)),
    ("lat-without-lng", lambda p: {"lng": DROP}, ("lng",)),
    ("lng-without-lat", lambda p: {"lat": DROP}, ("lat",)),
    ("neither-place-nor-station", lambda p: {"lat": DROP, "lng": DROP}, ("lat", "lng", "station")),
    ("unknown-category", lambda p: {"category": 987654}, ("category",)),
    ("category-not-a-number", lambda p: {"category": "elderly"}, ("category",)),
    ("inactive-category", lambda p: {"category": p.inactive_category.pk}, ("category",)),
    ("unknown-station", lambda p: {"station": 987654, "lat": DROP, "lng": DROP}, ("station",)),
    ("station-is-an-institute", lambda p: {"station": p.institute.pk, "lat": DROP, "lng": DROP}, ("station",)),
    ("station-is-the-center", lambda p: {"station": p.center.pk, "lat": DROP, "lng": DROP}, ("station",)),
    ("item-of-another-category", lambda p: {"item": p.foreign_item.pk}, ("item",)),
    ("description-empty", lambda p: {"description": ""}, ("description",)),
    ("description-blank", lambda p: {"description": "   "}, ("description",)),
    ("description-over-2000", lambda p: {"description": "帮" * 2001}, ("description",)),
    ("description-missing", lambda p: {"description": DROP}, ("description",)),
    ("address-over-200", lambda p: {"address": "金" * 201}, ("address",)),
    ("contact-name-missing", lambda p: {"contact_name": DROP}, ("contact_name",)),
    ("contact-phone-not-a-number", lambda p: {"contact_phone": "abc"}, ("contact_phone",)),
    ("window-start-in-the-past", lambda p: window(-timedelta(hours=1)), ("window_start",)),
    ("window-end-before-start", lambda p: window(timedelta(hours=3), -timedelta(hours=1)), ("window_end",)),
    ("window-longer-than-72h", lambda p: window(timedelta(hours=3), timedelta(hours=73)), ("window_end",)),
    ("window-start-over-90-days-ahead", lambda p: window(timedelta(days=91)), ("window_start",)),
    ("window-start-malformed", lambda p: {"window_start": "next Tuesday"}, ("window_start",)),
    ("window-end-missing", lambda p: {"window_end": DROP}, ("window_end",)),
]


@pytest.mark.parametrize(("overrides", "named"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_it_rejects_bad_input_naming_the_field_and_writing_nothing(api, citizen, places, overrides, named):
    payload = f.order_payload(places.category)
    for name, value in overrides(places).items():
        if value is DROP:
            payload.pop(name)
        else:
            payload[name] = value
    before = row_counts()

    response = api(citizen).post(URL, payload, format="json")

    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    assert body["detail"]
    assert set(named) & set(body["fields"]), body["fields"]
    assert row_counts() == before


def test_it_rejects_a_body_that_is_not_json(api, citizen, category, station):
    before = row_counts()

    response = api(citizen).post(URL, data='{"category": 1, "description": ', content_type="application/json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_request"
    assert body["detail"]
    assert row_counts() == before


def test_it_rejects_an_overlong_idempotency_key(api, citizen, category, station):
    before = row_counts()

    response = api(citizen).post(URL, f.order_payload(category), format="json", headers={"Idempotency-Key": "k" * 101})

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["fields"]
    assert row_counts() == before


# --- throttling --------------------------------------------------------------------


def test_it_configures_a_rate_limit_for_placing_orders():
    from config.settings import base

    assert "order_place" in settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]
    assert base.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["order_place"]


def test_it_answers_429_once_the_placing_rate_is_used_up(api, citizen, category, station, monkeypatch):
    # Counted, not timed: three requests inside one window of a 2-per-minute limit.
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"order_place": "2/min"})
    cache.clear()
    client = api(citizen)
    try:
        codes = [client.post(URL, f.order_payload(category), format="json").status_code for _ in range(2)]
        before = row_counts()
        throttled = client.post(URL, f.order_payload(category), format="json")
    finally:
        cache.clear()

    assert codes == [201, 201]
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "rate_limited"
    assert row_counts() == before


def test_an_oversized_request_body_answers_413_and_changes_nothing(api, citizen, category, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    payload = f.order_payload(category, description="很" * 600)
    before = Order.objects.count()
    response = api(citizen).post("/api/v1/orders/", payload, format="json")
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert Order.objects.count() == before
