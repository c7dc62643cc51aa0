"""Team-side writes: check-in (start) and completion with the hours ledger."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from geopy.distance import geodesic

from common.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge
from common.uploads import PhotoRejected, photo_clean
from dispatch.models import Order, OrderPhoto
from dispatch.selectors import is_dispatcher, team_ids_of
from dispatch.services.core import ensure_can, lock_order, lock_row, order_transition, remember_key, replayed
from realtime import events
from realtime import groups as g

from .models import Membership, ServiceRecord, StationHours, Team

HALF_HOUR = Decimal("0.5")


def _require_accepting_team(user: Account, order: Order) -> int:
    """The accepting team's id, if the user serves in it."""
    if order.team_id is None or order.team_id not in team_ids_of(user):
        raise Forbidden(_("Only the accepting team may do this."))
    return order.team_id


def checkin_code_from(qr: str) -> str:
    """The 6-digit code from a typed code or a scanned QR payload ("civic-dispatch:order:<id>:<code>")."""
    return qr.strip().rsplit(":", 1)[-1]


def order_qr_payload(order: Order) -> str:
    return f"civic-dispatch:order:{order.pk}:{order.checkin_code}"


def order_start(
    *,
    order_id: int,
    user: Account,
    lat: float | None = None,
    lng: float | None = None,
    qr: str | None = None,
    idempotency_key: str | None = None,
) -> Order:
    """Check in on site: by GPS within CHECKIN_RADIUS_M of the order, or by its code or QR."""
    with transaction.atomic():
        order = lock_order(order_id)
        if replayed(order, "start", user=user, key=idempotency_key):
            return order
        ensure_can(order, "start")
        _require_accepting_team(user, order)
        if qr:
            payload = qr.strip()
            if payload.startswith("civic-dispatch:order:") and payload.split(":")[2:3] != [str(order.pk)]:
                raise InvalidInput(_("This QR code belongs to another order."), fields={"qr": [_("Wrong order.")]})
            if checkin_code_from(payload) != order.checkin_code:
                raise InvalidInput(_("The check-in code does not match."), fields={"qr": [_("Wrong code.")]})
            how, checkin = gettext_noop("Checked in with the order's code."), {"by": "code"}
        elif lat is not None and lng is not None:
            metres = geodesic((lat, lng), (order.lat, order.lng)).m
            if metres > settings.CHECKIN_RADIUS_M:
                raise InvalidInput(
                    _("You are %(m)d m from the service address; check in within %(max)d m or scan the code.")
                    % {"m": metres, "max": settings.CHECKIN_RADIUS_M},
                    code="checkin_too_far",
                    fields={
                        "lat": [_("Too far from the service address.")],
                        "lng": [_("Too far from the service address.")],
                    },
                )
            how, checkin = gettext_noop("Checked in by GPS."), {"by": "gps", "distance_m": round(metres)}
        else:
            raise InvalidInput(
                _("Check in with your position (lat, lng) or the order's code (qr)."),
                fields={"qr": [_("Give lat and lng, or qr.")]},
            )
        order_transition(order, "start", by=user, note=how, event_payload={"checkin": checkin})
        remember_key(order, "start", user=user, key=idempotency_key)
    return order


def _clean_hours(team_id: int, hours: list[dict[str, Any]]) -> list[tuple[int, Decimal]]:
    if not isinstance(hours, list) or not hours:
        raise InvalidInput(_("Report the hours of at least one volunteer."), fields={"hours": [_("Required.")]})
    members = set(Membership.objects.filter(team_id=team_id, active=True).values_list("volunteer_id", flat=True))
    seen: set[int] = set()
    rows: list[tuple[int, Decimal]] = []
    problems: list[str] = []
    for i, line in enumerate(hours):
        try:
            volunteer = int(line["volunteer"])
            amount = Decimal(str(line["hours"]))
        except (KeyError, TypeError, ValueError, InvalidOperation):
            problems.append(_("Line %(n)d: give volunteer (id) and hours.") % {"n": i + 1})
            continue
        if volunteer not in members:
            problems.append(_("Line %(n)d: volunteer %(v)s is not in the team.") % {"n": i + 1, "v": volunteer})
        elif volunteer in seen:
            problems.append(_("Line %(n)d: volunteer %(v)s is listed twice.") % {"n": i + 1, "v": volunteer})
        if (
            not amount.is_finite()
            or amount <= 0
            or amount > Decimal(str(settings.MAX_HOURS_PER_ORDER))
            or amount % HALF_HOUR
        ):
            problems.append(
                _("Line %(n)d: hours go in 0.5 h steps, from 0.5 to %(max)s.")
                % {"n": i + 1, "max": settings.MAX_HOURS_PER_ORDER}
            )
        seen.add(volunteer)
        rows.append((volunteer, amount))
    if problems:
        raise InvalidInput(_("The hours have errors; nothing was saved."), fields={"hours": problems})
    return rows


def _photo(upload: UploadedFile) -> ContentFile:
    try:
        return photo_clean(upload)
    except PhotoRejected as exc:
        error = PayloadTooLarge if exc.code == "too_large" else InvalidInput
        raise error(exc.messages[0], fields={"photos": exc.messages}) from None


def order_complete(
    *,
    order_id: int,
    user: Account,
    summary: str,
    hours: list[dict[str, Any]],
    photos: list[UploadedFile] | None = None,
    idempotency_key: str | None = None,
) -> Order:
    """Finish the service: summary, photos, and each volunteer's hours into their ledger."""
    photos = photos or []
    if len(photos) > settings.PHOTO_MAX_COUNT:
        raise InvalidInput(
            _("Too many photos."), fields={"photos": [_("At most %(n)d.") % {"n": settings.PHOTO_MAX_COUNT}]}
        )
    cleaned = [_photo(photo) for photo in photos]
    summary = (summary or "").strip()
    if not summary:
        raise InvalidInput(_("Describe the service."), fields={"summary": [_("This field is required.")]})
    if len(summary) > 2000:
        raise InvalidInput(_("The summary is too long."), fields={"summary": [_("At most 2000 characters.")]})
    with transaction.atomic():
        order = lock_order(order_id)
        if replayed(order, "complete", user=user, key=idempotency_key):
            return order
        ensure_can(order, "complete")
        team_id = _require_accepting_team(user, order)
        rows = _clean_hours(team_id, hours)
        order_transition(
            order, "complete", by=user, summary=summary, event_payload={"hours": float(sum(h for _, h in rows))}
        )
        day = timezone.localdate()
        content = f"{order.category.name}: {summary}"[:200]
        ServiceRecord.objects.bulk_create(
            ServiceRecord(
                volunteer_id=v,
                team_id=team_id,
                order=order,
                unit_id=order.station_id,
                day=day,
                place=order.address[:200],
                content=content,
                hours=h,
            )
            for v, h in rows
        )
        hours_counted(order.station_id, day, sum((h for _, h in rows), Decimal(0)))
        for photo in cleaned:
            OrderPhoto.objects.create(order=order, image=photo)
        remember_key(order, "complete", user=user, key=idempotency_key)
    return order


def hours_counted(station_id: int, day: date, hours: Decimal) -> None:
    """Add hours that now count to the station's day (negative for hours taken back); call it in the
    transaction that makes them count."""
    row, _created = StationHours.objects.get_or_create(station_id=station_id, day=day)
    StationHours.objects.filter(pk=row.pk).update(hours=F("hours") + hours)


def membership_end(*, membership_id: int, user: Account, note: str = "") -> Membership:
    """A volunteer leaves a team (by themself, their leader or a dispatcher); calling it twice changes nothing.

    Their open stream connections stop hearing the team as soon as the event reaches them.
    """
    with transaction.atomic():
        membership = lock_row(Membership, "volunteer", pk=membership_id)
        if membership is None:
            raise NotFound(_("Membership %(id)s does not exist.") % {"id": membership_id})
        team = Team.objects.select_for_update(no_key=True).get(pk=membership.team_id)
        member = membership.volunteer.user_id
        if user.pk not in (member, team.leader_id) and not is_dispatcher(user):
            raise Forbidden(_("Only the volunteer, the team leader or a dispatcher may end a membership."))
        if not membership.active and team.leader_id != member:
            return membership
        membership.active = False
        membership.save(update_fields=["active"])
        if team.leader_id == member:
            # A leader who leaves no longer leads: the team needs a new one.
            team.leader = None
            team.save(update_fields=["leader"])
        events.publish(
            [g.team(team.pk), g.user(member)],
            "team.member_left",
            {"team": team.pk, "volunteer": membership.volunteer_id, "user": member, "by": user.pk, "note": note},
        )
    return membership
