"""The hours ledger's writes (志愿服务记录): hours added by hand (补录), corrections, and a dispatcher's decision.

Nothing is edited in place: a manual entry or a correction is a new row that counts only once a
dispatcher of its unit approves it; a volunteer's total is the sum of counted rows.
"""

from datetime import date
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import Conflict, Forbidden, InvalidInput, NotFound
from dispatch.choices import OrderState
from dispatch.models import Order
from dispatch.selectors import acts_on
from dispatch.services.core import lock_row, require_dispatcher
from realtime import events
from realtime import groups as g

from .models import Membership, RecordKind, RecordLog, RecordPhoto, RecordState, ServiceRecord, Team, Volunteer
from .services import HALF_HOUR, _photo, hours_counted

SERVED = (OrderState.COMPLETED, OrderState.CLOSED)


def _hours(value: Any, *, signed: bool = False) -> Decimal:
    try:
        hours = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        hours = Decimal("NaN")
    if not hours.is_finite() or hours % HALF_HOUR or (hours == 0 if signed else hours <= 0):
        message = _("Hours go in 0.5 h steps and are not zero.") if signed else _("Hours go in 0.5 h steps from 0.5.")
        raise InvalidInput(message, fields={"hours": [message]})
    return hours


def window_hours(order: Order) -> Decimal:
    """The order's time window in hours, down to the half hour: what one volunteer may be credited on it."""
    span = Decimal((order.window_end - order.window_start).total_seconds()) / 3600
    return (span / HALF_HOUR).to_integral_value(ROUND_FLOOR) * HALF_HOUR


def _standing(volunteer_id: int, order: Order, *, states: tuple[str, ...]) -> Decimal:
    """The volunteer's hours on the order in the given states, corrections included."""
    rows = ServiceRecord.objects.filter(volunteer_id=volunteer_id, order=order, state__in=states)
    return rows.aggregate(h=Sum("hours"))["h"] or Decimal(0)


def _log(record: ServiceRecord, action: str, by: Account, before: str, note: str = "") -> None:
    RecordLog.objects.create(record=record, action=action, from_state=before, to_state=record.state, by=by, note=note)


def _announce_pending(record: ServiceRecord) -> None:
    """Dispatchers of the record's unit (and above) hear of it; so does the volunteer."""
    payload = {"record": record.pk, "kind": record.kind, "volunteer": record.volunteer_id, "hours": record.hours}
    groups = [*g.units_of_path(record.unit.path), g.team(record.team_id), g.user(record.volunteer.user_id)]
    events.publish(groups, "record.requested", payload)


def record_manual_add(
    *,
    user: Account,
    volunteer_id: int,
    hours: Any,
    reason: str,
    order_id: int | None = None,
    day: date | None = None,
    content: str = "",
    place: str = "",
    team_id: int | None = None,
    photos: list[UploadedFile] | None = None,
) -> ServiceRecord:
    """补录: a team leader adds hours a volunteer served, with a reason and evidence; pending until approved.

    On an order the team served, the volunteer's hours on it stay within the order's window;
    for an activity without an order, the date and content are needed, and a photo as evidence.
    """
    amount = _hours(hours)
    reason = (reason or "").strip()
    errors: dict[str, list[str]] = {}
    if not reason:
        errors["reason"] = [_("Say why the hours are added.")]
    photos = photos or []
    if len(photos) > settings.PHOTO_MAX_COUNT:
        errors["photos"] = [_("At most %(n)d.") % {"n": settings.PHOTO_MAX_COUNT}]
    # Ids in the body that name nothing are bad input (400), not a missing address (404).
    volunteer = Volunteer.objects.filter(pk=volunteer_id).first()
    if volunteer is None:
        message = _("Volunteer %(id)s does not exist.") % {"id": volunteer_id}
        raise InvalidInput(message, fields={"volunteer": [message]})
    order = None
    if order_id is not None:
        order = Order.objects.select_related("station", "category").filter(pk=order_id).first()
        if order is None:
            message = _("Order %(id)s does not exist.") % {"id": order_id}
            raise InvalidInput(message, fields={"order": [message]})
        if order.state not in SERVED or order.team_id is None:
            errors["order"] = [_("Hours are added only to an order that was served.")]
        team_id = order.team_id
        day = timezone.localdate(order.completed_at) if order.completed_at else None
        content = content.strip() or _order_content(order)
        place = place.strip() or order.address
    else:
        content, place = content.strip(), place.strip()
        if day is None:
            errors["date"] = [_("Give the date of the service.")]
        elif day > timezone.localdate():
            errors["date"] = [_("The date is in the future.")]
        if not content:
            errors["content"] = [_("Say what the service was.")]
        if not photos:
            errors["photos"] = [_("Without an order, add at least one photo as evidence.")]
        if amount > Decimal(str(settings.MAX_HOURS_PER_ORDER)):
            errors["hours"] = [_("At most %(max)s hours at once.") % {"max": settings.MAX_HOURS_PER_ORDER}]
    team = _led_team(user, volunteer, team_id)
    if errors:
        raise InvalidInput(_("The entry has errors; nothing was saved."), fields=errors)
    cleaned = [_photo(photo) for photo in photos]
    with transaction.atomic():
        lock_row(Volunteer, pk=volunteer.pk)  # one writer per volunteer: the cap below holds
        if order is not None:
            cap = window_hours(order)
            standing = _standing(volunteer.pk, order, states=(RecordState.COUNTED, RecordState.PENDING))
            if standing + amount > cap:
                raise InvalidInput(
                    _("This would make %(total)s hours on the order; its window allows %(cap)s.")
                    % {"total": standing + amount, "cap": cap},
                    code="over_window",
                    fields={"hours": [_("At most %(n)s more.") % {"n": max(cap - standing, Decimal(0))}]},
                )
        record = ServiceRecord.objects.create(
            volunteer=volunteer,
            team=team,
            order=order,
            unit_id=order.station_id if order else team.unit_id,
            day=day,
            place=place[:200],
            content=content[:200],
            hours=amount,
            kind=RecordKind.MANUAL,
            state=RecordState.PENDING,
            reason=reason,
            requested_by=user,
        )
        for photo in cleaned:
            RecordPhoto.objects.create(record=record, image=photo)
        _log(record, "add", user, "")
        _announce_pending(record)
    return record


def _order_content(order: Order) -> str:
    return f"{order.category.name}: {order.summary or order.description}"[:200]


def _led_team(user: Account, volunteer: Volunteer, team_id: int | None) -> Team:
    """The team the user leads and the volunteer serves in (the given one, or the only such)."""
    led = Team.objects.filter(leader=user)
    if team_id is not None:
        led = led.filter(pk=team_id)
    mine = set(Membership.objects.filter(volunteer=volunteer).values_list("team_id", flat=True))
    teams = [t for t in led if t.pk in mine]
    if not teams:
        raise Forbidden(_("Only the leader of the volunteer's team may add hours."))
    if len(teams) > 1:
        raise InvalidInput(
            _("You lead several of the volunteer's teams: say which."), fields={"team": [_("Required.")]}
        )
    return teams[0]


def record_correction_ask(*, user: Account, record_id: int, hours: Any, reason: str) -> ServiceRecord:
    """A signed adjustment to a counted entry, asked by its volunteer or their team's leader; pending until decided."""
    delta = _hours(hours, signed=True)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(_("Say why the hours are wrong."), fields={"reason": [_("This field is required.")]})
    with transaction.atomic():
        original = (
            ServiceRecord.objects.select_related("volunteer", "team", "order", "unit").filter(pk=record_id).first()
        )
        if original is None:
            raise NotFound(_("Record %(id)s does not exist.") % {"id": record_id})
        lock_row(Volunteer, pk=original.volunteer_id)
        if user.pk not in (original.volunteer.user_id, original.team.leader_id):
            raise Forbidden(_("Only the volunteer or their team's leader may ask for a correction."))
        if original.kind == RecordKind.CORRECTION or original.state != RecordState.COUNTED:
            raise Conflict(_("Only a counted entry (not a correction) can be corrected."), code="not_correctable")
        entry = original.hours + (
            original.corrections.filter(state=RecordState.COUNTED).aggregate(h=Sum("hours"))["h"] or 0
        )
        waiting = original.corrections.filter(state=RecordState.PENDING).aggregate(h=Sum("hours"))["h"] or 0
        after = entry + waiting + delta
        cap = window_hours(original.order) if original.order else Decimal(str(settings.MAX_HOURS_PER_ORDER))
        if after < 0 or after > cap:
            raise InvalidInput(
                _("The entry would stand at %(after)s hours; it may be from 0 to %(cap)s.")
                % {"after": after, "cap": cap},
                code="correction_out_of_range",
                fields={
                    "hours": [_("From %(lo)s to %(hi)s.") % {"lo": -(entry + waiting), "hi": cap - entry - waiting}]
                },
            )
        record = ServiceRecord.objects.create(
            volunteer_id=original.volunteer_id,
            team_id=original.team_id,
            order=original.order,
            unit_id=original.unit_id,
            day=original.day,
            place=original.place,
            content=original.content,
            hours=delta,
            kind=RecordKind.CORRECTION,
            state=RecordState.PENDING,
            corrects=original,
            reason=reason,
            requested_by=user,
        )
        _log(record, "ask", user, "")
        _announce_pending(record)
    return record


def record_decide(*, user: Account, record_id: int, approve: bool, note: str = "") -> ServiceRecord:
    """A dispatcher of the entry's unit approves it (it counts from now) or declines it (with a note)."""
    require_dispatcher(user)
    note = (note or "").strip()
    with transaction.atomic():
        record = lock_row(ServiceRecord, pk=record_id)
        if record is None:
            raise NotFound(_("Record %(id)s does not exist.") % {"id": record_id})
        if not acts_on(user, record.unit):
            raise Forbidden(_("This entry is outside your unit."), code="outside_your_unit")
        if record.state != RecordState.PENDING:
            raise Conflict(_("This entry was already decided."), code="already_decided")
        if not approve and not note:
            raise InvalidInput(_("Say why the entry is declined."), fields={"note": [_("This field is required.")]})
        before = record.state
        record.decided_by, record.decided_at, record.note = user, timezone.now(), note
        if approve:
            record.approve()
        else:
            record.decline()
        record.save()
        if approve:
            hours_counted(record.unit_id, record.day, record.hours)
        _log(record, "approve" if approve else "decline", user, before, note)
        payload = {"record": record.pk, "state": record.state, "hours": record.hours, "note": note}
        groups = [*g.units_of_path(record.unit.path), g.team(record.team_id), g.user(record.volunteer.user_id)]
        events.publish(groups, "record.decided", payload)
    return record
