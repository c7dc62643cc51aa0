"""Admin pieces every app shares."""

from django.http import HttpRequest


class ReadOnlyAdminMixin:
    """A view-only admin: the rows are written by services, never by hand."""

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
