"""The event bus: log each event durably with the change, send it after commit."""

import json
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from . import groups as g
from .models import Event

logger = logging.getLogger(__name__)


def publish(groups: list[str], type: str, payload: dict[str, Any], *, order_id: int | None = None) -> Event:
    """Append an event to the log inside the caller's transaction and send it once that commits.

    The payload is serialized here, so a payload that cannot be JSON fails where it was made.
    """
    at = timezone.now()
    body = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    names = g.dedupe(groups)
    event = Event.objects.create(type=type, groups=names, order_id=order_id, payload=body, at=at)
    message = {"seq": event.pk, "type": type, "at": at.isoformat(), **body}
    transaction.on_commit(lambda: _send(names, message))
    return event


def event_message(event: Event) -> dict[str, Any]:
    return {"seq": event.pk, "type": event.type, "at": event.at.isoformat(), **event.payload}


def _send(names: list[str], message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        for name in names:
            async_to_sync(layer.group_send)(name, {"type": "stream.event", "event": message})
    except Exception:
        # The log already holds the event: a client that missed it catches up on reconnect.
        logger.warning("could not push event %s to the channel layer", message["seq"], exc_info=True)
