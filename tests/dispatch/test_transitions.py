"""Every transition, allowed and forbidden, per state and per role, through the HTTP API."""

import pytest

from dispatch.choices import OrderState
from dispatch.models import Offer, Order

ALLOWED_FROM = {
    "dispatch": {OrderState.SUBMITTED},
    "accept": {OrderState.DISPATCHING},
    "decline": {OrderState.DISPATCHING},
    "recall": {OrderState.DISPATCHING},
    "reject": {OrderState.SUBMITTED},
    "cancel": {OrderState.SUBMITTED, OrderState.DISPATCHING, OrderState.ACCEPTED},
    "abandon": {OrderState.ACCEPTED},
    "start": {OrderState.ACCEPTED},
    "complete": {OrderState.IN_SERVICE},
    "evaluate": {OrderState.COMPLETED},
}
TARGET = {
    "dispatch": OrderState.DISPATCHING,
    "accept": OrderState.ACCEPTED,
    "decline": OrderState.SUBMITTED,  # the only offer declined: back to the queue, one level up
    "recall": OrderState.SUBMITTED,
    "reject": OrderState.REJECTED,
    "cancel": OrderState.CANCELLED,
    "abandon": OrderState.SUBMITTED,
    "start": OrderState.IN_SERVICE,
    "complete": OrderState.COMPLETED,
    "evaluate": OrderState.CLOSED,
}
OFFER_ACTIONS = {"accept", "decline"}
TEAM_ACTIONS = {"abandon", "start", "complete"}
# States in which no team was ever offered the order: to a team it does not exist.
NEVER_OFFERED = {"submitted", "rejected", "cancelled"}


def request_for(action, order, story, actor=None):
    """(user, path, body) of the request that performs `action` on `order` as its usual actor."""
    if action in OFFER_ACTIONS:
        offer = Offer.objects.filter(order=order, team=story.team).order_by("-id").first()
        return actor or story.team_leader, f"/api/v1/offers/{offer.pk}/{action}/", {}
    body = {
        "dispatch": {"mode": "directed", "teams": [story.team.pk]},
        "reject": {"note": "超出服务范围"},
        "start": {"qr": order.checkin_code},
        "complete": {
            "summary": "完成",
            "hours": [{"volunteer": story.team.memberships.first().volunteer_id, "hours": 1.5}],
        },
        "evaluate": {"rating": 4, "comment": "很好", "publicity_consent": True},
    }.get(action, {"note": ""})
    default_actor = {
        "dispatch": story.dispatcher,
        "recall": story.dispatcher,
        "reject": story.dispatcher,
        "cancel": story.citizen,
        "evaluate": story.citizen,
    }.get(action, story.team_leader)
    return actor or default_actor, f"/api/v1/orders/{order.pk}/{action}/", body


CASES = [
    (action, state)
    for action in ALLOWED_FROM
    for state in OrderState.values
    # Offers exist only once an order was dispatched.
    if not (action in OFFER_ACTIONS and state in {"submitted", "rejected", "cancelled"})
]


@pytest.mark.parametrize(("action", "state"), CASES)
def test_each_action_is_allowed_only_from_its_states(story, api, action, state):
    order = story.in_state(state)
    user, path, body = request_for(action, order, story)
    response = api(user).post(path, body, format="json")
    order.refresh_from_db()
    if state in ALLOWED_FROM[action]:
        assert response.status_code == 200, response.json()
        assert order.state == TARGET[action]
    elif action in TEAM_ACTIONS and state in NEVER_OFFERED:
        assert response.status_code == 404, response.json()
        assert order.state == state
    else:
        assert response.status_code == 409, response.json()
        assert response.json()["code"] in {"invalid_transition", "already_accepted"}
        assert order.state == state


ROLE_CASES = [
    # (action, state the action is allowed from, role, expected status)
    ("dispatch", "submitted", "dispatcher", 200),
    ("dispatch", "submitted", "station_dispatcher", 200),
    ("dispatch", "submitted", "citizen", 403),
    ("dispatch", "submitted", "other_dispatcher", 404),
    ("dispatch", "submitted", "team_leader", 404),
    ("dispatch", "submitted", "stranger", 404),
    ("reject", "submitted", "dispatcher", 200),
    ("reject", "submitted", "citizen", 403),
    ("reject", "submitted", "other_citizen", 404),
    ("recall", "dispatching", "dispatcher", 200),
    ("recall", "dispatching", "team_leader", 403),
    ("recall", "dispatching", "citizen", 403),
    ("recall", "dispatching", "other_leader", 404),
    ("cancel", "submitted", "citizen", 200),
    ("cancel", "dispatching", "dispatcher", 200),
    ("cancel", "accepted", "team_leader", 403),
    ("cancel", "submitted", "other_citizen", 404),
    ("accept", "dispatching", "team_leader", 200),
    ("accept", "dispatching", "volunteer", 200),
    ("accept", "dispatching", "dispatcher", 403),
    ("accept", "dispatching", "other_leader", 404),
    ("accept", "dispatching", "citizen", 404),
    ("decline", "dispatching", "volunteer", 200),
    ("decline", "dispatching", "other_leader", 404),
    ("start", "accepted", "team_leader", 200),
    ("start", "accepted", "volunteer", 200),
    ("start", "accepted", "citizen", 403),
    ("start", "accepted", "dispatcher", 403),
    ("start", "accepted", "other_leader", 404),
    ("complete", "in_service", "volunteer", 200),
    ("complete", "in_service", "dispatcher", 403),
    ("complete", "in_service", "other_leader", 404),
    ("abandon", "accepted", "team_leader", 200),
    ("abandon", "accepted", "citizen", 403),
    ("evaluate", "completed", "citizen", 200),
    ("evaluate", "completed", "team_leader", 403),
    ("evaluate", "completed", "dispatcher", 403),
    ("evaluate", "completed", "other_citizen", 404),
]


@pytest.mark.parametrize(("action", "state", "role", "status"), ROLE_CASES)
def test_each_action_answers_each_role(story, api, request, action, state, role, status):
    actor = request.getfixturevalue(role)
    request.getfixturevalue("volunteer")  # the team has a plain member too
    order = story.in_state(state)
    transitions_before = order.transitions.count()
    user, path, body = request_for(action, order, story, actor=actor)
    response = api(user).post(path, body, format="json")
    assert response.status_code == status, response.json()
    order.refresh_from_db()
    if status == 200:
        assert order.state == TARGET[action]
    else:
        assert order.state == state
        assert order.transitions.count() == transitions_before
        assert set(response.json()) >= {"code", "detail", "fields"}


def test_every_transition_is_logged_with_who_when_from_to_and_note(story):
    order = story.closed()
    log = list(order.transitions.filter(offer=None).values_list("from_state", "to_state", "by", "action"))
    assert log == [
        ("", "submitted", story.citizen.pk, "place"),
        ("submitted", "dispatching", story.dispatcher.pk, "dispatch"),
        ("dispatching", "accepted", story.team_leader.pk, "accept"),
        ("accepted", "in_service", story.team_leader.pk, "start"),
        ("in_service", "completed", story.team_leader.pk, "complete"),
        ("completed", "closed", story.citizen.pk, "evaluate"),
    ]
    assert all(t.at for t in order.transitions.all())


def test_the_state_field_cannot_be_assigned(story):
    order = story.placed()
    with pytest.raises(AttributeError):
        order.state = OrderState.CLOSED
    assert Order.objects.get(pk=order.pk).state == OrderState.SUBMITTED


def test_the_transition_log_is_append_only(story):
    entry = story.placed().transitions.first()
    entry.note = "rewritten"
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
