"""Exports of orders, ledger entries and team statistics: CSV and XLSX, by unit and dates, for its dispatchers.

Written in the background: asked for, the job runs (in-process here, as on the embedded default) and its
file is downloaded once it is done.
"""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from realtime.models import Event
from records.jobs import exports_resend
from records.models import ExportJob
from volunteers.models import ServiceRecord

pytestmark = pytest.mark.django_db


def ask(api, user, kind, ext, django_capture_on_commit_callbacks, **query):
    with django_capture_on_commit_callbacks(execute=True):
        return api(user).post("/api/v1/exports/", {"kind": kind, "format": ext, **query}, format="json")


@pytest.fixture
def export(api, django_capture_on_commit_callbacks):
    """Ask for an export and read its file back as rows."""

    def run(user, kind, ext="csv", **query):
        asked = ask(api, user, kind, ext, django_capture_on_commit_callbacks, **query)
        assert asked.status_code == 202, asked.json()
        job = api(user).get(f"/api/v1/exports/{asked.json()['id']}/").json()
        assert job["state"] == "done", job
        data = b"".join(api(user).get(job["file"]).streaming_content)
        if ext == "csv":
            return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
        sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]

    return run


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", ["orders", "records", "teams"])
def test_each_export_in_each_format(export, story, dispatcher, kind, ext):
    order = story.completed()

    rows = export(dispatcher, kind, ext)

    assert len(rows) == 2, rows
    if kind == "orders":
        assert str(rows[1][0]) == str(order.pk)
    if kind == "records":
        assert str(rows[1][0]) == str(ServiceRecord.objects.get(order=order).pk)
    if kind == "teams":
        assert rows[1][0] == story.team.name


def test_the_job_reports_its_end_on_the_requesters_stream(export, story, dispatcher):
    story.completed()

    export(dispatcher, "records", "xlsx")

    job = ExportJob.objects.get()
    assert (job.state, job.rows) == ("done", 1)
    assert Event.objects.filter(type="export.done", groups=[f"user.{dispatcher.pk}"]).exists()


def test_no_private_data_of_citizens(export, story, dispatcher):
    story.completed()

    text = str(export(dispatcher, "orders"))

    for private in ("王大爷", "13811112222", "3组12号"):
        assert private not in text


def test_the_date_range_filters(export, story, dispatcher):
    story.completed()
    last_week = timezone.localdate() - timedelta(days=7)

    before = export(dispatcher, "records", to=last_week.isoformat(), **{"from": "2020-01-01"})
    today = export(dispatcher, "records", **{"from": timezone.localdate().isoformat()})

    assert len(before) == 1 and len(today) == 2


def test_the_unit_filters_and_scope_holds(
    api, export, story, dispatcher, other_station, other_dispatcher, station, django_capture_on_commit_callbacks
):
    story.completed()

    elsewhere = export(dispatcher, "orders", unit=other_station.pk)
    refused = ask(api, other_dispatcher, "orders", "csv", django_capture_on_commit_callbacks, unit=station.pk)
    own = export(other_dispatcher, "orders")

    assert len(elsewhere) == 1
    assert refused.status_code == 403 and refused.json()["code"] == "outside_your_unit"
    assert len(own) == 1


def test_only_dispatchers_export_and_bad_input_is_refused(
    api, story, team_leader, dispatcher, django_capture_on_commit_callbacks
):
    def asked(user, kind="orders", ext="csv", **query):
        return ask(api, user, kind, ext, django_capture_on_commit_callbacks, **query).status_code

    assert asked(team_leader) == 403
    assert asked(dispatcher, kind="nothing") == 400
    assert asked(dispatcher, ext="pdf") == 400
    assert asked(dispatcher, **{"from": "2026-02-01", "to": "2026-01-01"}) == 400
    assert asked(dispatcher, **{"from": "yesterday"}) == 400
    assert not ExportJob.objects.exists()


def test_only_the_requester_reads_the_job(api, export, story, dispatcher, station_dispatcher):
    export(dispatcher, "orders")
    job = ExportJob.objects.get()

    assert api(station_dispatcher).get(f"/api/v1/exports/{job.pk}/").status_code == 404
    assert api(station_dispatcher).get(f"/api/v1/exports/{job.pk}/file/").status_code == 404


def test_a_job_whose_message_was_lost_is_sent_again(story, dispatcher, center):
    story.completed()
    today = timezone.localdate()
    lost = ExportJob.objects.create(
        user=dispatcher,
        kind="orders",
        ext="csv",
        unit=center,
        date_from=today,
        date_to=today,
        created_at=timezone.now() - timedelta(minutes=10),
    )
    fresh = ExportJob.objects.create(
        user=dispatcher, kind="orders", ext="csv", unit=center, date_from=today, date_to=today
    )

    assert exports_resend() == [lost.pk]
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert (lost.state, lost.rows, fresh.state) == ("done", 1, "queued")
    assert exports_resend() == []
