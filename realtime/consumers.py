"""The one stream endpoint (DESIGN §6): `ws/v1/stream/?token=…&after=SEQ`.

A connection first receives every logged event after `after` that its user may see,
then the live flow, each event once and in seq order; a heartbeat every
STREAM_HEARTBEAT_SECONDS says how far the log has been delivered. `realtime.log`
explains why the order holds.
"""

import asyncio
import contextlib
import functools
import logging
import random
import time
from typing import Any
from urllib.parse import parse_qs

from autobahn.exception import Disconnected
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.utils import timezone

from common import jsonparse

from . import groups as g
from .keeper import keeper, rights
from .log import Row, live_row, tail
from .transport import text_sender

logger = logging.getLogger(__name__)

# Events after which the subject's connection re-reads its rights (and so its groups).
RIGHTS_CHANGED = frozenset({"team.member_left", "staff.moved"})

# 4401/4403 follow HTTP 401/403, as the WebSocket close codes 4000-4999 are the application's.
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403

# The Redis layer forgets a group membership after a day (group_expiry): join again well before.
GROUP_RENEW_SECONDS = 3600.0


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
    # When the read behind the rights in force began: an older read (the keeper's, started
    # before a rights change the connection has already applied) must not undo a newer one.
    rights_read_at = float("-inf")
    joined: frozenset[str] = frozenset()
    joined_at = 0.0
    closing = False

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Channels' own, waiting with the layer's `serve` where it has one (realtime/layers.py).

        serve takes a channel message with one wake-up of this consumer where Channels'
        await_many_dispatch takes three; the embedded in-memory layer has none.
        """
        layer = get_channel_layer(self.channel_layer_alias)
        serve = getattr(layer, "serve", None)
        if serve is None:
            await super().__call__(scope, receive, send)
            return
        self.scope = scope
        self.channel_layer = layer
        self.channel_name = await layer.new_channel()
        self.channel_receive = functools.partial(layer.receive, self.channel_name)
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            await serve(self.channel_name, receive, self.dispatch)

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its close_old_connections before every message.

        Channels (4.2+) runs that on its one database thread before each message, so every
        live delivery queued for that thread behind whatever query was under way there
        (bench/push.py's bare floor at 1 000 clients: p99 62 → 40 ms on the core layer and
        164 → 27 ms on pub/sub without it). This consumer reaches the database only through
        database_sync_to_async, which closes stale connections itself around each call, on
        the thread that owns them.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        self.user_id = user.pk
        self.last_sent = 0
        # Live messages, the heartbeat and resume requests each send from the log: one at a time.
        self.sending = asyncio.Lock()
        # Group joins and leaves of this connection, one change at a time (see _sync_groups).
        self.joining = asyncio.Lock()
        found, read_at = await rights.read(self.user_id)
        if found is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.apply_rights(found, read_at)
        await self.accept()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        after = _seq_param((query.get("after") or [None])[0])
        async with self.sending:
            # Without `after` the client wants the live flow from now on; an `after` beyond the
            # log (a client of a database since restored) must not hide the events to come.
            latest = await tail.latest()
            self.last_sent = latest if after is None else min(after, latest)
            await self._catch_up(refresh=False)  # latest() has just read the end of the log
            await self._send_heartbeat()
        keeper.join(self)
        self.heartbeat = asyncio.create_task(self._beat())
        # Under daphne on the Redis layer, the layer's reader sends what it can at once (_take_live).
        take = getattr(self.channel_layer, "take", None)
        send_text = text_sender(self.base_send)
        if take is not None and send_text is not None:
            self.send_text = send_text
            take(self.channel_name, self._take_live)

    async def disconnect(self, code: int) -> None:
        take = getattr(self.channel_layer, "take", None)
        if take is not None:
            take(self.channel_name, None)
        keeper.leave(self)
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        for name in self.joined:
            try:
                await self.channel_layer.group_discard(name, self.channel_name)
            except Exception:
                # Redis is down; its group membership expires by itself.
                logger.info("could not leave group %s", name)
        self.joined = frozenset()

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        """A client's message, read without recursion; anything malformed is no request at all."""
        try:
            return jsonparse.loads(text_data)
        except ValueError:
            return None

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
        row, text = live_row(message)
        seq = row.seq
        tail.offer(row)
        async with self.sending:
            if seq <= self.last_sent:
                return  # sent already, from the log
            # A gap that is only other groups' events, all in the tail, needs nothing sent.
            if seq > self.last_sent + 1 and not tail.holds_nothing_for(self.hears, self.last_sent, seq):
                # Something below may be missing here (another process's push still in flight,
                # or lost): the log below `seq` is complete, so send from it first. The tail
                # answers from memory when it holds the gap (one read per process otherwise).
                await self._catch_up(before=seq)
                tail.offer(row)  # the gap is filled now: this one may follow it
            self.last_sent = seq
            if self.hears & row.groups:
                await self.send(text_data=text)
                await self._after_sent(row.type, row.message)

    def _take_live(self, message: dict[str, Any]) -> bool:
        """stream_event's work, done in the layer's reader when it needs no await: True if done.

        Declined (so the message is queued for stream_event) while anything holds the send
        lock, when the event leaves a gap the tail cannot account for (the log must be read),
        and for an event that changes this user's rights (their groups must be read first).
        Whatever is taken here is sent in the same order and exactly as stream_event would.
        """
        if message.get("type") != "stream.event" or self.closing or self.sending.locked():
            return False
        row, text = live_row(message)
        seq = row.seq
        tail.offer(row)
        if seq <= self.last_sent:
            return True  # sent already, from the log
        if seq > self.last_sent + 1 and not tail.holds_nothing_for(self.hears, self.last_sent, seq):
            return False
        heard = bool(self.hears & row.groups)
        if heard and row.type in RIGHTS_CHANGED and row.message.get("user") == self.user_id:
            return False
        self.last_sent = seq
        if heard:
            self.send_text(text)
        return True

    async def stream_tick(self, message: dict[str, Any]) -> None:
        tick = message["tick"]
        if self.unit_id is None:
            return
        # Each dispatcher sees only their own unit's figures.
        figures = tick["units"].get(str(self.unit_id)) or tick["none"]
        await self.send_json({"type": "stats.tick", "at": tick["at"], "unit": self.unit_id, **figures})

    # --- rights ----------------------------------------------------------------------

    async def apply_rights(self, found: g.StreamRights | None, read_at: float) -> None:
        """Hear what `found` allows from now on (close once the user may hear nothing).

        Called with the connection's own read (connect, a rights change) and with the
        keeper's shared one; no database work here, so the keeper can hand out a whole
        process's rights at once.
        """
        if read_at <= self.rights_read_at or self.closing:
            return
        self.rights_read_at = read_at
        if found is None:
            # Nothing more is sent from here on, whatever the close below takes.
            self.names, self.hears, self.unit_id, self.closing = frozenset(), frozenset(), None, True
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # What is sent is filtered by these names, so a lost right takes effect here, before
        # the groups are left below (and even if leaving fails).
        self.names, self.unit_id = found.names, found.unit_id
        self.hears = found.names - {g.board()}
        await self._sync_groups()

    async def _sync_groups(self) -> None:
        """Make the layer's groups match `names`: join the new, leave the lost, renew hourly."""
        async with self.joining:
            # Read under the lock, so when two changes race the later one is what stays joined.
            wanted = self.names
            renew = bool(self.joined) and time.monotonic() - self.joined_at > GROUP_RENEW_SECONDS
            if wanted == self.joined and not renew:
                return
            for name in wanted if renew else wanted - self.joined:
                await self.channel_layer.group_add(name, self.channel_name)
            for name in self.joined - wanted:
                await self.channel_layer.group_discard(name, self.channel_name)
            if renew or not self.joined:
                self.joined_at = time.monotonic()
            self.joined = wanted

    async def _after_sent(self, type: str, message: dict[str, Any]) -> None:
        if type in RIGHTS_CHANGED and message.get("user") == self.user_id:
            # The one database read made with the send lock held, on purpose: nothing after
            # this event may be sent until the connection knows what its user may hear now.
            # It happens once per change of this user's rights, never in the routine flow.
            found, read_at = await rights.read(self.user_id)
            await self.apply_rights(found, read_at)

    # --- helpers ---------------------------------------------------------------------

    async def _catch_up(self, before: int | None = None, *, refresh: bool = True) -> None:
        """Send every visible event after last_sent (and before `before`) from the log.

        `refresh=False` answers from the process's log tail as it stands (no query unless
        the connection is behind the tail); otherwise the end of the log is read first, once.
        """
        while True:
            start, rights_in_force = self.last_sent, self.rights_read_at
            # Only the events of the groups heard now: the tail answers those from its index.
            rows, complete_through = await tail.after(start, before, refresh=refresh, groups=self.hears)
            refresh = False
            if self.rights_read_at != rights_in_force:
                continue  # the keeper changed them while the log was read: choose again
            for row in rows:
                await self._send_row(row)
                if self.closing:
                    return
                if self.rights_read_at != rights_in_force:
                    # The rights changed on the way (this event, or the keeper): the rows left
                    # were chosen by the old ones, so ask again from here with the new.
                    break
            else:
                self.last_sent = max(self.last_sent, complete_through)
                if complete_through <= start or (before is not None and self.last_sent >= before - 1):
                    return

    async def _send_row(self, row: Row) -> None:
        self.last_sent = row.seq
        if self.hears & row.groups:
            await self.send_json(row.message)
            await self._after_sent(row.type, row.message)

    async def _send_heartbeat(self) -> None:
        await self.send_json({"type": "heartbeat", "seq": self.last_sent, "at": timezone.now().isoformat()})

    async def _beat(self) -> None:
        while True:
            # Spread over ±20 %, so the connections opened together (a server restart) do not
            # all send in the same instant.
            await asyncio.sleep(settings.STREAM_HEARTBEAT_SECONDS * random.uniform(0.8, 1.2))
            if self.closing:
                return
            try:
                async with self.sending:
                    # No database work per beat: the tail in memory, which the keeper refreshes
                    # once a beat for the whole process, holds whatever a lost push left out.
                    await self._catch_up(refresh=False)
                    await self._send_heartbeat()
            except asyncio.CancelledError:
                raise
            except Disconnected:
                # The phone has gone and disconnect() is on its way: nothing to retry, nothing to
                # report (bench/push.py logged a traceback for thousands of closes per run).
                return
            except Exception:
                # Redis or the database is away: try again at the next beat; the client sees staleness.
                logger.warning("stream heartbeat failed", exc_info=True)
