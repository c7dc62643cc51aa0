"""Timers on a real Celery worker over Redis (DESIGN §7, issue 3 item 5).

An offer expires and the cascade moves on; an order not accepted in time escalates; a worker
killed in the middle of an escalation, or after its commit but before its ack, leaves the
message to be delivered again, and the order escalates exactly once.

Where "the middle" is: the test holds the order's row lock from another session, so the
worker's `order_escalate` waits inside its transaction, and the test sees it waiting in
pg_stat_activity before it kills the worker. Where "after the commit, before the ack" is: the
test pauses every write to a Redis of its own (CLIENT PAUSE WRITE) before it lets the worker
have the row, so the worker commits but its ack, a write to the broker, cannot land. No sleeps
decide an outcome: every wait polls for a state with a deadline.
"""

import os
import re
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from dispatch import tasks
from dispatch.choices import DispatchMode, OfferState, OrderState
from dispatch.models import Notification, Offer, Order, Transition
from realtime.models import Event
from volunteers.models import Team

from ..conftest import Story
from .conftest import CeleryRig, RowLock, is_queued, unacked_delivery, wait_until

pytestmark = [
    pytest.mark.skipif(
        not (os.environ.get("DATABASE_URL", "").startswith("postgres") and os.environ.get("REDIS_URL")),
        reason="needs a real Celery worker: run with DATABASE_URL=postgres://… and REDIS_URL=redis://… "
        "(as the second run of .ci/run does)",
    ),
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.django_db(transaction=True),
]

# Short, so a killed worker's message comes back within the test; the Redis transport hands
# an unacknowledged message back only once it is this old, when a worker starts or polls.
VISIBILITY_TIMEOUT_S = 3


def overdue(story: Story) -> Order:
    """An order placed and never accepted, its escalation clock run out."""
    order = story.placed()
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - settings.ESCALATE_AFTER - timedelta(minutes=1))
    return Order.objects.get(pk=order.pk)


def level_of(order: Order) -> int:
    return Order.objects.values_list("level", flat=True).get(pk=order.pk)


def escalations_of(order: Order) -> tuple[int, int]:
    """(escalate transitions logged, order.escalated events logged) for the order."""
    return (
        Transition.objects.filter(order=order, action="escalate").count(),
        Event.objects.filter(order_id=order.pk, type="order.escalated").count(),
    )


def wait_until_the_broker_would_deliver_again(client: redis.Redis, queue: str, task_id: str) -> None:
    """The killed worker never acknowledged the message: wait until a worker starting now would get it.

    It is held for redelivery until the visibility timeout, or already back in its queue: any
    worker on the same Redis restores every overdue message when it starts (a test run beside
    this one may). kombu moves a message from one to the other in one transaction.
    """
    delivered_at = unacked_delivery(client, task_id)
    if delivered_at is None:
        assert is_queued(client, queue, task_id), "the message was acknowledged although its task never finished"
        return
    wait_until(
        lambda: time.time() > delivered_at + VISIBILITY_TIMEOUT_S + 0.2,
        what="the visibility timeout to pass",
        timeout=VISIBILITY_TIMEOUT_S + 5,
    )


def test_an_expired_cascade_offer_moves_on_to_the_next_team_on_a_real_worker(
    celery_rig: CeleryRig, story: Story, other_team: Team, other_leader
):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.CASCADE)
    first = story.offer_of(order)
    Offer.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    worker = celery_rig.start_worker()

    task_id = celery_rig.send(tasks.expire_offer, first.pk)

    wait_until(
        lambda: Offer.objects.filter(order=order, team=other_team, state=OfferState.PENDING).exists(),
        what="the next team's offer",
        workers=(worker,),
    )
    wait_until(lambda: worker.has_run(task_id), what="expire_offer to finish", workers=(worker,))
    assert Offer.objects.get(pk=first.pk).state == OfferState.EXPIRED
    order.refresh_from_db()
    assert order.state == OrderState.DISPATCHING
    assert order.cascade_queue == []
    assert Transition.objects.filter(order=order, action="offer_expire").count() == 1
    # Both leaders hear of their offer, through the worker: the first from this process's
    # message, the second from the one the worker sent itself when it moved on.
    offers_told = Notification.objects.filter(order=order, kind=Notification.Kind.OFFER_NEW)
    wait_until(
        lambda: (
            set(offers_told.filter(sent_at__isnull=False).values_list("user", flat=True))
            == {story.team_leader.pk, other_leader.pk}
        ),
        what="the new-offer notifications to be sent",
        workers=(worker,),
    )


def test_a_sweep_escalates_an_order_not_accepted_in_time_once_on_a_real_worker(celery_rig: CeleryRig, story: Story):
    order = overdue(story)
    worker = celery_rig.start_worker()

    celery_rig.send(tasks.sweep)

    wait_until(lambda: level_of(order) == order.level + 1, what="the escalation", workers=(worker,))
    assert escalations_of(order) == (1, 1)
    # The escalation restarted the clock: a later sweep finds nothing to escalate.
    later = celery_rig.send(tasks.sweep)
    wait_until(lambda: worker.has_run(later), what="the second sweep", workers=(worker,))
    assert len(re.findall(r"Task dispatch\.tasks\.escalate_order\[\S+\] succeeded", worker.logs())) == 1
    assert level_of(order) == order.level + 1
    assert escalations_of(order) == (1, 1)


def test_a_worker_killed_in_the_middle_of_an_escalation_escalates_exactly_once_after_restart(
    celery_rig: CeleryRig, story: Story, lock_row: Callable[[str, int], RowLock]
):
    broker = redis.Redis.from_url(celery_rig.redis_url)
    order = overdue(story)
    first = celery_rig.start_worker(visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    celery_rig.catch_up(first)
    row = lock_row(Order._meta.db_table, order.pk)

    task_id = celery_rig.send(tasks.escalate_order, order.pk, order.level)

    # The worker has taken the message and waits for the order's row inside its transaction
    # (one task at a time, and it has run everything sent before).
    wait_until(
        lambda: first.has_received(task_id) and first.name in row.sessions_waiting(),
        what="the worker to wait for the order's row in escalate_order",
        workers=(first,),
    )
    first.kill()
    row.release()
    # Its session, left without a client, rolls back and ends; nothing of the escalation remains.
    wait_until(lambda: not celery_rig.sessions_of(first), what="the killed worker's session to end")
    assert level_of(order) == order.level
    assert escalations_of(order) == (0, 0)

    wait_until_the_broker_would_deliver_again(broker, celery_rig.queue, task_id)
    second = celery_rig.start_worker(visibility_timeout_s=VISIBILITY_TIMEOUT_S)

    wait_until(lambda: second.has_run(task_id), what="the same message to run again", workers=(second,))
    assert level_of(order) == order.level + 1
    assert escalations_of(order) == (1, 1)

    # The same message delivered once more (the sweep saw the same overdue order) does nothing.
    again = celery_rig.send(tasks.escalate_order, order.pk, order.level)
    wait_until(lambda: second.has_run(again), what="the repeated message", workers=(second,))
    assert level_of(order) == order.level + 1
    assert escalations_of(order) == (1, 1)
    broker.close()


def test_a_worker_killed_after_its_escalation_committed_but_before_the_ack_escalates_once(
    celery_rig: CeleryRig, story: Story, lock_row: Callable[[str, int], RowLock], private_redis: str
):
    # CLIENT PAUSE stops every client of a Redis server, so this test pauses one of its own.
    # One connection, so that the server's list of clients is this one once the worker is gone.
    broker = redis.Redis.from_url(private_redis, single_connection_client=True)
    order = overdue(story)
    first = celery_rig.start_worker(redis_url=private_redis, visibility_timeout_s=VISIBILITY_TIMEOUT_S)
    celery_rig.catch_up(first, broker_url=private_redis)
    row = lock_row(Order._meta.db_table, order.pk)

    task_id = celery_rig.send(tasks.escalate_order, order.pk, order.level, broker_url=private_redis)

    wait_until(
        lambda: first.has_received(task_id) and first.name in row.sessions_waiting(),
        what="the worker to wait for the order's row in escalate_order",
        workers=(first,),
    )
    # From here no Redis write gets through: the worker can commit the escalation, but the ack
    # (a write to the broker, after the task returns) waits; so does anything sent after commit.
    broker.execute_command("CLIENT", "PAUSE", 60_000, "WRITE")
    try:
        row.release()
        wait_until(lambda: level_of(order) == order.level + 1, what="the escalation to commit", workers=(first,))
        first.kill()
        # Unpause only once the server has dropped the dead worker's connections: a paused
        # command of a live connection (the ack) would otherwise run on unpause.
        me = broker.client_id()
        wait_until(
            lambda: [int(c["id"]) for c in broker.client_list()] == [me], what="the dead worker's connections to close"
        )
    finally:
        broker.execute_command("CLIENT", "UNPAUSE")
    assert escalations_of(order) == (1, 1)

    wait_until_the_broker_would_deliver_again(broker, celery_rig.queue, task_id)
    second = celery_rig.start_worker(redis_url=private_redis, visibility_timeout_s=VISIBILITY_TIMEOUT_S)

    wait_until(lambda: second.has_run(task_id), what="the same message to run again", workers=(second,))
    assert level_of(order) == order.level + 1
    assert escalations_of(order) == (1, 1)
    broker.close()
