"""Periodic pushes to the stream."""

from typing import Any

from celery import shared_task
from django.db.models import Count
from django.utils import timezone

from dispatch.choices import OrderState
from dispatch.models import Order

from . import events
from . import groups as g

# What a live board redraws every tick: the orders still moving. The full statistics
# stay at GET /api/v1/stats/, which is too heavy to run for everyone every few seconds.
LIVE_STATES = (OrderState.SUBMITTED, OrderState.DISPATCHING, OrderState.ACCEPTED, OrderState.IN_SERVICE)


def board_figures() -> dict[str, Any]:
    """Live orders by state for every unit on a station's path (a unit counts its whole subtree)."""
    rows = (
        Order.objects.filter(state__in=LIVE_STATES)
        .order_by()
        .values_list("station__path", "state")
        .annotate(n=Count("id"))
    )
    units: dict[str, dict[str, Any]] = {}
    for path, state, n in rows:
        for part in filter(None, path.split("/")):
            figures = units.setdefault(part, _figures())
            figures["by_state"][state] += n
            figures["live"] += n
    return {"at": timezone.now().isoformat(), "units": units, "none": _figures()}


def _figures() -> dict[str, Any]:
    return {"live": 0, "by_state": {str(state): 0 for state in LIVE_STATES}}


@shared_task(ignore_result=True)
def board_tick() -> None:
    """Push the live figures to the dispatchers' boards (not logged: each tick replaces the last)."""
    events.broadcast([g.board()], board_figures())
