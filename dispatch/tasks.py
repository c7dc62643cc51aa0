"""Celery tasks (DESIGN §7): thin — load by id, call one service.

Every task is idempotent and acknowledged late (settings: CELERY_TASK_ACKS_LATE,
CELERY_TASK_REJECT_ON_WORKER_LOST): a worker killed mid-task leaves its message to be
delivered again, and the service, finding the work done or not due, does nothing twice.
`sweep` runs on a beat and finds every due timer from the database, so a message lost
on the way changes only how late, never whether, the work is done.
"""

import logging
import time
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from . import selectors, services

logger = logging.getLogger(__name__)

# A database that is briefly away (failover, restart) is worth a few more tries.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


# After a failed send, sends are skipped this long (the sweep makes up for them).
BROKER_BACKOFF_S = 5.0
_broker_down_until = 0.0


def enqueue(task: Task, *args: Any, eta: datetime | None = None) -> None:
    """Send a task without failing the caller (a request whose change has committed).

    With the broker down the change is already safe in the database; the sweep finds the
    due work there once the broker is back, so a failed send is logged, not raised.
    """
    global _broker_down_until
    if not settings.CELERY_TASK_ALWAYS_EAGER and time.monotonic() < _broker_down_until:
        return  # it failed a moment ago: do not make every request wait on it again
    try:
        task.apply_async(args, eta=eta)
    except Exception:
        if settings.CELERY_TASK_ALWAYS_EAGER:
            raise  # in-process, the error is the task's own: let it show
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_S
        logger.warning("could not enqueue %s%s; the sweep will do it", task.name, args, exc_info=True)


def enqueue_after_commit(task: Task, *args: Any, eta: datetime | None = None) -> None:
    """Send a task once the caller's transaction commits (a rolled-back change sends nothing)."""
    transaction.on_commit(lambda: enqueue(task, *args, eta=eta))


@shared_task(**RETRY)
def expire_offer(offer_id: int) -> None:
    services.offer_expire(offer_id=offer_id)


@shared_task(**RETRY)
def remind_offer(offer_id: int) -> None:
    services.offer_remind(offer_id=offer_id)


@shared_task(**RETRY)
def escalate_order(order_id: int, level: int | None = None) -> None:
    services.order_escalate(order_id=order_id, level=level)


@shared_task(**RETRY)
def auto_dispatch_order(order_id: int) -> None:
    services.order_auto_dispatch(order_id=order_id)


@shared_task(**RETRY)
def auto_close_order(order_id: int) -> None:
    services.order_auto_close(order_id=order_id)


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def send_notification(notification_id: int) -> None:
    services.notification_send(notification_id=notification_id)


@shared_task
def refresh_team_stats() -> None:
    services.team_stats_refresh(team_ids=selectors.teams_with_recent_activity())


@shared_task
def sweep() -> dict[str, int]:
    """Enqueue every timer that is due. One task each, so a failing one holds up no other."""
    due = selectors.due_work()
    for offer_id in due.offers_to_expire:
        expire_offer.delay(offer_id)
    for offer_id in due.offers_to_remind:
        remind_offer.delay(offer_id)
    for order_id, level in due.orders_to_escalate:
        escalate_order.delay(order_id, level)
    for order_id in due.orders_to_close:
        auto_close_order.delay(order_id)
    for notification_id in due.notifications_to_send:
        send_notification.delay(notification_id)
    for order_id in due.orders_to_auto_dispatch:
        auto_dispatch_order.delay(order_id)
    counts = due.counts()
    if any(counts.values()):
        logger.info("sweep: %s", counts)
    return counts
