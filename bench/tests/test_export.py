"""bench/export.py: the ledger entries it writes hold ServiceRecord's constraints, as COPY rows of every column."""

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from bench import export
from volunteers.models import RecordKind, RecordState, ServiceRecord

ZONE = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 12, 6, 9, 30, tzinfo=ZONE)
FIRST = NOW.date() - timedelta(days=export.DAYS)


def drawn(days: int = 60, per_day: int = 200) -> list[dict]:
    """The entries of `days` days up to yesterday, from a district of a few teams (one without a leader)."""
    members = [
        export.Member(v, 1000 + v, 1 + v % 4, 10 + v % 4, None if v % 4 == 3 else 2000 + v % 4) for v in range(30)
    ]
    ledger = export.Ledger(
        members, 1, [("助老助残", ["上门探访", "陪同就医"]), ("生态环保", ["河道清洁"])], ["金山"], "王李"
    )
    rng = random.Random(7)
    start = NOW.date() - timedelta(days=days)
    entries = []
    for i in range(days):
        entries += export.draw_day(rng, ledger, start + timedelta(days=i), per_day, NOW, FIRST)
    return [dict(zip(export.COLUMNS, entry, strict=True)) for entry in entries]


@pytest.fixture(scope="module")
def entries() -> list[dict]:
    return drawn()


def test_every_column_of_the_model_is_written() -> None:
    fields = {f.column: f for f in ServiceRecord._meta.concrete_fields}
    assert set(export.COLUMNS) == set(fields)


def test_every_entry_holds_the_models_fields(entries: list[dict]) -> None:
    fields = {f.column: f for f in ServiceRecord._meta.concrete_fields}
    for e in entries:
        for column, value in e.items():
            assert value is not None or fields[column].null, (column, e)
            if isinstance(value, str) and getattr(fields[column], "max_length", None):
                assert len(value) <= fields[column].max_length, (column, e)
        assert e["kind"] in RecordKind.values and e["state"] in RecordState.values
        assert Decimal(e["hours"]) % Decimal("0.5") == 0
        assert e["content"] and e["place"]


def test_hours_and_kind_hold_record_hours_and_kind(entries: list[dict]) -> None:
    for e in entries:
        if e["kind"] == RecordKind.CORRECTION:
            assert e["corrects_id"] is not None and Decimal(e["hours"]) != 0, e
        else:
            assert e["corrects_id"] is None and Decimal(e["hours"]) > 0, e


def test_a_credit_is_counted_once_per_volunteer_and_order_on_its_day(entries: list[dict]) -> None:
    credits = [e for e in entries if e["kind"] == RecordKind.CREDIT]
    assert len(credits) > 0.9 * len(entries)
    orders = [(e["volunteer_id"], e["order_id"]) for e in credits if e["order_id"] is not None]
    assert len(orders) == len(set(orders))  # record_once_per_order
    for e in credits:
        assert e["state"] == RecordState.COUNTED and e["recorded_at"].astimezone(ZONE).date() == e["day"]


def test_a_correction_corrects_an_earlier_credit_of_its_volunteer_and_never_below_zero(entries: list[dict]) -> None:
    by_id = {e["id"]: e for e in entries}
    corrections = [e for e in entries if e["kind"] == RecordKind.CORRECTION]
    assert corrections
    for e in corrections:
        original = by_id[e["corrects_id"]]
        assert original["id"] < e["id"] and original["kind"] == RecordKind.CREDIT
        assert (original["volunteer_id"], original["day"]) == (e["volunteer_id"], e["day"])
        assert Decimal(original["hours"]) + Decimal(e["hours"]) >= 0
    assert len({e["corrects_id"] for e in corrections}) == len(corrections)


def test_entries_added_by_hand_are_decided_in_the_past_or_wait(entries: list[dict]) -> None:
    manual = [e for e in entries if e["kind"] == RecordKind.MANUAL]
    assert {e["state"] for e in manual} == set(RecordState.values)
    for e in manual:
        assert e["reason"] and FIRST <= e["day"] <= e["recorded_at"].astimezone(ZONE).date()
        assert (e["state"] == RecordState.PENDING) == (e["decided_at"] is None) == (e["decided_by_id"] is None)
        assert e["decided_at"] is None or e["recorded_at"] < e["decided_at"] <= NOW
        assert e["state"] != RecordState.DECLINED or e["note"]


def test_ids_follow_the_time_they_were_recorded(entries: list[dict]) -> None:
    assert [e["id"] for e in entries] == list(range(1, len(entries) + 1))
    assert all(a["recorded_at"] <= b["recorded_at"] < NOW for a, b in zip(entries, entries[1:], strict=False))


def test_a_copy_row_has_every_column_and_null_as_copy_spells_it() -> None:
    entry = drawn(days=1, per_day=1)[0]
    fields = export.row(list(entry.values())).rstrip("\n").split("\t")
    assert len(fields) == len(export.COLUMNS)
    assert fields[export.COLUMNS.index("order_id")] == "\\N"
    assert fields[export.COLUMNS.index("recorded_at")].endswith("+08:00")


def test_the_days_share_out_every_row() -> None:
    counts = export.day_counts(random.Random(1), 10_000, date(2025, 1, 1))
    assert len(counts) == export.DAYS and sum(counts) == 10_000 and min(counts) > 0


def test_quick_means_a_tenth_of_the_rows() -> None:
    assert export.parse_args(["--quick"]).rows == 100_000
    assert export.parse_args([]).rows == 1_000_000
    assert export.parse_args(["--rows", "5000"]).rows == 5000
