"""Admin for volunteer service teams (志愿服务队), volunteers and their hours ledger."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from common.admin import ReadOnlyAdminMixin
from dispatch.admin import institute_filter
from dispatch.services import matching_index_refresh

from .models import Membership, RecordLog, RecordPhoto, ServiceRecord, StationHours, Team, Volunteer


class TeamMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["volunteer", "role", "active", "joined_at"]
    autocomplete_fields = ["volunteer"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("volunteer")


class VolunteerMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["team", "role", "active", "joined_at"]
    autocomplete_fields = ["team"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("team")


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "unit", "leader", "categories_served", "capacity", "radius_km", "active"]
    list_filter = ["active", "categories", institute_filter("unit")]
    search_fields = ["name", "unit__name", "unit__code", "leader__username", "leader__first_name"]
    list_select_related = ["unit", "leader"]
    autocomplete_fields = ["unit", "leader"]
    filter_horizontal = ["categories"]
    readonly_fields = ["created_at"]
    inlines = [TeamMembershipInline]
    fieldsets = [
        (None, {"fields": ["name", "unit", "leader", "active", "created_at"]}),
        (_("Service"), {"fields": ["categories", "home_lat", "home_lng", "radius_km", "capacity"]}),
        (_("Availability"), {"fields": ["available_from", "available_to", "available_weekdays"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("categories")

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        # Categories are saved by now too: refile the team, with a fresh copy of what the search reads.
        matching_index_refresh(team_ids=[form.instance.pk])

    @admin.display(description=_("categories served"))
    def categories_served(self, obj: Team) -> str:
        return ", ".join(c.name for c in obj.categories.all())


@admin.register(Volunteer)
class VolunteerAdmin(admin.ModelAdmin):
    list_display = ["number", "real_name", "phone", "team_names", "skills"]
    list_filter = ["memberships__role", "memberships__active", institute_filter("memberships__team__unit")]
    search_fields = ["number", "real_name", "phone", "user__username", "teams__name"]
    list_select_related = ["user"]
    autocomplete_fields = ["user"]
    inlines = [VolunteerMembershipInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).prefetch_related("teams")

    @admin.display(description=_("teams"))
    def team_names(self, obj: Volunteer) -> str:
        return ", ".join(t.name for t in obj.teams.all())


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["volunteer", "team", "role", "active", "joined_at"]
    list_filter = ["role", "active", institute_filter("team__unit")]
    search_fields = ["volunteer__real_name", "volunteer__number", "volunteer__phone", "team__name"]
    list_select_related = ["volunteer", "team"]
    autocomplete_fields = ["volunteer", "team"]


@admin.register(ServiceRecord)
class ServiceRecordAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The hours ledger is written by its services (completion, 补录, corrections, decisions), never by hand."""

    list_display = ["recorded_at", "volunteer", "team", "order", "day", "kind", "state", "hours"]
    list_filter = ["kind", "state", institute_filter("team__unit"), "recorded_at"]
    search_fields = ["volunteer__real_name", "volunteer__number", "volunteer__phone", "team__name", "order__id__exact"]
    date_hierarchy = "recorded_at"
    list_select_related = ["volunteer", "team", "order__category"]
    raw_id_fields = ["volunteer", "team", "order", "unit", "corrects", "requested_by", "decided_by"]


@admin.register(RecordLog)
class RecordLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "record", "action", "from_state", "to_state", "by"]
    list_filter = ["action", "to_state"]
    raw_id_fields = ["record", "by"]


@admin.register(RecordPhoto)
class RecordPhotoAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["uploaded_at", "record"]
    raw_id_fields = ["record"]


@admin.register(StationHours)
class StationHoursAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The big screen's roll-up, kept by the ledger's services."""

    list_display = ["day", "station", "hours"]
    date_hierarchy = "day"
    list_select_related = ["station"]
    raw_id_fields = ["station"]
