"""Check-in on site (start): GPS within CHECKIN_RADIUS_M, or the order's code or QR (DESIGN §3)."""

import pytest

from dispatch import services as dispatching
from dispatch.choices import DispatchMode
from dispatch.models import Order, Transition
from realtime.models import Event


def start_url(order: Order) -> str:
    return f"/api/v1/orders/{order.pk}/start/"


def writes() -> tuple[int, int]:
    return Transition.objects.count(), Event.objects.count()


def state_of(order: Order) -> str:
    return Order.objects.get(pk=order.pk).state


def another_code(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- it works -------------------------------------------------------------------------


def test_it_starts_the_service_by_gps_within_the_checkin_radius(api, story, team_leader, settings):
    order = story.accepted()
    # About 111 m north of the address (28.701, 104.501).
    assert settings.CHECKIN_RADIUS_M >= 200

    response = api(team_leader).post(start_url(order), {"lat": 28.702, "lng": 104.501}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "in_service"
    order.refresh_from_db()
    assert order.state == "in_service"
    assert order.started_at is not None
    assert order.transitions.filter(action="start", by=team_leader).exists()
    assert Event.objects.filter(order_id=order.pk, type="order.started").count() == 1


def test_a_plain_member_of_the_accepting_team_may_check_in(api, story, volunteer):
    order = story.accepted()

    response = api(volunteer).post(start_url(order), {"lat": 28.701, "lng": 104.501}, format="json")

    assert response.status_code == 200, response.json()
    assert state_of(order) == "in_service"


def test_it_rejects_gps_too_far_from_the_address(api, story, team_leader):
    order = story.accepted()
    before = writes()

    # About 2 km away.
    response = api(team_leader).post(start_url(order), {"lat": 28.72, "lng": 104.501}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "checkin_too_far"
    assert {"lat", "lng"} & set(body["fields"])
    assert state_of(order) == "accepted"
    assert writes() == before


def test_it_honours_the_checkin_radius_setting(api, story, team_leader, settings):
    settings.CHECKIN_RADIUS_M = 50
    order = story.accepted()

    response = api(team_leader).post(start_url(order), {"lat": 28.702, "lng": 104.501}, format="json")

    assert response.status_code == 400
    assert response.json()["code"] == "checkin_too_far"
    assert state_of(order) == "accepted"


def test_it_starts_the_service_with_the_six_digit_code(api, story, team_leader):
    order = story.accepted()
    assert len(order.checkin_code) == 6 and order.checkin_code.isdigit()

    response = api(team_leader).post(start_url(order), {"qr": order.checkin_code}, format="json")

    assert response.status_code == 200, response.json()
    assert state_of(order) == "in_service"


def test_it_starts_the_service_with_the_scanned_qr_payload(api, story, team_leader):
    order = story.accepted()

    response = api(team_leader).post(
        start_url(order), {"qr": f"civic-dispatch:order:{order.pk}:{order.checkin_code}"}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert state_of(order) == "in_service"


# --- it refuses -------------------------------------------------------------------------


def test_it_rejects_a_wrong_code(api, story, team_leader):
    order = story.accepted()
    before = writes()

    response = api(team_leader).post(start_url(order), {"qr": another_code(order.checkin_code)}, format="json")

    assert response.status_code == 400
    assert "qr" in response.json()["fields"]
    assert state_of(order) == "accepted"
    assert writes() == before


def test_it_rejects_a_wrong_code_inside_a_qr_payload(api, story, team_leader):
    order = story.accepted()

    response = api(team_leader).post(
        start_url(order), {"qr": f"civic-dispatch:order:{order.pk}:{another_code(order.checkin_code)}"}, format="json"
    )

    assert response.status_code == 400
    assert "qr" in response.json()["fields"]
    assert state_of(order) == "accepted"


@pytest.mark.parametrize("whose_code", ["its own code", "this order's code"])
def test_it_rejects_the_qr_of_another_order(api, story, team_leader, whose_code):
    order = story.accepted()
    other = story.accepted()
    code = other.checkin_code if whose_code == "its own code" else order.checkin_code
    before = writes()

    response = api(team_leader).post(start_url(order), {"qr": f"civic-dispatch:order:{other.pk}:{code}"}, format="json")

    assert response.status_code == 400
    assert "qr" in response.json()["fields"]
    assert (state_of(order), state_of(other)) == ("accepted", "accepted")
    assert writes() == before


def test_it_asks_for_a_position_or_a_code(api, story, team_leader):
    order = story.accepted()

    response = api(team_leader).post(start_url(order), {}, format="json")

    assert response.status_code == 400
    assert {"qr", "lat", "lng"} & set(response.json()["fields"])
    assert state_of(order) == "accepted"


def test_it_answers_404_to_a_team_never_offered_the_order(api, story, other_leader):
    order = story.accepted()

    response = api(other_leader).post(start_url(order), {"qr": order.checkin_code}, format="json")

    assert response.status_code == 404
    assert state_of(order) == "accepted"


def test_it_forbids_a_team_whose_broadcast_offer_was_withdrawn(api, story, other_team, team_leader, other_leader):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)
    dispatching.offer_accept(offer_id=story.offer_of(order).pk, user=team_leader)
    before = writes()

    response = api(other_leader).post(start_url(order), {"qr": order.checkin_code}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert state_of(order) == "accepted"
    assert writes() == before


def test_it_refuses_to_start_an_order_already_in_service(api, story, team_leader):
    order = story.in_service()

    response = api(team_leader).post(start_url(order), {"qr": order.checkin_code}, format="json")

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert state_of(order) == "in_service"


def test_it_refuses_to_start_a_submitted_order(api, story, team_leader):
    # The team took the order and gave it back: it waits in the queue again.
    order = story.accepted()
    dispatching.order_abandon(order_id=order.pk, user=team_leader)
    assert state_of(order) == "submitted"
    before = writes()

    response = api(team_leader).post(start_url(order), {"qr": order.checkin_code}, format="json")

    assert response.status_code == 409, response.json()
    assert response.json()["code"] == "invalid_transition"
    assert state_of(order) == "submitted"
    assert writes() == before
