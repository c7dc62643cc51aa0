"""The role groups and what each may do in the admin.

Kept in code and applied after every migrate, so that every database — demo or
production — has the same groups with the same permissions.
"""

from django.contrib.auth.models import Group, Permission
from django.db.models import Q

from .choices import Role

APPS = ("dispatch", "requests_app", "volunteers", "realtime")

# Beyond viewing everything: the records center staff keep up by hand.
STAFF_CHANGES: dict[str, list[str]] = {
    Role.DISPATCHER: [
        "change_order",
        "add_unit",
        "change_unit",
        "add_team",
        "change_team",
        "add_volunteer",
        "change_volunteer",
        "add_membership",
        "change_membership",
        "delete_membership",
        "add_category",
        "change_category",
        "add_serviceitem",
        "change_serviceitem",
        "add_citizen",
        "change_citizen",
        "add_staffprofile",
        "change_staffprofile",
        "add_orderphoto",
    ],
    Role.MEDIA_EDITOR: [],
}


def ensure_role_groups(**kwargs) -> None:
    """Create the role groups and give staff roles their admin permissions (idempotent)."""
    project = Q(content_type__app_label__in=APPS)
    for role in Role.values:
        group, _ = Group.objects.get_or_create(name=role)
        if role not in STAFF_CHANGES:
            continue
        perms = Permission.objects.filter(
            project & (Q(codename__startswith="view_") | Q(codename__in=STAFF_CHANGES[role]))
        )
        group.permissions.add(*perms)
