"""ASGI app for the bare floor: join the group named in the query string, relay what the group is sent.

Served by daphne exactly like config.asgi, minus the origin check, authentication,
the database lookups of a connection's groups and the event log: what is left is
the cost of Channels, the Redis layer and daphne alone. Like the stream's consumer
(realtime.consumers.StreamConsumer.dispatch) it skips Channels' close_old_connections
before each message: a floor that kept that database-thread hop would sit above the stream.
"""

import os
from typing import Any
from urllib.parse import parse_qs

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.bare_channels.settings")
django.setup()

from channels.consumer import get_handler_name  # noqa: E402
from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402


class BareConsumer(AsyncJsonWebsocketConsumer):
    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        groups = parse_qs(self.scope.get("query_string", b"").decode()).get("group", [])
        self.groups_joined = groups[:1]
        for name in self.groups_joined:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for name in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def bare_event(self, message: dict[str, Any]) -> None:
        # Serialized per connection, as the stream consumer's send_json does.
        await self.send_json(message["event"])


application = ProtocolTypeRouter({"websocket": URLRouter([path("ws/bare/", BareConsumer.as_asgi())])})
