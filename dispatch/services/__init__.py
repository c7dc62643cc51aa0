"""Writes of the order's journey, by subject. Each service owns its transaction, logs every
transition and publishes its events after commit. Callers import the services from here."""

from .core import (
    ORDER_EVENTS,
    auto_dispatch_later,
    ensure_can,
    lock_order,
    lock_row,
    order_groups,
    order_summary,
    order_transition,
    require_dispatcher,
    require_dispatcher_of,
    require_member,
    visible_order_id,
)
from .index import TEAM_RECORD_FIELDS, matching_index_refresh, team_stats_refresh
from .offers import (
    OFFER_EVENTS,
    offer_accept,
    offer_create,
    offer_decline,
    offer_expire,
    offer_summary,
    offer_transition,
    withdraw_pending,
)
from .orders import (
    auto_dispatch_setting,
    order_abandon,
    order_auto_close,
    order_auto_dispatch,
    order_cancel,
    order_dispatch,
    order_recall,
    order_reject,
)
from .staff import staff_move
from .timers import notification_send, offer_remind, order_escalate

__all__ = [
    "OFFER_EVENTS",
    "ORDER_EVENTS",
    "TEAM_RECORD_FIELDS",
    "auto_dispatch_later",
    "auto_dispatch_setting",
    "ensure_can",
    "lock_order",
    "lock_row",
    "matching_index_refresh",
    "notification_send",
    "offer_accept",
    "offer_create",
    "offer_decline",
    "offer_expire",
    "offer_remind",
    "offer_summary",
    "offer_transition",
    "order_abandon",
    "order_auto_close",
    "order_auto_dispatch",
    "order_cancel",
    "order_dispatch",
    "order_escalate",
    "order_groups",
    "order_recall",
    "order_reject",
    "order_summary",
    "order_transition",
    "require_dispatcher",
    "require_dispatcher_of",
    "require_member",
    "staff_move",
    "team_stats_refresh",
    "visible_order_id",
    "withdraw_pending",
]
