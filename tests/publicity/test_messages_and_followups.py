"""Messages that become orders, return visits and follow-ups, rate limits, and no private data in public."""

import pytest
from django.core.cache import cache
from rest_framework.throttling import SimpleRateThrottle

from dispatch.models import Order
from publicity.models import FollowUp, Message, ReturnVisit
from publicity.services import story_draft, story_publish
from requests_app.services import order_evaluate

pytestmark = pytest.mark.django_db

DEMO_PRIVATE = ("王大爷", "13811112222", "金山村3组12号", "13912340000")


def post_message(api, user=None, **body):
    return api(user).post("/api/v1/messages/", {"text": "路灯坏了,晚上太黑。", **body}, format="json")


def test_anyone_leaves_a_message_and_the_phone_stays_private(api):
    made = post_message(api, phone="13912340000", lat=28.7, lng=104.5)
    listed = api(None).get("/api/v1/messages/")

    assert made.status_code == 201 and made.json()["state"] == "open"
    assert "13912340000" not in listed.content.decode() and "phone" not in listed.json()[0]
    assert Message.objects.get().phone == "13912340000"


@pytest.mark.parametrize("body", [{"text": ""}, {"text": "x" * 1001}, {"lat": 28.7}, {"phone": "abc"}])
def test_a_bad_message_changes_nothing(api, body):
    assert post_message(api, **body).status_code == 400
    assert not Message.objects.exists()


def test_staff_reply_in_public(api, dispatcher, citizen):
    message = post_message(api).json()

    refused = api(citizen).post(f"/api/v1/messages/{message['id']}/reply/", {"text": "好"}, format="json")
    replied = api(dispatcher).post(f"/api/v1/messages/{message['id']}/reply/", {"text": "已通知维修。"}, format="json")

    assert refused.status_code == 403
    assert (
        replied.json()["state"] == "replied" and api(None).get("/api/v1/messages/").json()[0]["reply"] == "已通知维修。"
    )


def test_a_message_becomes_an_order_linked_both_ways(api, dispatcher, category, station):
    message = post_message(api, phone="13912340000").json()

    made = api(dispatcher).post(
        f"/api/v1/messages/{message['id']}/assign/", {"category": category.pk, "station": station.pk}, format="json"
    )

    assert made.status_code == 201, made.json()
    order = Order.objects.get(pk=made.json()["order"])
    assert order.description == "路灯坏了,晚上太黑。" and order.station == station and order.category == category
    assert order.message.pk == message["id"]
    public = api(None).get("/api/v1/messages/").json()[0]
    assert (public["state"], public["order"], public["order_state"]) == ("assigned", order.pk, "submitted")
    assert (
        api(dispatcher)
        .post(
            f"/api/v1/messages/{message['id']}/assign/", {"category": category.pk, "station": station.pk}, format="json"
        )
        .status_code
        == 409
    )


def test_hidden_messages_leave_the_board_with_a_reason(api, dispatcher):
    message = post_message(api).json()

    no_reason = api(dispatcher).post(f"/api/v1/messages/{message['id']}/hide/", {"reason": ""}, format="json")
    hidden = api(dispatcher).post(f"/api/v1/messages/{message['id']}/hide/", {"reason": "广告"}, format="json")

    assert no_reason.status_code == 400 and hidden.status_code == 200
    assert api(None).get("/api/v1/messages/").json() == []


@pytest.mark.parametrize(("rating", "resolved", "reason"), [(2, True, "low_rating"), (5, False, "unresolved")])
def test_a_low_rating_or_not_solved_opens_a_follow_up(api, story, citizen, dispatcher, rating, resolved, reason):
    order = order_evaluate(order_id=story.completed().pk, user=citizen, rating=rating, resolved=resolved)

    listed = api(dispatcher).get("/api/v1/followups/").json()
    assert [(f["order"], f["reason"]) for f in listed] == [(order.pk, reason)]
    follow_up = listed[0]["id"]
    assert api(dispatcher).post(f"/api/v1/followups/{follow_up}/close/", {"note": ""}, format="json").status_code == 400
    closed = api(dispatcher).post(f"/api/v1/followups/{follow_up}/close/", {"note": "已上门回访并解决"}, format="json")
    assert closed.status_code == 200 and api(dispatcher).get("/api/v1/followups/").json() == []
    assert FollowUp.objects.get().note == "已上门回访并解决"


def test_a_good_rating_opens_none(story, citizen):
    order_evaluate(order_id=story.completed().pk, user=citizen, rating=4)

    assert not FollowUp.objects.exists()


def test_return_visits_by_the_stations_staff(api, story, station_dispatcher, other_dispatcher):
    order = story.completed()

    logged = api(station_dispatcher).post(
        "/api/v1/visits/", {"order": order.pk, "reached": True, "satisfied": True, "note": "满意"}, format="json"
    )
    elsewhere = api(other_dispatcher).post("/api/v1/visits/", {"order": order.pk, "reached": False}, format="json")
    early = api(station_dispatcher).post(
        "/api/v1/visits/", {"order": story.placed().pk, "reached": False}, format="json"
    )

    assert logged.status_code == 201 and elsewhere.status_code == 403 and early.status_code == 409
    assert ReturnVisit.objects.get().satisfied is True


@pytest.mark.parametrize("scope", ["message", "comment", "like", "vote"])
def test_writes_of_the_public_are_rate_limited(api, monkeypatch, published, citizen, scope):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, scope: "2/hour"})
    cache.clear()
    write = {
        "message": lambda: post_message(api, citizen),
        "comment": lambda: api(citizen).post(
            f"/api/v1/stories/{published.pk}/comments/", {"text": "好"}, format="json"
        ),
        "like": lambda: api(citizen).post(f"/api/v1/stories/{published.pk}/like/"),
        "vote": lambda: api(citizen).post("/api/v1/votes/current/", {"team": 0}, format="json"),
    }[scope]

    codes = [write().status_code for _ in range(3)]
    cache.clear()

    assert codes[2] == 429 and 429 not in codes[:2]


def test_no_public_answer_holds_a_citizens_name_or_phone(api, story, citizen, editor, dispatcher, category, station):
    order = story.completed()
    order_evaluate(order_id=order.pk, user=citizen, rating=5, comment="谢谢", publicity_consent=True)
    story_publish(user=editor, story_id=story_draft(user=editor, order_id=order.pk, title="好", body="很好").pk)
    message = post_message(api, phone="13912340000").json()
    api(dispatcher).post(
        f"/api/v1/messages/{message['id']}/assign/", {"category": category.pk, "station": station.pk}, format="json"
    )
    story_id = api(None).get("/api/v1/stories/").json()[0]["id"]

    answers = [
        api(None).get(url).content.decode()
        for url in (
            "/api/v1/stories/",
            "/api/v1/stories/?order=liked",
            f"/api/v1/stories/{story_id}/comments/",
            "/api/v1/votes/current/",
            "/api/v1/messages/",
            "/wall/",
            "/messages/",
        )
    ]
    for text in answers:
        for private in (*DEMO_PRIVATE, citizen.username, citizen.first_name or "王大爷"):
            assert private not in text, private


def test_dispatchers_see_return_visit_satisfaction_in_the_candidates_reason(api, story, station_dispatcher):
    served = story.completed()
    for satisfied in (True, True, False):
        api(station_dispatcher).post(
            "/api/v1/visits/", {"order": served.pk, "reached": True, "satisfied": satisfied}, format="json"
        )
    order = story.placed()

    candidates = api(station_dispatcher).get(f"/api/v1/orders/{order.pk}/candidates/").json()

    reason = next(c["reason"] for c in candidates if c["team"] == served.team_id)
    assert "67%" in reason
