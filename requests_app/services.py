"""Citizen-side writes: order intake (群众点单) and evaluation (评单)."""

import hashlib
import json
import math
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.db.models import ExpressionWrapper, F, FloatField
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from geopy.distance import geodesic

from common.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.choices import Level, Priority
from dispatch.geo import bounding_box
from dispatch.matching import Jurisdiction, in_jurisdiction
from dispatch.models import Order, Transition, Unit
from dispatch.selectors import acts_on, is_dispatcher, placed_by
from dispatch.services.core import (
    auto_dispatch_later,
    lock_order,
    order_groups,
    order_summary,
    order_transition,
    require_dispatcher_of,
)
from publicity.followups import followup_open
from publicity.models import FollowUp
from realtime import events

from .models import Category, Citizen, ServiceItem

# The half-days a citizen picks from (local hours): morning and afternoon.
HALF_DAYS = {"morning": (8, 12), "afternoon": (14, 18)}

# Stations searched for the nearest one when an order gives only coordinates.
NEAREST_STATION_KM = 30.0


def nearest_station(lat: float, lng: float) -> Unit | None:
    """The station nearest to a point, within NEAREST_STATION_KM; ordered in the database."""
    min_lat, max_lat, min_lng, max_lng = bounding_box(lat, lng, NEAREST_STATION_KM)
    # Squared equirectangular distance: exact enough to order stations a few kilometres apart.
    stretch = math.cos(math.radians(lat))
    d2 = (F("lat") - lat) * (F("lat") - lat) + (F("lng") - lng) * (F("lng") - lng) * (stretch * stretch)
    return (
        Unit.objects.filter(level=Level.STATION, lat__range=(min_lat, max_lat), lng__range=(min_lng, max_lng))
        .annotate(d2=ExpressionWrapper(d2, output_field=FloatField()))
        .order_by("d2", "pk")
        .first()
    )


def serves_place(station: Unit, lat: float, lng: float) -> bool:
    """Whether the place lies in the jurisdiction of the station or of a unit above it."""
    units = Unit.objects.filter(pk__in=station.path_ids).only("lat", "lng", "jurisdiction_km")
    return any(in_jurisdiction(Jurisdiction(u.lat, u.lng, u.jurisdiction_km), lat, lng) for u in units)


def _fingerprint(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, cls=DjangoJSONEncoder, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_window(start: datetime, end: datetime, errors: dict[str, list[str]]) -> None:
    now = timezone.now()
    if start < now:
        errors.setdefault("window_start", []).append(_("The time window must start in the future."))
    elif start > now + settings.ORDER_MAX_LEAD:
        errors.setdefault("window_start", []).append(
            _("The time window may start at most %(days)d days ahead.") % {"days": settings.ORDER_MAX_LEAD.days}
        )
    if end <= start:
        errors.setdefault("window_end", []).append(_("The time window must end after it starts."))
    elif end - start > settings.ORDER_MAX_WINDOW:
        errors.setdefault("window_end", []).append(
            _("The time window may last at most %(hours)d hours.")
            % {"hours": settings.ORDER_MAX_WINDOW.total_seconds() // 3600}
        )


def order_place(
    *,
    user: Account,
    category: Category,
    description: str,
    address: str,
    window_start: datetime,
    window_end: datetime,
    contact_name: str,
    contact_phone: str,
    lat: float | None = None,
    lng: float | None = None,
    station: Unit | None = None,
    item: ServiceItem | None = None,
    priority: str = Priority.NORMAL,
    idempotency_key: str | None = None,
    on_behalf_of: Citizen | None = None,
) -> tuple[Order, bool]:
    """Place an order for the citizen, or on behalf of one (代点单) by station staff.

    Returns (order, created). The same Idempotency-Key with the same request gives
    back the first order; with a different request it is a conflict.
    """
    citizen = Citizen.objects.filter(user=user).first()
    if citizen is None and not is_dispatcher(user):
        raise Forbidden(_("Only citizens and station staff may place orders."))
    if on_behalf_of is not None:
        if not is_dispatcher(user):
            raise Forbidden(_("Only station staff may place orders for a citizen."))
        citizen = on_behalf_of
    request = {
        "category": category.pk,
        "item": getattr(item, "pk", None),
        "description": description,
        "address": address,
        "window_start": window_start,
        "window_end": window_end,
        "contact_name": contact_name,
        "contact_phone": contact_phone,
        "lat": lat,
        "lng": lng,
        "station": getattr(station, "pk", None),
        "priority": priority,
    }
    fingerprint = _fingerprint(request)
    if idempotency_key:
        existing = _replay(user, idempotency_key, fingerprint)
        if existing is not None:
            return existing, False

    errors: dict[str, list[str]] = {}
    if not category.active:
        errors["category"] = [_("This service is not offered at the moment.")]
    if item is not None and (item.category_id != category.pk or not item.active):
        errors["item"] = [_("This service item is not offered under the chosen category.")]
    _check_window(window_start, window_end, errors)
    if station is not None and station.level != Level.STATION:
        errors["station"] = [_("Choose a station (站), not an institute or the center.")]
    if station is None and (lat is None or lng is None):
        errors["lat"] = [_("Give the place as lat and lng, or choose a station.")]
    if errors:
        raise InvalidInput(_("The order has errors; nothing was saved."), fields=errors)
    if station is None:
        # Without a station the place is given (checked above).
        found = nearest_station(lat, lng) if lat is not None and lng is not None else None
        if found is None:
            raise InvalidInput(
                _("No practice station serves this place."),
                fields={"lat": [_("No station within %(km)d km.") % {"km": NEAREST_STATION_KM}]},
            )
        station = found
    if lat is None or lng is None:
        lat, lng = station.lat, station.lng
    elif not serves_place(station, lat, lng):
        far = _("This place is %(km).1f km from %(station)s, outside the area the practice network serves there.") % {
            "km": geodesic((lat, lng), (station.lat, station.lng)).km,
            "station": station.name,
        }
        raise InvalidInput(far, code="place_outside_area", fields={"lat": [far], "lng": [far]})
    if (citizen is None or on_behalf_of is not None) and not acts_on(user, station):
        raise InvalidInput(
            _("%(station)s is outside your unit's area.") % {"station": station.name},
            code="outside_your_unit",
            fields={"station": [_("Choose a station of your own unit.")]},
        )

    try:
        with transaction.atomic():
            order = Order.objects.create(
                category=category,
                item=item,
                description=description,
                station=station,
                lat=lat,
                lng=lng,
                address=address,
                window_start=window_start,
                window_end=window_end,
                contact_name=contact_name,
                contact_phone=contact_phone,
                priority=priority,
                citizen=citizen,
                placed_by=user,
                idempotency_key=idempotency_key or None,
                idempotency_fingerprint=fingerprint,
            )
            on_behalf = citizen is None or on_behalf_of is not None
            Transition.objects.create(
                order=order,
                action="place",
                from_state="",
                to_state=order.state,
                by=user,
                note=gettext_noop("Placed by station staff on the citizen's behalf.") if on_behalf else "",
            )
            events.publish(
                order_groups(order),
                "order.placed",
                {"order": order_summary(order), "by": user.pk, "on_behalf": on_behalf},
                order_id=order.pk,
            )
            auto_dispatch_later(order)
    except IntegrityError:
        # A concurrent request with the same key won the insert.
        if idempotency_key:
            existing = _replay(user, idempotency_key, fingerprint)
            if existing is not None:
                return existing, False
        raise
    return order, True


def _replay(user: Account, key: str, fingerprint: str) -> Order | None:
    order = Order.objects.filter(placed_by=user, idempotency_key=key).first()
    if order is not None and order.idempotency_fingerprint != fingerprint:
        raise Conflict(_("This Idempotency-Key was already used for a different order."), code="idempotency_key_reused")
    return order


def order_evaluate(
    *,
    order_id: int,
    user: Account,
    rating: int,
    comment: str = "",
    publicity_consent: bool = False,
    resolved: bool = True,
) -> Order:
    """The citizen rates the service (评单); the order closes. "Not solved" alerts the dispatchers."""
    errors: dict[str, list[str]] = {}
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        errors["rating"] = [_("Give 1 to 5 stars.")]
    if len(comment) > 1000:
        errors["comment"] = [_("At most 1000 characters.")]
    if errors:
        raise InvalidInput(_("The evaluation has errors; nothing was saved."), fields=errors)
    with transaction.atomic():
        order = lock_order(order_id)
        if not placed_by(order, user):
            raise Forbidden(_("Only the citizen who placed the order may rate it."))
        if order.citizen is None or order.citizen.user_id != user.pk:
            # Staff who placed an order on a citizen's behalf may record the rating the citizen gave.
            require_dispatcher_of(user, order)
        order_transition(
            order,
            "evaluate",
            by=user,
            rating=rating,
            comment=comment,
            publicity_consent=publicity_consent,
            resolved=resolved,
            event_payload={"rating": rating, "resolved": resolved},
        )
        if not resolved or rating <= settings.LOW_RATING_MAX:
            followup_open(order, FollowUp.Reason.UNRESOLVED if not resolved else FollowUp.Reason.LOW_RATING)
    return order


def citizen_save_place(*, user: Account, address: str, lat: float | None, lng: float | None) -> Citizen | None:
    """Keep a place as the citizen's saved address for their next orders."""
    citizen = Citizen.objects.filter(user=user).first()
    if citizen is None:
        return None
    citizen.address, citizen.lat, citizen.lng = address[:200], lat, lng
    citizen.save(update_fields=["address", "lat", "lng"])
    return citizen


def next_half_day(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The next morning (8–12) or afternoon (14–18) that has not begun, in local time."""
    local = timezone.localtime(now or timezone.now())
    day = local.replace(minute=0, second=0, microsecond=0)
    for offset in range(3):
        base = day + timedelta(days=offset)
        for start, end in HALF_DAYS.values():
            opens = base.replace(hour=start)
            if opens > local:
                return opens, base.replace(hour=end)
    raise AssertionError("a half-day always opens within three days")


def order_again(*, order_id: int, user: Account, idempotency_key: str | None = None) -> tuple[Order, bool]:
    """Order the same service again at the next half-day, in one tap (after "not solved")."""
    old = Order.objects.select_related("category", "item", "station").filter(pk=order_id).first()
    if old is None or old.citizen is None or old.citizen.user_id != user.pk:
        raise NotFound(_("Order %(id)s does not exist.") % {"id": order_id})
    start, end = next_half_day()
    note = _("Ordered again: order #%(id)s was not solved.") % {"id": old.pk}
    return order_place(
        user=user,
        category=old.category,
        item=old.item,
        description=f"{old.description}\n{note}"[:2000],
        address=old.address,
        window_start=start,
        window_end=end,
        contact_name=old.contact_name,
        contact_phone=old.contact_phone,
        lat=old.lat,
        lng=old.lng,
        station=old.station,
        idempotency_key=idempotency_key or f"again-{old.pk}",
    )
