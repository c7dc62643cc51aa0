"""The one stream endpoint (DESIGN §6). Kept thin here; the live-push issue grows it."""

from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from . import groups as g
from .events import event_message
from .models import Event


@database_sync_to_async
def groups_for(user) -> list[str]:
    from dispatch.selectors import dispatcher_unit, is_dispatcher, orders_visible_to, team_ids_of

    names = [g.team(t) for t in team_ids_of(user)]
    if is_dispatcher(user):
        unit = dispatcher_unit(user)
        if unit is not None:
            names.append(g.unit(unit.pk))
        names.append(g.board())
    names += [g.order(pk) for pk in orders_visible_to(user).filter(placed_by=user).values_list("pk", flat=True)[:200]]
    return names


@database_sync_to_async
def events_after(seq: int, names: list[str]) -> list[dict]:
    wanted = set(names)
    return [event_message(e) for e in Event.objects.filter(pk__gt=seq).order_by("pk")[:1000] if wanted & set(e.groups)]


class StreamConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.names = await groups_for(user)
        for name in self.names:
            await self.channel_layer.group_add(name, self.channel_name)
        await self.accept()
        after = parse_qs(self.scope.get("query_string", b"").decode()).get("after")
        if after and after[0].isdigit():
            await self._replay(int(after[0]))

    async def disconnect(self, code: int) -> None:
        for name in getattr(self, "names", []):
            await self.channel_layer.group_discard(name, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        if content.get("type") == "resume" and str(content.get("after", "")).isdigit():
            await self._replay(int(content["after"]))

    async def _replay(self, seq: int) -> None:
        for message in await events_after(seq, self.names):
            await self.send_json(message)

    async def stream_event(self, message: dict) -> None:
        await self.send_json(message["event"])
