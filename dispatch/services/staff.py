"""Staff moves between units; their stream connections follow at once."""

from django.contrib.auth.models import User as Account
from django.db import transaction
from django.utils.translation import gettext as _

from common.errors import Forbidden, NotFound
from realtime import events
from realtime import groups as g

from ..models import StaffProfile, Unit
from ..selectors import (
    dispatcher_unit,
)
from .core import lock_row, require_dispatcher


def staff_move(*, user_id: int, unit_id: int, by: Account) -> StaffProfile:
    """Move a staff member to another unit; their open stream connections follow at once."""
    require_dispatcher(by)
    with transaction.atomic():
        profile = lock_row(StaffProfile, "unit", user_id=user_id)
        unit = Unit.objects.filter(pk=unit_id).first()
        if profile is None or unit is None:
            raise NotFound(_("No such staff member or unit."))
        scope = dispatcher_unit(by)
        if not by.is_superuser and (
            scope is None or not (profile.unit.path.startswith(scope.path) and unit.path.startswith(scope.path))
        ):
            raise Forbidden(_("Staff may be moved only within your own unit's subtree."))
        before = profile.unit_id
        if before == unit.pk:
            return profile
        profile.unit = unit
        profile.save(update_fields=["unit"])
        events.publish(
            [g.user(user_id), g.unit(before), g.unit(unit.pk)],
            "staff.moved",
            {"user": user_id, "from": before, "to": unit.pk, "by": by.pk},
        )
    return profile
