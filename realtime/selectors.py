"""Reads of the event log that pages and the API share."""

from django.contrib.auth.models import User as Account

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
