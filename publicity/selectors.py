"""Reads of 媒体宣传: the public wall, the vote, the message board, and the console's follow-ups.

Nothing here returns a citizen's name, phone or address: public answers are built field by field.
"""

from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth.models import User as Account
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from dispatch.selectors import dispatch_scope

from .models import Comment, FollowUp, Message, MessageState, Story, Vote


def _month_start(day: date) -> datetime:
    return datetime.combine(day.replace(day=1), time.min, timezone.get_current_timezone())


def stories_public(order: str = "new") -> QuerySet[Story]:
    """Published stories: newest first, or most liked this month."""
    stories = Story.objects.filter(state="published").select_related("team").prefetch_related("photos")
    if order == "liked":
        since = _month_start(timezone.localdate())
        month = Count("like_rows", filter=Q(like_rows__at__gte=since))
        return stories.annotate(month_likes=month).order_by("-month_likes", "-published_at", "-id")
    return stories.order_by("-published_at", "-id")


def story_public(story: Story) -> dict[str, Any]:
    return {
        "id": story.pk,
        "title": story.title,
        "body": story.body,
        "team": {"id": story.team_id, "name": story.team.name},
        "published_at": story.published_at,
        "likes": story.likes,
        "photos": [f"/api/v1/stories/{story.pk}/photos/{p.pk}/" for p in story.photos.all()],
        "comments": story.comments.filter(state="approved").count(),
    }


def comments_public(story: Story) -> list[dict[str, Any]]:
    rows = Comment.objects.filter(story=story, state="approved").select_related("user").order_by("at", "id")
    return [{"id": c.pk, "text": c.text, "at": c.at, "by": _nick(c.user)} for c in rows]


def _nick(user: Account) -> str:
    """A commenter shown as 用户 and the last four digits of their account, never a name or phone."""
    return f"用户{str(user.pk)[-4:]:0>4}"


def vote_board(day: date, *, editor: bool) -> dict[str, Any]:
    """The month's candidate teams (those with a story published this month, or any published story), the
    counts once the month is over (live for the editor), and last month's result."""
    month = day.replace(day=1)
    last = (month - timedelta(days=1)).replace(day=1)
    since = _month_start(day)
    featured = Story.objects.filter(state="published")
    this_month = featured.filter(published_at__gte=since)
    teams = {s.team_id: s.team.name for s in (this_month if this_month.exists() else featured).select_related("team")}
    return {
        "month": f"{month:%Y-%m}",
        "closed": False,
        "teams": [{"id": t, "name": n} for t, n in sorted(teams.items())],
        "counts": _counts(month) if editor else None,
        "previous": {"month": f"{last:%Y-%m}", "closed": True, "counts": _counts(last)},
    }


def _counts(month: date) -> list[dict[str, Any]]:
    rows = Vote.objects.filter(month=month).values("team_id", "team__name").annotate(n=Count("id")).order_by("-n")
    return [{"team": r["team_id"], "name": r["team__name"], "votes": r["n"]} for r in rows]


def messages_public() -> QuerySet[Message]:
    return Message.objects.exclude(state=MessageState.HIDDEN).select_related("order").order_by("-at", "-id")


def message_public(message: Message) -> dict[str, Any]:
    """The public face of a message: never the phone, the writer or the photo's place."""
    return {
        "id": message.pk,
        "text": message.text,
        "at": message.at,
        "state": message.state,
        "reply": message.reply,
        "replied_at": message.replied_at,
        "order": message.order_id,
        "order_state": message.order.state if message.order is not None else None,
        "photo": f"/api/v1/messages/{message.pk}/photo/" if message.photo else None,
    }


def followups_open(user: Account) -> QuerySet[FollowUp]:
    """Open follow-ups of the user's unit's subtree, oldest first."""
    scope = dispatch_scope(user)
    if scope is None:
        return FollowUp.objects.none()
    return (
        FollowUp.objects.filter(closed_at__isnull=True, order__station__path__startswith=scope)
        .select_related("order", "order__category", "order__station", "order__team")
        .order_by("opened_at", "id")
    )
