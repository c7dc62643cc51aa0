"""The ledger in the team workspace and the console: 补录, corrections, decisions, certificates, exports."""

from datetime import timedelta

import pytest
from django.utils import timezone

from records.models import Certificate, ExportJob
from volunteers.models import ServiceRecord, Volunteer

pytestmark = pytest.mark.django_db


@pytest.fixture
def served(story):
    return story.completed()


def test_a_leader_adds_hours_and_a_dispatcher_approves_them(browser_for, served, team_leader, volunteer, dispatcher):
    member = Volunteer.objects.get(user=volunteer)
    leader = browser_for(team_leader)

    page = leader.get(f"/team/volunteers/{member.pk}/").content.decode()
    sent = leader.post(
        f"/team/volunteers/{member.pk}/add/", {"order": served.pk, "hours": "1.5", "reason": "漏记了"}, follow=True
    )
    pending = ServiceRecord.objects.get(volunteer=member)
    console = browser_for(dispatcher)
    listed = console.get("/console/records/").content.decode()
    console.post(f"/console/records/{pending.pk}/decide/", {"decision": "approve"})

    assert 'action="/team/volunteers/%d/add/"' % member.pk in page
    assert sent.status_code == 200 and pending.state == "pending"
    assert f'data-record="{pending.pk}"' in listed and "漏记了" in listed
    pending.refresh_from_db()
    assert pending.state == "counted"


def test_a_refused_entry_shows_the_reason_beside_the_form(browser_for, served, team_leader, volunteer):
    member = Volunteer.objects.get(user=volunteer)

    page = browser_for(team_leader).post(
        f"/team/volunteers/{member.pk}/add/", {"order": served.pk, "hours": "5", "reason": "x"}
    )

    assert page.status_code == 400 and "errorlist" in page.content.decode()
    assert not ServiceRecord.objects.filter(volunteer=member).exists()


def test_a_declined_entry_needs_a_note(browser_for, served, team_leader, volunteer, dispatcher):
    member = Volunteer.objects.get(user=volunteer)
    browser_for(team_leader).post(
        f"/team/volunteers/{member.pk}/add/", {"order": served.pk, "hours": "1", "reason": "x"}
    )
    record = ServiceRecord.objects.get(volunteer=member)

    browser_for(dispatcher).post(f"/console/records/{record.pk}/decide/", {"decision": "decline"})
    record.refresh_from_db()
    assert record.state == "pending"
    browser_for(dispatcher).post(f"/console/records/{record.pk}/decide/", {"decision": "decline", "note": "没有证据"})
    record.refresh_from_db()
    assert record.state == "declined" and record.note == "没有证据"


def test_a_volunteer_sees_their_record_asks_a_correction_and_gets_a_certificate(browser_for, served):
    credited = ServiceRecord.objects.get(order=served).volunteer
    me = browser_for(credited.user)
    today = timezone.localdate()

    assert me.get("/team/record/").url == f"/team/volunteers/{credited.pk}/"
    page = me.get(f"/team/volunteers/{credited.pk}/").content.decode()
    credit = ServiceRecord.objects.get(order=served)
    me.post(f"/team/records/{credit.pk}/correction/", {"fix-hours": "-0.5", "fix-reason": "提前离开"})
    issued = me.post(
        f"/team/volunteers/{credited.pk}/certificate/",
        {"date_from": (today - timedelta(days=7)).isoformat(), "date_to": today.isoformat()},
    )

    assert "data-hours" in page and "2.0" in page
    assert ServiceRecord.objects.filter(corrects=credit, state="pending").exists()
    assert issued.status_code == 302 and Certificate.objects.filter(volunteer=credited).count() == 1


def test_another_member_cannot_open_a_teammates_record(browser_for, served, volunteer):
    credited = ServiceRecord.objects.get(order=served).volunteer

    assert browser_for(volunteer).get(f"/team/volunteers/{credited.pk}/").status_code == 404


def test_the_exports_page_writes_the_file_in_the_background(
    browser_for, dispatcher, team_leader, django_capture_on_commit_callbacks
):
    desk = browser_for(dispatcher)
    page = desk.get("/console/exports/")
    with django_capture_on_commit_callbacks(execute=True):
        asked = desk.post(
            "/console/exports/", {"kind": "records", "ext": "xlsx", "date_from": "2026-01-01", "date_to": "2026-01-31"}
        )
    listed = desk.get("/console/exports/").content.decode()
    job = ExportJob.objects.get()

    assert page.status_code == 200 and 'name="kind"' in page.content.decode()
    assert asked.status_code == 302 and job.state == "done"
    assert f'href="/api/v1/exports/{job.pk}/file/"' in listed
    assert browser_for(team_leader).get("/console/exports/").status_code == 403
