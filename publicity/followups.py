"""回访 and follow-up: station staff call citizens back; a low rating or "not solved" waits in the console."""

from django.contrib.auth.models import User as Account
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from common.errors import Conflict, InvalidInput, NotFound
from dispatch.choices import OrderState
from dispatch.models import Order
from dispatch.services.core import lock_row, require_dispatcher_of
from realtime import events
from realtime import groups as g

from .models import FollowUp, ReturnVisit

SERVED = (OrderState.COMPLETED, OrderState.CLOSED)


def _units(order: Order) -> list[str]:
    return g.units_of_path(order.station.path)


def visit_log(*, user: Account, order_id: int, reached: bool, satisfied: bool | None, note: str = "") -> ReturnVisit:
    """回访: station staff record a call back to the citizen of a served order."""
    with transaction.atomic():
        order = Order.objects.select_related("station").filter(pk=order_id).first()
        if order is None:  # an id in the body that names nothing is bad input, not a missing address
            message = _("Order %(id)s does not exist.") % {"id": order_id}
            raise InvalidInput(message, fields={"order": [message]})
        require_dispatcher_of(user, order)
        if order.state not in SERVED:
            raise Conflict(_("Only a served order can be visited back."), code="not_served")
        visit = ReturnVisit.objects.create(
            order=order, by=user, reached=reached, satisfied=satisfied if reached else None, note=note.strip()
        )
        events.publish(_units(order), "order.visited", {"order": order.pk, "reached": reached, "satisfied": satisfied})
    return visit


def followup_open(order: Order, reason: str) -> FollowUp:
    """Called in the evaluating transaction: a low rating or "not solved" waits for someone in the console."""
    follow_up, created = FollowUp.objects.get_or_create(order=order, defaults={"reason": reason})
    if created:
        events.publish(
            _units(order), "followup.opened", {"order": order.pk, "follow_up": follow_up.pk, "reason": reason}
        )
    return follow_up


def followup_close(*, user: Account, followup_id: int, note: str) -> FollowUp:
    note = (note or "").strip()
    if not note:
        raise InvalidInput(_("Say what was done."), fields={"note": [_("This field is required.")]})
    with transaction.atomic():
        follow_up = lock_row(FollowUp, pk=followup_id)
        if follow_up is None:
            raise NotFound(_("Follow-up %(id)s does not exist.") % {"id": followup_id})
        order = Order.objects.select_related("station").get(pk=follow_up.order_id)
        require_dispatcher_of(user, order)
        if follow_up.closed_at is not None:
            raise Conflict(_("This follow-up is already closed."), code="already_closed")
        follow_up.closed_at, follow_up.closed_by, follow_up.note = timezone.now(), user, note
        follow_up.save(update_fields=["closed_at", "closed_by", "note"])
        events.publish(_units(order), "followup.closed", {"order": order.pk, "follow_up": follow_up.pk})
    return follow_up
