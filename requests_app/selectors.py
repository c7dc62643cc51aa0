"""Citizen-side reads: the service menu, my orders, an order's timeline, similar orders nearby."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.models import User as Account
from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from geopy.distance import geodesic

from dispatch.choices import OrderState
from dispatch.geo import bounding_box
from dispatch.models import Order

from .models import Category, Citizen, ServiceItem

# An order this close, of the same service, placed within a day and still open, may be the same need.
SIMILAR_WITHIN_M = 300
SIMILAR_WITHIN = timedelta(days=1)
LIVE_STATES = (OrderState.SUBMITTED, OrderState.DISPATCHING, OrderState.ACCEPTED, OrderState.IN_SERVICE)


def menu() -> QuerySet[Category]:
    """The service menu: active categories with their active items."""
    items = Prefetch("items", queryset=ServiceItem.objects.filter(active=True))
    return Category.objects.filter(active=True).prefetch_related(items)


def citizen_of(user: Account | AnonymousUser) -> Citizen | None:
    if not user.is_authenticated:
        return None
    return Citizen.objects.select_related("station").filter(user=user).first()


def orders_of(user: Account) -> QuerySet[Order]:
    """The orders a citizen placed, newest first."""
    return Order.objects.filter(citizen__user=user).select_related("category", "item", "team").order_by("-created_at")


@dataclass(frozen=True)
class Similar:
    order: Order
    metres: int
    mine: bool


def similar_live_orders(*, user: Account, category_id: int, lat: float, lng: float) -> list[Similar]:
    """Open orders of the same service placed nearby in the last day ("is this yours?")."""
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, SIMILAR_WITHIN_M / 1000)
    rows = Order.objects.filter(
        category_id=category_id,
        state__in=LIVE_STATES,
        created_at__gte=timezone.now() - SIMILAR_WITHIN,
        lat__range=(min_lat, max_lat),
        lng__range=(min_lng, max_lng),
    ).select_related("citizen", "category")[:20]
    found = []
    for order in rows:
        metres = geodesic((lat, lng), (order.lat, order.lng)).m
        if metres <= SIMILAR_WITHIN_M:
            mine = order.citizen is not None and order.citizen.user_id == user.pk
            found.append(Similar(order=order, metres=round(metres), mine=mine))
    return sorted(found, key=lambda s: (not s.mine, s.metres))


@dataclass(frozen=True)
class Step:
    label: str
    at: datetime | None
    detail: str
    status: str  # "done", "now" or "todo"


def order_timeline(order: Order) -> list[Step]:
    """已提交 → 派单中 → 已接单 → 服务中 → 已完成 → 已评价, or where the order stopped."""
    team = order.team.name if order.team_id and order.team else ""
    steps = [
        (OrderState.SUBMITTED, _("Submitted"), order.created_at, ""),
        (OrderState.DISPATCHING, _("Finding a team"), order.dispatched_at, ""),
        (OrderState.ACCEPTED, _("Accepted"), order.accepted_at, team),
        (OrderState.IN_SERVICE, _("In service (volunteers arrived)"), order.started_at, ""),
        (OrderState.COMPLETED, _("Completed"), order.completed_at, ""),
        (OrderState.CLOSED, _("Rated"), order.closed_at, f"{order.rating}★" if order.rating else ""),
    ]
    if order.state in (OrderState.CANCELLED, OrderState.REJECTED):
        reached = [s for s in steps if s[2] is not None and s[0] != OrderState.CLOSED]
        label = _("Cancelled") if order.state == OrderState.CANCELLED else _("Not accepted by the center")
        detail = order.reject_reason if order.state == OrderState.REJECTED else ""
        return [Step(str(s[1]), s[2], s[3], "done") for s in reached] + [Step(label, order.closed_at, detail, "now")]
    states = [s[0] for s in steps]
    current = states.index(order.state)
    result = []
    for i, (state, label, at, detail) in enumerate(steps):
        status = "done" if i < current else "now" if i == current else "todo"
        if state == OrderState.CLOSED and order.state == OrderState.CLOSED and not order.rating:
            label = _("Closed")
        result.append(Step(str(label), at if i <= current else None, detail if i <= current else "", status))
    return result
