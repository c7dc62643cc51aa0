from django.contrib import admin

from common.admin import ReadOnlyAdminMixin

from .models import SignInCode


@admin.register(SignInCode)
class SignInCodeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Who asked for a sign-in code, from where, and whether it was used (the code itself is not kept)."""

    list_display = ["phone", "address", "created_at", "expires_at", "tries", "used_at"]
    search_fields = ["phone", "address"]
    date_hierarchy = "created_at"
