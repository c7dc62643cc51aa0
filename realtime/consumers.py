"""The one stream endpoint (DESIGN §6): `ws/v1/stream/?token=…&after=SEQ`.

A connection first receives every logged event after `after` that its user may see,
then the live flow, each event once and in seq order; a heartbeat every
STREAM_HEARTBEAT_SECONDS says how far the log has been delivered. `realtime.log`
explains why the order holds.
"""

import asyncio
import logging
import random
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.utils import timezone

from . import groups as g
from .log import Row, row_of, tail

logger = logging.getLogger(__name__)

# Events after which the subject's connection re-reads its rights (and so its groups).
RIGHTS_CHANGED = frozenset({"team.member_left", "staff.moved"})

# 4401/4403 follow HTTP 401/403, as the WebSocket close codes 4000-4999 are the application's.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403

_rights = database_sync_to_async(g.stream_rights)


def _seq_param(value: Any) -> int | None:
    text = str(value) if value is not None else ""
    return int(text) if text.isdigit() else None


class StreamConsumer(AsyncJsonWebsocketConsumer):
    names: frozenset[str] = frozenset()
    # The board group carries statistics ticks for every dispatcher; an event sent to it
    # must not reach dispatchers outside the event's units, so events are matched without it.
    hears: frozenset[str] = frozenset()
    unit_id: int | None = None
    heartbeat: asyncio.Task | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.last_sent = 0
        # Live messages, the heartbeat and resume requests each send from the log: one at a time.
        self.sending = asyncio.Lock()
        if not await self._regroup():
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = _seq_param((query.get("after") or [None])[0])
        async with self.sending:
            # Without `after` the client wants the live flow from now on; an `after` beyond the
            # log (a client of a database since restored) must not hide the events to come.
            latest = await tail.latest()
            self.last_sent = latest if after is None else min(after, latest)
            await self._catch_up()
            await self._send_heartbeat()
        self.heartbeat = asyncio.create_task(self._beat())

    async def disconnect(self, code: int) -> None:
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        for name in self.names:
            try:
                await self.channel_layer.group_discard(name, self.channel_name)
            except Exception:
                # Redis is down; its group membership expires by itself.
                logger.info("could not leave group %s", name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict) or content.get("type") != "resume":
            return
        after = _seq_param(content.get("after"))
        if after is not None:
            async with self.sending:
                self.last_sent = after
                await self._catch_up()
                await self._send_heartbeat()

    # --- from the channel layer -------------------------------------------------

    async def stream_event(self, message: dict[str, Any]) -> None:
        live = message["event"]
        seq = live["seq"]
        stored = {k: v for k, v in live.items() if k != "sent_at"}
        tail.offer(row_of(stored, message.get("groups", [])))
        async with self.sending:
            if seq <= self.last_sent:
                return  # sent already, from the log
            if seq > self.last_sent + 1:
                # Something below may be missing here (another process's push still in flight,
                # or lost): the log below `seq` is complete, so send from it first.
                await self._catch_up(before=seq)
            self.last_sent = seq
            if self.hears & set(message.get("groups", [])):
                await self.send_json(live)
                await self._after_sent(live["type"], live)

    async def stream_tick(self, message: dict[str, Any]) -> None:
        tick = message["tick"]
        if self.unit_id is None:
            return
        # Each dispatcher sees only their own unit's figures.
        figures = tick["units"].get(str(self.unit_id)) or tick["none"]
        await self.send_json({"type": "stats.tick", "at": tick["at"], "unit": self.unit_id, **figures})

    # --- helpers ---------------------------------------------------------------------

    async def _catch_up(self, before: int | None = None) -> None:
        """Send every visible event after last_sent (and before `before`) from the log."""
        while True:
            start = self.last_sent
            rows, complete_through = await tail.after(start, before)
            for row in rows:
                await self._send_row(row)
            self.last_sent = max(self.last_sent, complete_through)
            if complete_through <= start or (before is not None and self.last_sent >= before - 1):
                return

    async def _send_row(self, row: Row) -> None:
        self.last_sent = row.seq
        if self.hears & row.groups:
            await self.send_json(row.message)
            await self._after_sent(row.type, row.message)

    async def _after_sent(self, type: str, message: dict[str, Any]) -> None:
        if type in RIGHTS_CHANGED and message.get("user") == self.user_id and not await self._regroup():
            await self.close(code=CLOSE_FORBIDDEN)

    async def _regroup(self) -> bool:
        """Join the groups the user may hear now and leave the others; False once the user may hear nothing."""
        rights = await _rights(self.user_id)
        if rights is None:
            return False
        # What is sent is filtered by these names, so a lost right takes effect here even
        # if leaving the group below fails.
        left = self.names - rights.names
        self.names, self.unit_id = rights.names, rights.unit_id
        self.hears = rights.names - {g.board()}
        # Joining again renews the membership, which the Redis layer expires after a day.
        for name in rights.names:
            await self.channel_layer.group_add(name, self.channel_name)
        for name in left:
            await self.channel_layer.group_discard(name, self.channel_name)
        return True

    async def _send_heartbeat(self) -> None:
        await self.send_json({"type": "heartbeat", "seq": self.last_sent, "at": timezone.now().isoformat()})

    async def _beat(self) -> None:
        while True:
            # Spread over ±20 %: connections opened together (a server restart) would otherwise
            # all re-read their rights in the same instant, stalling the process's database thread.
            await asyncio.sleep(settings.STREAM_HEARTBEAT_SECONDS * random.uniform(0.8, 1.2))
            try:
                async with self.sending:
                    # Rights can change without an event (the admin edits a membership): re-read them.
                    if not await self._regroup():
                        await self.close(code=CLOSE_FORBIDDEN)
                        return
                    await self._catch_up()
                    await self._send_heartbeat()
            except asyncio.CancelledError:
                raise
            except Exception:
                # The database or Redis is away: try again at the next beat; the client sees staleness.
                logger.warning("stream heartbeat failed", exc_info=True)
