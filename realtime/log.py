"""Reading the event log for stream connections: catch-up and gap filling.

Because `publish` takes seqs in commit order (see `realtime.events`), a visible seq
means every lower one is committed or never will be. So a connection can say "I have
seen everything up to N" after reading the log once, and a live message with seq N
tells it that the log below N is complete: whatever it has not yet sent from there is
read from the log first. That makes delivery exactly-once and in order even when live
messages arrive out of order (two processes' sends race to Redis) or not at all
(Redis down, a full channel).

The connections of a process share one `LogTail`: the recent end of the log, read once
and kept in memory, so a live event that reaches five hundred connections costs one
query, not five hundred.
"""

import asyncio
import bisect
import json
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from .events import event_message
from .models import Event
from .selectors import latest_seq


@dataclass(frozen=True)
class Row:
    seq: int
    type: str
    groups: frozenset[str]
    message: dict[str, Any]


def row_of(message: dict[str, Any], groups: list[str]) -> Row:
    return Row(seq=message["seq"], type=message["type"], groups=frozenset(groups), message=message)


# Where a live message keeps what all its process's connections share: realtime.layers hands
# one message object to every channel of the process that it is for.
_SHARED = "_stream_shared"


def live_row(message: dict[str, Any]) -> tuple[Row, str]:
    """A live `stream.event`'s log row and JSON text, made once per process, not once per connection.

    The row leaves out `sent_at` (the log has none); the text keeps it (clients time the push by it).
    """
    shared = message.get(_SHARED)
    if shared is None:
        live = message["event"]
        stored = {k: v for k, v in live.items() if k != "sent_at"}
        shared = message[_SHARED] = (row_of(stored, message.get("groups", [])), json.dumps(live))
    return shared


@database_sync_to_async
def _read(after: int, before: int | None, limit: int) -> list[Row]:
    rows = Event.objects.filter(pk__gt=after)
    if before is not None:
        rows = rows.filter(pk__lt=before)
    return [
        Row(seq=e.pk, type=e.type, groups=frozenset(e.groups), message=event_message(e))
        for e in rows.order_by("pk")[:limit]
    ]


@database_sync_to_async
def _latest() -> int:
    return latest_seq()


class LogTail:
    """The last KEEP events of the log, complete from `low` (exclusive) to `upto` (inclusive).

    It grows three ways, none of them per connection: a live event that directly follows
    it (`offer`, no query); a gap below a live event (`after(…, before=seq)`: one read per
    process, the other connections find it filled); and `refresh`, which reads the end of
    the log, shared by every caller that arrives while one is under way. Heartbeats answer
    from it without reading (`refresh=False`): the process's keeper refreshes it once a beat,
    so a push lost on the way still reaches every connection at its next heartbeat.
    """

    KEEP = 5000
    PAGE = 500

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._seqs: list[int] = []
        self._rows: dict[int, Row] = {}
        # The seqs of each group's events in the tail, ascending: a connection's gap is looked
        # up in its own few groups instead of walking every event of the gap.
        self._by_group: dict[str, list[int]] = {}
        self._low: int | None = None
        self._upto = 0
        self._refreshes = 0  # reads of the log's end started so far
        self._lock: asyncio.Lock | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def upto(self) -> int:
        return self._upto

    async def after(
        self, after: int, before: int | None = None, *, refresh: bool = True, groups: frozenset[str] | None = None
    ) -> tuple[list[Row], int]:
        """Events with after < seq (< before), oldest first, and the seq through which that list is complete.

        `before` must be a committed seq (one that came as a live message). Without it the
        answer reaches the end of the log, or with `refresh=False` the end of the tail as it
        stands (no query unless `after` is older than the tail). With `groups`, the answer
        may leave out events of none of them (the caller would skip those anyway). Answers
        at most PAGE rows from the log; call again from the returned seq for more.
        """
        if before is not None:
            await self._extend(before)
        elif refresh:
            await self.refresh()
        if self._low is None or after < self._low:
            rows = await _read(after, before, self.PAGE)
            if len(rows) == self.PAGE:
                return rows, rows[-1].seq
            if before is not None:
                return rows, before - 1
            return rows, rows[-1].seq if rows else after
        end = self._upto if before is None else min(self._upto, before - 1)
        if groups is None:
            start = bisect.bisect_right(self._seqs, after)
            stop = bisect.bisect_right(self._seqs, end)
            return [self._rows[s] for s in self._seqs[start:stop]], max(end, after)
        seqs: set[int] = set()
        for name in groups:
            of_group = self._by_group.get(name)
            if of_group:
                seqs.update(of_group[bisect.bisect_right(of_group, after) : bisect.bisect_right(of_group, end)])
        return [self._rows[s] for s in sorted(seqs)], max(end, after)

    def holds_nothing_for(self, groups: frozenset[str], after: int, before: int) -> bool:
        """Whether the tail holds every event with after < seq < before, none of them of `groups`.

        What `after(after, before, groups=groups)` would answer with no rows and no query,
        told without a coroutine: the usual case of a live event, whose gap is the other
        groups' events (two coroutine calls and a loop were some 4 % of a delivery).
        """
        if self._low is None or after < self._low or before - 1 > self._upto:
            return False
        for name in groups:
            of_group = self._by_group.get(name)
            if of_group and bisect.bisect_right(of_group, after) != bisect.bisect_left(of_group, before):
                return False
        return True

    async def latest(self) -> int:
        """The last seq of the log now (a connection without `after` starts from it)."""
        await self.refresh()
        return self._upto

    async def refresh(self) -> None:
        """Read the end of the log; callers that arrive while a read is under way share the next one.

        A read that started before this call may have missed a commit the caller must see
        (a client connecting right after it), so only one started after the call will do.
        """
        asked = self._refreshes
        async with self._lock_for_loop():
            if self._refreshes > asked:
                return
            self._refreshes += 1
            await self._read_to(None)

    def offer(self, row: Row) -> None:
        """A live event that directly follows the tail extends it without a query."""
        if self._low is not None and row.seq == self._upto + 1:
            self._add([row])
            self._upto = row.seq

    async def _extend(self, before: int) -> None:
        if self._low is not None and before - 1 <= self._upto:
            return
        async with self._lock_for_loop():
            if self._low is not None and before - 1 <= self._upto:
                return  # read by the connection that held the lock
            # To the end of the log, not only to `before`: a transaction's events are pushed
            # together (an offer broadcast: eleven at once), and each connection's gap ends at
            # its own event, so reading to `before` took one read per connection in turn. The
            # end includes `before`, which committed before it was pushed.
            await self._read_to(None)

    async def _read_to(self, before: int | None) -> None:
        """Under the lock: read the log after the tail up to `before` (exclusive) or its end."""
        if self._low is None:
            self._low = self._upto = await _latest()
            if before is None:
                return
        while before is None or before - 1 > self._upto:
            rows = await _read(self._upto, before, self.PAGE)
            self._add(rows)
            if len(rows) == self.PAGE:
                self._upto = rows[-1].seq
                continue
            if before is not None:
                self._upto = max(self._upto, before - 1)
            elif rows:
                self._upto = rows[-1].seq
            break

    def _add(self, rows: list[Row]) -> None:
        for row in rows:
            if row.seq > (self._seqs[-1] if self._seqs else 0):
                self._seqs.append(row.seq)
                self._rows[row.seq] = row
                for name in row.groups:
                    self._by_group.setdefault(name, []).append(row.seq)
        overflow = len(self._seqs) - self.KEEP
        if overflow > 0:
            for seq in self._seqs[:overflow]:
                for name in self._rows.pop(seq).groups:
                    # The oldest events leave first, so each is at the front of its groups' lists.
                    of_group = self._by_group[name]
                    del of_group[0]
                    if not of_group:
                        del self._by_group[name]
            self._low = self._seqs[overflow - 1]
            del self._seqs[:overflow]

    def _lock_for_loop(self) -> asyncio.Lock:
        # One refresh at a time per process; a lock belongs to one event loop (tests run several).
        loop = asyncio.get_running_loop()
        if self._lock is None or self._loop is not loop:
            self._lock, self._loop = asyncio.Lock(), loop
        return self._lock


tail = LogTail()
