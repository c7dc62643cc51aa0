"""Completing a service: summary, photos, and each volunteer's hours into the ledger (DESIGN §3)."""

import json
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from dispatch.models import Order, OrderPhoto, Transition
from realtime.models import Event
from volunteers.models import Membership, ServiceRecord, Volunteer

# The smallest valid GIF: a real image, so nothing downstream chokes on it.
GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)


def complete_url(order: Order) -> str:
    return f"/api/v1/orders/{order.pk}/complete/"


def writes() -> tuple[int, int, int, int]:
    return ServiceRecord.objects.count(), OrderPhoto.objects.count(), Transition.objects.count(), Event.objects.count()


def photo(name: str = "site.gif", content: bytes = GIF) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/gif")


@pytest.fixture
def crew(story, team_leader, volunteer, other_leader):
    """The volunteer ids of the accepting team, and of someone outside it."""
    return SimpleNamespace(
        leader=Volunteer.objects.get(user=team_leader).pk,
        member=Volunteer.objects.get(user=volunteer).pk,
        outsider=Volunteer.objects.get(user=other_leader).pk,
    )


def assert_nothing_written(order: Order, before: tuple[int, int, int, int]) -> None:
    order.refresh_from_db()
    assert order.state == "in_service"
    assert order.summary == ""
    assert order.completed_at is None
    assert not ServiceRecord.objects.filter(order=order).exists()
    assert writes() == before


# --- it works -------------------------------------------------------------------------


@pytest.mark.parametrize("amount", [0.5, 1, 2.5, "3.5", 24])
def test_it_records_hours_in_half_hour_steps_into_the_ledger(api, story, team_leader, crew, amount):
    order = story.in_service()

    response = api(team_leader).post(
        complete_url(order),
        {
            "summary": "陪同就医,顺利完成。",
            "hours": [{"volunteer": crew.member, "hours": amount}, {"volunteer": crew.leader, "hours": 0.5}],
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    assert response.json()["state"] == "completed"
    order.refresh_from_db()
    assert order.state == "completed"
    assert order.summary == "陪同就医,顺利完成。"
    records = {r.volunteer_id: r for r in ServiceRecord.objects.filter(order=order)}
    assert set(records) == {crew.member, crew.leader}
    assert records[crew.member].hours == Decimal(str(amount))
    assert records[crew.leader].hours == Decimal("0.5")
    assert {r.team_id for r in records.values()} == {story.team.pk}
    assert Event.objects.filter(order_id=order.pk, type="order.completed").count() == 1


def test_it_completes_with_photos_in_a_multipart_upload(api, story, team_leader, crew):
    order = story.in_service()

    response = api(team_leader).post(
        complete_url(order),
        {
            "summary": "打扫卫生两小时。",
            "hours": json.dumps([{"volunteer": crew.member, "hours": 2}]),
            "photos": [photo("before.gif"), photo("after.gif")],
        },
        format="multipart",
    )

    assert response.status_code == 200, response.json()
    order.refresh_from_db()
    assert order.state == "completed"
    assert OrderPhoto.objects.filter(order=order).count() == 2
    assert [(r.volunteer_id, r.hours) for r in ServiceRecord.objects.filter(order=order)] == [
        (crew.member, Decimal("2"))
    ]


# --- bad input: 400 naming the field, nothing written ---------------------------------

BAD_INPUT: list[tuple[str, Callable[[SimpleNamespace], dict], str]] = [
    ("zero-hours", lambda c: {"hours": [{"volunteer": c.member, "hours": 0}]}, "hours"),
    ("negative-hours", lambda c: {"hours": [{"volunteer": c.member, "hours": -1}]}, "hours"),
    ("0.3-hours", lambda c: {"hours": [{"volunteer": c.member, "hours": 0.3}]}, "hours"),
    ("1.3-hours", lambda c: {"hours": [{"volunteer": c.member, "hours": 1.3}]}, "hours"),
    ("2.25-hours", lambda c: {"hours": [{"volunteer": c.member, "hours": 2.25}]}, "hours"),
    ("over-24-hours", lambda c: {"hours": [{"volunteer": c.member, "hours": 24.5}]}, "hours"),
    ("hours-not-a-number", lambda c: {"hours": [{"volunteer": c.member, "hours": "two"}]}, "hours"),
    ("volunteer-not-in-the-team", lambda c: {"hours": [{"volunteer": c.outsider, "hours": 2}]}, "hours"),
    ("unknown-volunteer", lambda c: {"hours": [{"volunteer": 987654, "hours": 2}]}, "hours"),
    (
        "volunteer-listed-twice",
        lambda c: {"hours": [{"volunteer": c.member, "hours": 2}, {"volunteer": c.member, "hours": 1}]},
        "hours",
    ),
    (
        "one-good-line-one-bad",
        lambda c: {"hours": [{"volunteer": c.member, "hours": 2}, {"volunteer": c.outsider, "hours": 1}]},
        "hours",
    ),
    ("empty-hours", lambda c: {"hours": []}, "hours"),
    ("hours-missing", lambda c: {"hours": None}, "hours"),
    ("summary-missing", lambda c: {"summary": None}, "summary"),
    ("summary-blank", lambda c: {"summary": "   "}, "summary"),
    ("summary-over-2000", lambda c: {"summary": "好" * 2001}, "summary"),
]


@pytest.mark.parametrize(("overrides", "field"), [c[1:] for c in BAD_INPUT], ids=[c[0] for c in BAD_INPUT])
def test_it_rejects_bad_completion_naming_the_field_and_writing_nothing(
    api, story, team_leader, crew, overrides, field
):
    order = story.in_service()
    body = {"summary": "陪同就医,顺利完成。", "hours": [{"volunteer": crew.member, "hours": 2}]}
    body.update(overrides(crew))
    body = {k: v for k, v in body.items() if v is not None}
    before = writes()

    response = api(team_leader).post(complete_url(order), body, format="json")

    assert response.status_code == 400, response.json()
    assert response.json()["code"] == "invalid"
    assert field in response.json()["fields"], response.json()
    assert_nothing_written(order, before)


def test_it_rejects_hours_that_are_not_a_json_list_in_a_multipart_upload(api, story, team_leader):
    order = story.in_service()
    before = writes()

    response = api(team_leader).post(
        complete_url(order), {"summary": "完成", "hours": "[{not json", "photos": [photo()]}, format="multipart"
    )

    assert response.status_code == 400
    assert "hours" in response.json()["fields"]
    assert_nothing_written(order, before)


def test_it_rejects_a_photo_larger_than_the_limit(api, story, team_leader, crew, settings):
    settings.PHOTO_MAX_BYTES = 100
    order = story.in_service()
    before = writes()

    response = api(team_leader).post(
        complete_url(order),
        {
            "summary": "打扫卫生两小时。",
            "hours": json.dumps([{"volunteer": crew.member, "hours": 2}]),
            "photos": [photo("small.gif"), photo("big.gif", GIF + b"\0" * 200)],
        },
        format="multipart",
    )

    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert_nothing_written(order, before)


def test_it_rejects_more_photos_than_allowed(api, story, team_leader, crew, settings):
    settings.PHOTO_MAX_COUNT = 2
    order = story.in_service()
    before = writes()

    response = api(team_leader).post(
        complete_url(order),
        {
            "summary": "打扫卫生两小时。",
            "hours": json.dumps([{"volunteer": crew.member, "hours": 2}]),
            "photos": [photo("1.gif"), photo("2.gif"), photo("3.gif")],
        },
        format="multipart",
    )

    assert response.status_code == 400
    assert "photos" in response.json()["fields"]
    assert_nothing_written(order, before)


# --- who and when ---------------------------------------------------------------------


def test_it_answers_404_to_a_team_never_offered_the_order(api, story, other_leader, crew):
    order = story.in_service()
    before = writes()

    response = api(other_leader).post(
        complete_url(order), {"summary": "完成", "hours": [{"volunteer": crew.outsider, "hours": 2}]}, format="json"
    )

    assert response.status_code == 404
    assert_nothing_written(order, before)


def test_it_forbids_a_dispatcher_to_complete_for_the_team(api, story, dispatcher, crew):
    order = story.in_service()
    before = writes()

    response = api(dispatcher).post(
        complete_url(order), {"summary": "完成", "hours": [{"volunteer": crew.member, "hours": 2}]}, format="json"
    )

    assert response.status_code == 403
    assert_nothing_written(order, before)


def test_it_refuses_to_complete_an_order_not_yet_started(api, story, team_leader, crew):
    order = story.accepted()
    before = writes()

    response = api(team_leader).post(
        complete_url(order), {"summary": "完成", "hours": [{"volunteer": crew.member, "hours": 2}]}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert Order.objects.get(pk=order.pk).state == "accepted"
    assert writes() == before


def test_it_does_not_count_hours_of_a_former_member(api, story, team_leader, crew):
    order = story.in_service()
    story.team.memberships.filter(volunteer_id=crew.member).update(active=False)
    before = writes()

    response = api(team_leader).post(
        complete_url(order), {"summary": "完成", "hours": [{"volunteer": crew.member, "hours": 2}]}, format="json"
    )

    assert response.status_code == 400
    assert "hours" in response.json()["fields"]
    assert_nothing_written(order, before)


def test_it_accepts_the_hours_of_a_member_who_joined_another_team_too(api, story, team_leader, crew, other_team):
    # Membership of a second team must not hide the first one.
    Membership.objects.create(volunteer_id=crew.member, team=other_team)
    order = story.in_service()

    response = api(team_leader).post(
        complete_url(order), {"summary": "完成", "hours": [{"volunteer": crew.member, "hours": 1.5}]}, format="json"
    )

    assert response.status_code == 200, response.json()
    assert ServiceRecord.objects.get(order=order).hours == Decimal("1.5")
