"""Celery tasks (DESIGN §7): thin — load by id, call one service.

Every task is idempotent and acknowledged late (settings: CELERY_TASK_ACKS_LATE,
CELERY_TASK_REJECT_ON_WORKER_LOST): a worker killed mid-task leaves its message to be
delivered again, and the service, finding the work done or not due, does nothing twice.
`sweep` runs on a beat and finds every due timer from the database, so a message lost
on the way changes only how late, never whether, the work is done.
"""

import logging

from celery import shared_task
from django.db import OperationalError

from . import selectors, services

logger = logging.getLogger(__name__)

# A database that is briefly away (failover, restart) is worth a few more tries.
RETRY = {"autoretry_for": (OperationalError,), "retry_backoff": True, "max_retries": 5}


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
