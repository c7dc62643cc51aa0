from django.contrib import admin

from common.admin import ReadOnlyAdminMixin

from .models import Comment, FollowUp, Like, Message, ReturnVisit, Story, StoryLog, Vote


@admin.register(Story)
class StoryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Stories move through the editor's desk (draft, publish, withdraw), each step logged."""

    list_display = ["title", "team", "state", "published_at", "likes"]
    list_filter = ["state"]
    search_fields = ["title", "team__name"]
    raw_id_fields = ["order", "team", "created_by", "photos"]


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "state", "text", "order"]
    list_filter = ["state"]
    search_fields = ["text", "phone"]
    raw_id_fields = ["by", "replied_by", "order"]


@admin.register(FollowUp)
class FollowUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["order", "reason", "opened_at", "closed_at"]
    list_filter = ["reason"]
    raw_id_fields = ["order", "closed_by"]


@admin.register(ReturnVisit)
class ReturnVisitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["order", "at", "reached", "satisfied"]
    raw_id_fields = ["order", "by"]


@admin.register(Comment)
class CommentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "story", "state", "text"]
    list_filter = ["state"]
    raw_id_fields = ["story", "user", "decided_by"]


@admin.register(StoryLog)
class StoryLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "story", "action", "by"]
    raw_id_fields = ["story", "by"]


@admin.register(Like)
class LikeAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "story", "user"]
    raw_id_fields = ["story", "user"]


@admin.register(Vote)
class VoteAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["month", "team", "at"]
    raw_id_fields = ["user", "team"]
