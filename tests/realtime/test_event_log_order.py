"""On PostgreSQL, seqs are taken in commit order: once a seq is visible, no lower one can appear later."""

import threading

import pytest
from django.db import connection, connections, transaction

from realtime import events
from realtime import groups as g
from realtime.models import Event
from tests.conftest import requires_postgres

from .processes import wait_until

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def waiting_for_the_log_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            [events.EVENT_LOG_LOCK & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0]


def test_a_transaction_that_logs_an_event_waits_for_the_one_that_logged_before_it_to_commit():
    first_logged, let_first_commit = threading.Event(), threading.Event()
    seqs: dict[str, int] = {}

    def first() -> None:
        try:
            with transaction.atomic():
                seqs["first"] = events.publish([g.board()], "test.first", {}).pk
                first_logged.set()
                let_first_commit.wait(timeout=30)
        finally:
            connections.close_all()

    def second() -> None:
        try:
            with transaction.atomic():
                seqs["second"] = events.publish([g.board()], "test.second", {}).pk
        finally:
            connections.close_all()

    one, two = threading.Thread(target=first), threading.Thread(target=second)
    one.start()
    assert first_logged.wait(timeout=30)
    two.start()
    # The second transaction is queued behind the first, not inserting ahead of its commit.
    wait_until(waiting_for_the_log_lock, what="the second transaction to wait for the log lock")
    assert "second" not in seqs
    let_first_commit.set()
    one.join(timeout=30)
    two.join(timeout=30)
    assert seqs["first"] < seqs["second"]
    assert list(Event.objects.order_by("pk").values_list("type", flat=True)) == ["test.first", "test.second"]


def test_an_event_published_outside_a_transaction_is_logged_and_sent(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        event = events.publish([g.board()], "test.autocommit", {"n": 1})
    assert Event.objects.get(pk=event.pk).payload == {"n": 1}
    assert len(callbacks) <= 1


def test_an_order_placed_while_another_at_its_station_changes_does_not_deadlock_on_the_log_lock(story):
    """The log lock is held to commit, when the new order's station is checked (a deferred foreign key):
    a writer that locked the station row and then waits for the log lock would close a cycle."""
    from dispatch import services
    from dispatch.models import Order
    from requests_app import services as intake
    from tests import factories as f

    other = story.placed()
    first_locked, placed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def change() -> None:
        try:
            with transaction.atomic():
                services.lock_order(other.pk)
                first_locked.set()
                placed.wait(timeout=30)
                services.order_cancel(order_id=other.pk, user=story.citizen)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    def place() -> None:
        try:
            first_locked.wait(timeout=30)
            with transaction.atomic():
                intake.order_place(user=story.citizen, **f.order_fields(story.category))
                placed.set()
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            placed.set()
            connections.close_all()

    threads = [threading.Thread(target=change), threading.Thread(target=place)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert Order.objects.get(pk=other.pk).state == "cancelled"
    assert Order.objects.count() == 2
