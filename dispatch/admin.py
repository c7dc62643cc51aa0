"""Admin for the practice network and the order's journey.

Orders and offers change state only through the services in `dispatch.services`,
so their `state` is never a form field here; the transition log is read-only.
"""

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from common.admin import ReadOnlyAdminMixin

from .choices import Level, OfferState, OrderState
from .models import ActionKey, Notification, Offer, Order, OrderPhoto, StaffProfile, TeamCell, Transition, Unit


class InstituteListFilter(admin.SimpleListFilter):
    """Narrow a list to one institute's subtree: about 20 choices instead of 400 stations."""

    title = _("institute")
    parameter_name = "institute"
    # The lookup path from the listed model to its Unit ("" for Unit itself).
    unit_field = "unit"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, Any]]:
        return list(Unit.objects.filter(level=Level.INSTITUTE).order_by("code").values_list("pk", "name"))

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if not value:
            return queryset
        path = Unit.objects.filter(pk=value).values_list("path", flat=True).first() if value.isdigit() else None
        if path is None:
            return queryset.none()
        lookup = f"{self.unit_field}__path__startswith" if self.unit_field else "path__startswith"
        return queryset.filter(**{lookup: path})


def institute_filter(unit_field: str) -> type[InstituteListFilter]:
    return type(f"InstituteListFilter_{unit_field}", (InstituteListFilter,), {"unit_field": unit_field})


def state_label(value: str) -> str:
    """The translated label of an order or offer state as stored in the transition log."""
    labels = {**dict(OfferState.choices), **dict(OrderState.choices)}
    return str(labels.get(value, value or "—"))


# The actions the services write to the transition log (Transition.action has no choices).
ACTION_LABELS = {
    "place": pgettext_lazy("transition action", "place"),
    "dispatch": pgettext_lazy("transition action", "dispatch"),
    "offer_create": pgettext_lazy("transition action", "offer to team"),
    "accept": pgettext_lazy("transition action", "accept"),
    "decline": pgettext_lazy("transition action", "decline"),
    "expire": pgettext_lazy("transition action", "expire"),
    "withdraw": pgettext_lazy("transition action", "withdraw"),
    "requeue": pgettext_lazy("transition action", "requeue"),
    "recall": pgettext_lazy("transition action", "recall"),
    "reject": pgettext_lazy("transition action", "reject"),
    "cancel": pgettext_lazy("transition action", "cancel"),
    "abandon": pgettext_lazy("transition action", "abandon"),
    "start": pgettext_lazy("transition action", "start"),
    "complete": pgettext_lazy("transition action", "complete"),
    "evaluate": pgettext_lazy("transition action", "evaluate"),
    "auto_close": pgettext_lazy("transition action", "auto-close"),
}


def action_label(value: str) -> str:
    return str(ACTION_LABELS.get(value, value))


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "level", "parent", "path", "jurisdiction_km", "auto_dispatch"]
    list_filter = ["level", institute_filter("")]
    search_fields = ["name", "code", "address"]
    list_select_related = ["parent"]
    autocomplete_fields = ["parent"]
    readonly_fields = ["path"]
    fields = [
        "name",
        "code",
        "level",
        "parent",
        "path",
        "lat",
        "lng",
        "jurisdiction_km",
        "address",
        "auto_dispatch",
        "auto_dispatch_teams",
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Unit | None = None) -> list[str]:
        # The materialized path of a whole subtree hangs on the parent; Unit.save() only
        # rewrites the unit's own path, so moving a unit with children would leave theirs stale.
        if obj is not None and obj.children.exists():
            return [*self.readonly_fields, "parent"]
        return list(self.readonly_fields)


@admin.register(TeamCell)
class TeamCellAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The matching index, to look at when a team is unexpectedly missing from the candidates."""

    list_display = ["team", "category", "cell", "lat", "lng"]
    list_filter = ["category"]
    search_fields = ["team__name"]
    list_select_related = ["team", "category"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What was sent to whom, and what is still waiting to go out."""

    list_display = ["kind", "user", "phone", "order", "created_at", "sent_at", "attempts"]
    list_filter = ["kind", ("sent_at", admin.EmptyFieldListFilter)]
    search_fields = ["user__username", "phone", "text"]
    list_select_related = ["user", "order"]
    raw_id_fields = ["order"]


@admin.register(StaffProfile)
class StaffProfileAdmin(admin.ModelAdmin):
    list_display = ["user", "user_name", "unit", "phone"]
    list_filter = ["unit__level", institute_filter("unit")]
    search_fields = ["user__username", "user__first_name", "user__last_name", "phone", "unit__name", "unit__code"]
    list_select_related = ["user", "unit"]
    autocomplete_fields = ["user", "unit"]

    @admin.display(description=_("real name"), ordering="user__first_name")
    def user_name(self, obj: StaffProfile) -> str:
        return obj.user.get_full_name()


class OfferInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Offer
    extra = 0
    fields = [
        "team",
        "state",
        "mode",
        "rank",
        "distance_km",
        "created_at",
        "expires_at",
        "responded_at",
        "responded_by",
    ]
    readonly_fields = fields  # type: ignore[assignment]  # the same names, all read-only
    show_change_link = True
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("team", "responded_by")


class TransitionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Transition
    extra = 0
    fields = ["at", "action_text", "from_label", "to_label", "offer", "by", "note", "internal"]
    readonly_fields = fields  # type: ignore[assignment]  # the same names, all read-only
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("offer__team", "by")

    @admin.display(description=_("action"))
    def action_text(self, obj: Transition) -> str:
        return action_label(obj.action)

    @admin.display(description=_("from"))
    def from_label(self, obj: Transition) -> str:
        return state_label(obj.from_state)

    @admin.display(description=_("to"))
    def to_label(self, obj: Transition) -> str:
        return state_label(obj.to_state)


class OrderPhotoInline(admin.TabularInline):
    model = OrderPhoto
    extra = 0
    fields = ["image", "uploaded_at"]
    readonly_fields = ["uploaded_at"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "state",
        "level",
        "priority",
        "category",
        "station",
        "contact_name",
        "contact_phone",
        "team",
        "window_start",
        "created_at",
    ]
    list_display_links = ["id", "state"]
    list_filter = ["state", "level", "priority", "category", "mode", institute_filter("station")]
    search_fields = ["id__exact", "description", "address", "contact_name", "contact_phone", "citizen__phone"]
    date_hierarchy = "created_at"
    list_select_related = ["category", "station", "team"]
    autocomplete_fields = ["category", "item", "station", "team", "citizen", "placed_by"]
    inlines = [OfferInline, TransitionInline, OrderPhotoInline]
    # Intake details staff may correct for the citizen; everything else is the journey's record.
    editable_fields = ["priority", "description", "address", "contact_name", "contact_phone"]
    fieldsets = [
        (_("Order"), {"fields": ["state", "level", "priority", "category", "item", "description"]}),
        (_("Place and time"), {"fields": ["station", "address", "lat", "lng", "window_start", "window_end"]}),
        (_("Contact"), {"fields": ["contact_name", "contact_phone", "citizen", "placed_by"]}),
        (_("Dispatching"), {"fields": ["mode", "team", "cascade_queue", "checkin_code", "reject_reason"]}),
        (_("Service and rating"), {"fields": ["summary", "rating", "comment", "publicity_consent"]}),
        (
            _("Timeline"),
            {
                "fields": [
                    "created_at",
                    "dispatched_at",
                    "accepted_at",
                    "started_at",
                    "completed_at",
                    "closed_at",
                    "updated_at",
                    "idempotency_key",
                ],
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Order | None = None) -> list[str]:
        shown = [name for _title, options in self.fieldsets for name in options["fields"]]
        # `state` is a protected FSMField: assigning it by form would raise, and must not happen anyway.
        return [str(name) for name in shown if name not in self.editable_fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Orders are placed through order_place (validation, idempotency, audit row, event).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Order | None = None) -> bool:
        # An order is the audit trail of a service; it is rejected or cancelled, never erased.
        return False


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "order", "team", "state", "mode", "rank", "distance_km", "expires_at", "responded_at"]
    list_filter = ["state", "mode", "created_at"]
    search_fields = ["order__id__exact", "team__name", "order__description", "order__address"]
    date_hierarchy = "created_at"
    list_select_related = ["order__category", "team"]
    raw_id_fields = ["order", "team", "responded_by"]


class TransitionStateFilter(admin.SimpleListFilter):
    title = _("to")
    parameter_name = "to_state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[Any, Any]]:
        labels = {**dict(OfferState.choices), **dict(OrderState.choices)}
        return list(labels.items())

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(to_state=self.value())
        return queryset


@admin.register(Transition)
class TransitionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "order", "offer", "action_text", "from_label", "to_label", "by", "internal"]
    list_filter = [TransitionStateFilter, "internal", "at"]
    ordering = ["-at", "-id"]
    search_fields = ["order__id__exact", "action", "note", "by__username"]
    date_hierarchy = "at"
    list_select_related = ["order__category", "offer__team", "by"]
    raw_id_fields = ["order", "offer", "by"]

    @admin.display(description=_("action"), ordering="action")
    def action_text(self, obj: Transition) -> str:
        return action_label(obj.action)

    @admin.display(description=_("from"), ordering="from_state")
    def from_label(self, obj: Transition) -> str:
        return state_label(obj.from_state)

    @admin.display(description=_("to"), ordering="to_state")
    def to_label(self, obj: Transition) -> str:
        return state_label(obj.to_state)


@admin.register(OrderPhoto)
class OrderPhotoAdmin(admin.ModelAdmin):
    list_display = ["id", "order", "image", "uploaded_at"]
    list_filter = ["uploaded_at"]
    search_fields = ["order__id__exact", "image"]
    date_hierarchy = "uploaded_at"
    list_select_related = ["order__category"]
    raw_id_fields = ["order"]
    readonly_fields = ["uploaded_at"]


@admin.register(ActionKey)
class ActionKeyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The check-ins and completions a phone sent with an Idempotency-Key (a resend replays)."""

    list_display = ["action", "order", "user", "key", "created_at"]
    list_filter = ["action"]
    search_fields = ["key", "user__username"]
    list_select_related = ["user", "order"]
    raw_id_fields = ["order", "user"]
