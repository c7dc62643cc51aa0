"""Admin view of the durable event log: read-only, since clients replay it by `seq`."""

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from common.admin import ReadOnlyAdminMixin

from .models import Event

# The event types of DESIGN §5 and the few added since; a fixed list, because a
# DISTINCT over an ever-growing log on each page load would not stay fast.
EVENT_TYPES = [
    "order.placed",
    "order.dispatched",
    "order.accepted",
    "order.started",
    "order.completed",
    "order.evaluated",
    "order.cancelled",
    "order.rejected",
    "order.recalled",
    "order.escalated",
    "order.abandoned",
    "order.closed",
    "offer.created",
    "offer.accepted",
    "offer.declined",
    "offer.expired",
    "offer.withdrawn",
    "order.waiting",
    "team.member_left",
    "staff.moved",
    "record.requested",
    "record.decided",
    "order.visited",
    "followup.opened",
    "followup.closed",
    "story.published",
    "story.withdrawn",
    "comment.held",
    "comment.decided",
    "vote.cast",
    "message.posted",
    "message.replied",
    "message.assigned",
    "export.progress",
    "export.done",
    "export.failed",
]


class EventTypeFilter(admin.SimpleListFilter):
    title = _("type")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [(t, t) for t in EVENT_TYPES]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value():
            return queryset.filter(type=self.value())
        return queryset


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["seq", "type", "order_link", "group_list", "at"]
    list_filter = [EventTypeFilter, "at"]
    search_fields = ["type", "order_id__exact"]
    date_hierarchy = "at"
    ordering = ["-id"]
    fields = ["seq", "type", "order_link", "groups", "payload", "at"]
    readonly_fields = fields  # type: ignore[assignment]  # the same names, all read-only

    @admin.display(description=_("sequence number"), ordering="id")
    def seq(self, obj: Event) -> int:
        return obj.pk

    @admin.display(description=_("order"), ordering="order_id")
    def order_link(self, obj: Event) -> str:
        if obj.order_id is None:
            return "—"
        url = reverse("admin:dispatch_order_change", args=[obj.order_id])
        return format_html('<a href="{}">#{}</a>', url, obj.order_id)

    @admin.display(description=_("groups"))
    def group_list(self, obj: Event) -> str:
        return ", ".join(obj.groups)
