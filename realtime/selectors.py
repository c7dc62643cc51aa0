"""Reads of the event log that pages and the API share."""

from django.conf import settings
from django.contrib.auth.models import User as Account
from django.utils.translation import gettext as _

from . import groups as g
from .models import Event


def order_events_visible_to(user: Account, *, order_id: int, after: int, limit: int = 500) -> list[Event]:
    """The order's events after `after` that the user's own stream carried to them (a superuser: all).

    The same groups decide as on the live stream, so a team that lost a broadcast reads its own
    offer's events and not the winner's, nor the list of teams the order went to.
    """
    rows = Event.objects.filter(order_id=order_id, pk__gt=after).order_by("pk")
    if user.is_superuser:
        return list(rows[:limit])
    rights = g.stream_rights(user.pk)
    if rights is None:
        return []
    hears = rights.names - {g.board()}
    visible = []
    for event in rows.iterator(chunk_size=limit):
        if hears.intersection(event.groups):
            visible.append(event)
            if len(visible) == limit:
                break
    return visible


def latest_seq() -> int:
    """The log's last sequence number (0 when empty)."""
    return Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def stream_context(user: Account) -> dict[str, object]:
    """What a page gives the shared stream client (static/js/stream.js) to connect and resume.

    The sequence number is read before the page's data, so an event that lands while the
    page renders is heard again rather than missed.
    """
    return {
        "stream_user": user.pk,
        "stream_after": latest_seq(),
        "stream_beat": settings.STREAM_HEARTBEAT_SECONDS,
        "stream_url": "/ws/v1/stream/",
        "stream_texts": {
            "live": _("Live"),
            "stale": _("Connection lost; shown as of %(time)s. Reconnecting…"),
            "connecting": _("Connecting…"),
            "offline": _("Offline; shown as of %(time)s."),
        },
    }
