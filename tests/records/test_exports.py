"""Exports of orders, ledger entries and team statistics: CSV and XLSX, by unit and dates, for its dispatchers."""

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone
from openpyxl import load_workbook

from volunteers.models import ServiceRecord

pytestmark = pytest.mark.django_db


def get(api, user, kind, ext, **query):
    return api(user).get(f"/api/v1/exports/{kind}.{ext}", query)


def rows_of(response, ext):
    data = b"".join(response.streaming_content)
    if ext == "csv":
        return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    sheet = load_workbook(io.BytesIO(data), read_only=True).worksheets[0]
    return [list(r) for r in sheet.iter_rows(values_only=True)]


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", ["orders", "records", "teams"])
def test_each_export_in_each_format(api, story, dispatcher, kind, ext):
    order = story.completed()

    response = get(api, dispatcher, kind, ext)

    assert response.status_code == 200
    assert "attachment" in response["Content-Disposition"] and f".{ext}" in response["Content-Disposition"]
    rows = rows_of(response, ext)
    assert len(rows) == 2, rows
    if kind == "orders":
        assert str(rows[1][0]) == str(order.pk)
    if kind == "records":
        assert str(rows[1][0]) == str(ServiceRecord.objects.get(order=order).pk)
    if kind == "teams":
        assert rows[1][0] == story.team.name


def test_no_private_data_of_citizens(api, story, dispatcher):
    story.completed()

    text = b"".join(get(api, dispatcher, "orders", "csv").streaming_content).decode("utf-8-sig")

    for private in ("王大爷", "13811112222", "3组12号"):
        assert private not in text


def test_the_date_range_filters(api, story, dispatcher):
    story.completed()
    last_week = timezone.localdate() - timedelta(days=7)

    before = rows_of(get(api, dispatcher, "records", "csv", to=last_week.isoformat(), **{"from": "2020-01-01"}), "csv")
    today = rows_of(get(api, dispatcher, "records", "csv", **{"from": timezone.localdate().isoformat()}), "csv")

    assert len(before) == 1 and len(today) == 2


def test_the_unit_filters_and_scope_holds(api, story, dispatcher, other_station, other_dispatcher, station):
    story.completed()

    elsewhere = rows_of(get(api, dispatcher, "orders", "csv", unit=other_station.pk), "csv")
    refused = get(api, other_dispatcher, "orders", "csv", unit=station.pk)
    own = rows_of(get(api, other_dispatcher, "orders", "csv"), "csv")

    assert len(elsewhere) == 1
    assert refused.status_code == 403 and refused.json()["code"] == "outside_your_unit"
    assert len(own) == 1


def test_only_dispatchers_export_and_bad_input_is_refused(api, story, team_leader, dispatcher):
    assert get(api, team_leader, "orders", "csv").status_code == 403
    assert get(api, dispatcher, "nothing", "csv").status_code == 404
    assert get(api, dispatcher, "orders", "pdf").status_code == 404
    assert get(api, dispatcher, "orders", "csv", **{"from": "2026-02-01", "to": "2026-01-01"}).status_code == 400
    assert get(api, dispatcher, "orders", "csv", **{"from": "yesterday"}).status_code == 400
