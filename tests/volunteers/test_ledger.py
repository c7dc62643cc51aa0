"""The hours ledger by the national record rules: credits, manual entries, corrections, decisions, stars."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from realtime.models import Event
from volunteers.models import RecordLog, ServiceRecord, StationHours, Volunteer
from volunteers.selectors import hours_total, star_level

from .test_order_complete import GIF

pytestmark = pytest.mark.django_db


def photo() -> SimpleUploadedFile:
    return SimpleUploadedFile("proof.gif", GIF, content_type="image/gif")


@pytest.fixture
def served(story):
    """A completed order: the team's first member credited 2 h (its whole 2-hour window)."""
    return story.completed()


@pytest.fixture
def member(volunteer) -> Volunteer:
    return Volunteer.objects.get(user=volunteer)


def add(api, user, **body):
    return api(user).post("/api/v1/records/", body, format="json")


def decide(api, user, record_id, verb="approve", note=""):
    return api(user).post(f"/api/v1/records/{record_id}/{verb}/", {"note": note}, format="json")


def test_a_completed_order_credits_hours_that_count_at_once(served, team):
    credit = ServiceRecord.objects.get(order=served)

    assert (credit.kind, credit.state, credit.hours) == ("credit", "counted", Decimal("2.0"))
    assert credit.unit_id == served.station_id and credit.day == timezone.localdate()
    assert hours_total(credit.volunteer_id) == Decimal("2.0")


def test_a_manual_entry_counts_only_once_a_dispatcher_approves_it(api, served, team_leader, member, dispatcher):
    response = add(api, team_leader, volunteer=member.pk, order=served.pk, hours="1.5", reason="漏记了")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["kind"], body["state"], body["hours"]) == ("manual", "pending", "1.5")
    assert hours_total(member.pk) == 0
    assert Event.objects.filter(type="record.requested").exists()

    assert decide(api, dispatcher, body["id"]).json()["state"] == "counted"
    assert hours_total(member.pk) == Decimal("1.5")
    assert [(x.action, x.from_state, x.to_state) for x in RecordLog.objects.filter(record_id=body["id"])] == [
        ("add", "", "pending"),
        ("approve", "pending", "counted"),
    ]
    assert StationHours.objects.get(station=served.station_id).hours == Decimal("3.5")


def test_a_manual_entry_is_capped_by_the_orders_window(api, served, team_leader, member):
    first = add(api, team_leader, volunteer=member.pk, order=served.pk, hours="1.5", reason="漏记")
    over = add(api, team_leader, volunteer=member.pk, order=served.pk, hours="1.0", reason="再补")

    assert first.status_code == 201
    assert over.status_code == 400 and over.json()["code"] == "over_window"
    assert ServiceRecord.objects.filter(volunteer=member).count() == 1


def test_the_credited_volunteer_can_get_no_more_on_a_full_window(api, served, team_leader):
    credited = ServiceRecord.objects.get(order=served).volunteer_id

    response = add(api, team_leader, volunteer=credited, order=served.pk, hours="0.5", reason="多算")

    assert response.status_code == 400 and response.json()["fields"]["hours"]


@pytest.mark.parametrize("hours", ["0", "-1", "0.3", "abc"])
def test_hours_go_in_half_hour_steps(api, served, team_leader, member, hours):
    response = add(api, team_leader, volunteer=member.pk, order=served.pk, hours=hours, reason="x")

    assert response.status_code == 400 and "hours" in response.json()["fields"]
    assert not ServiceRecord.objects.filter(volunteer=member).exists()


def test_an_activity_without_an_order_needs_date_content_and_a_photo(api, team_leader, member):
    missing = add(api, team_leader, volunteer=member.pk, hours="2", reason="社区活动")
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    ok = api(team_leader).post(
        "/api/v1/records/",
        {
            "volunteer": member.pk,
            "hours": "2",
            "reason": "社区活动",
            "date": yesterday,
            "content": "清扫街道",
            "photos": photo(),
        },
        format="multipart",
    )

    assert missing.status_code == 400 and {"date", "content", "photos"} <= set(missing.json()["fields"])
    assert ok.status_code == 201, ok.json()
    assert ok.json()["order"] is None and ok.json()["date"] == yesterday and len(ok.json()["photos"]) == 1
    evidence = ok.json()["photos"][0]
    assert api(team_leader).get(evidence).status_code == 200


def test_only_the_volunteers_team_leader_adds_hours(api, served, volunteer, other_leader, member):
    for user in (volunteer, other_leader):
        response = add(api, user, volunteer=member.pk, order=served.pk, hours="1", reason="x")
        assert response.status_code == 403
    assert not ServiceRecord.objects.filter(volunteer=member).exists()


def test_a_correction_adjusts_without_editing_the_entry(api, served, team_leader, dispatcher):
    credit = ServiceRecord.objects.get(order=served)

    asked = api(team_leader).post(
        f"/api/v1/records/{credit.pk}/correction/", {"hours": "-0.5", "reason": "提前离开"}, format="json"
    )
    assert asked.status_code == 201, asked.json()
    assert (asked.json()["kind"], asked.json()["state"]) == ("correction", "pending")
    assert hours_total(credit.volunteer_id) == Decimal("2.0")

    decide(api, dispatcher, asked.json()["id"])

    credit.refresh_from_db()
    assert credit.hours == Decimal("2.0") and credit.state == "counted"
    assert hours_total(credit.volunteer_id) == Decimal("1.5")
    assert ServiceRecord.objects.get(pk=asked.json()["id"]).corrects_id == credit.pk


def test_a_correction_stays_within_zero_and_the_window(api, served, team_leader):
    credit = ServiceRecord.objects.get(order=served)
    url = f"/api/v1/records/{credit.pk}/correction/"

    below = api(team_leader).post(url, {"hours": "-2.5", "reason": "x"}, format="json")
    above = api(team_leader).post(url, {"hours": "0.5", "reason": "x"}, format="json")

    assert below.status_code == above.status_code == 400
    assert below.json()["code"] == "correction_out_of_range"


def test_the_volunteer_may_ask_a_correction_and_a_stranger_may_not(api, story, team_leader, stranger):
    order = story.completed()
    credit = ServiceRecord.objects.get(order=order)
    owner = Volunteer.objects.get(pk=credit.volunteer_id).user

    mine = api(owner).post(f"/api/v1/records/{credit.pk}/correction/", {"hours": "-1", "reason": "x"}, format="json")
    theirs = api(stranger).post(
        f"/api/v1/records/{credit.pk}/correction/", {"hours": "-1", "reason": "x"}, format="json"
    )

    assert mine.status_code == 201 and theirs.status_code == 403


def test_a_declined_entry_never_counts_and_needs_a_reason(api, served, team_leader, member, dispatcher):
    record = add(api, team_leader, volunteer=member.pk, order=served.pk, hours="1", reason="x").json()

    no_note = decide(api, dispatcher, record["id"], "decline")
    declined = decide(api, dispatcher, record["id"], "decline", note="没有证据")
    again = decide(api, dispatcher, record["id"], "approve")

    assert no_note.status_code == 400
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
    assert again.status_code == 409 and again.json()["code"] == "already_decided"
    assert hours_total(member.pk) == 0


def test_only_a_dispatcher_of_the_entrys_unit_decides(
    api, served, team_leader, member, other_dispatcher, station_dispatcher, volunteer
):
    record = add(api, team_leader, volunteer=member.pk, order=served.pk, hours="1", reason="x").json()

    assert decide(api, volunteer, record["id"]).status_code == 403
    assert decide(api, other_dispatcher, record["id"]).status_code == 403
    assert [r["id"] for r in api(other_dispatcher).get("/api/v1/records/").json()] == []
    assert [r["id"] for r in api(station_dispatcher).get("/api/v1/records/").json()] == [record["id"]]
    assert decide(api, station_dispatcher, record["id"]).status_code == 200


def test_star_levels_change_at_their_thresholds(settings):
    assert [star_level(h) for h in (0, 99.5, 100, 299, 300, 600, 1000, 1499, 1500, 9999)] == [
        0,
        0,
        1,
        1,
        2,
        3,
        4,
        4,
        5,
        5,
    ]
    settings.STAR_LEVEL_HOURS = [100, 200, 500, 800, 1000]  # Beijing's
    assert [star_level(h) for h in (199, 200, 500, 800, 1000)] == [1, 2, 3, 4, 5]


def test_the_volunteers_record_and_ledger(api, served, team_leader, member, settings, stranger, dispatcher):
    settings.STAR_LEVEL_HOURS = [1, 2, 3, 4, 5]
    credited = ServiceRecord.objects.get(order=served).volunteer

    record = api(credited.user).get(f"/api/v1/volunteers/{credited.pk}/")
    ledger = api(dispatcher).get(f"/api/v1/volunteers/{credited.pk}/records/")
    team = api(team_leader).get(f"/api/v1/teams/{served.team_id}/").json()

    assert record.status_code == 200
    assert {k: record.json()[k] for k in ("id", "number", "hours_total", "star_level")} == {
        "id": credited.pk,
        "number": credited.number,
        "hours_total": "2.0",
        "star_level": 2,
    }
    assert record.json()["teams"][0]["id"] == served.team_id
    assert {"id", "kind", "state", "hours", "order", "team", "date", "content", "reason"} <= set(ledger.json()[0])
    stars = {m["volunteer"]: m["star_level"] for m in team["members"]}
    assert stars[credited.pk] == 2 and stars[member.pk] == 0
    assert api(stranger).get(f"/api/v1/volunteers/{credited.pk}/").status_code == 404
