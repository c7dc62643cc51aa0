"""The live-push benchmarks' clients: many WebSocket connections in one event loop, and what they received.

Shared by bench/push.py and bench/push_hold.py. One process times a thousand clients on
cores it shares with the servers, so a client only notes (receipt times, bytes) as they
come (bench/wsclient.py) and frames are parsed between receipts: just before each dispatch,
when the previous one's deliveries are in; every PARSE_EVERY_S otherwise, in slices that
hand the event loop back (pings must be answered within daphne's ping timeout); and in full
when a phase reads the inboxes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from bench import push_stage as stage
from bench import wsclient
from bench.harness import BenchError

T = TypeVar("T")
OFFER_CREATED = '"offer.created"'  # a substring test, so the clients need not parse while they listen
WARM_DISPATCHES = 3
WARM_SETTLE_S = 2.0  # the warm-up's deliveries are not counted: a short wait for them is enough
# Enough to connect a thousand clients in seconds, few enough that the handshakes
# (a token and group lookup each) do not time out on two cores.
CONNECT_CONCURRENCY = 50
PARSE_EVERY_S = 0.3
PARSE_SLICE_S = 0.0002


def run_loop(client_loop: str, main: Coroutine[Any, Any, T]) -> T:
    """Run `main` on the clients' event loop, with the kernel's receive timestamps on.

    uvloop by default: a receipt costs less CPU there, and the clients share the cores with
    the servers they time. The Redis floor runs on the same loop, to compare like with like.
    """
    with wsclient.kernel_stamping():
        if client_loop == "uvloop":
            import uvloop

            return uvloop.run(main)
        return asyncio.run(main)


@dataclass(eq=False)
class Conn:
    index: int
    team: int
    url: str
    inbox: list[wsclient.Message] = field(default_factory=list)  # parsed
    client: wsclient.Lean | None = None
    dropped: str | None = None


class Crowd:
    """N WebSocket clients that note (receipt times, bytes) of what arrives, and parse later (module docstring)."""

    def __init__(self, label: str, origins: dict[int, str]) -> None:
        self.label = label
        self.origins = origins  # port → Origin header; the stream checks it against ALLOWED_HOSTS
        self.conns: list[Conn] = []
        self.closing = False
        self.parser: asyncio.Task | None = None
        self.firing = False  # dispatches are being fired: `measure` parses before each

    async def open(self, targets: list[tuple[int, str]], limit_s: float) -> None:
        self.conns = [Conn(index=i, team=team, url=url) for i, (team, url) in enumerate(targets)]
        gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

        async def one(conn: Conn) -> None:
            async with gate:
                # No client pings: daphne pings idle connections itself, and a client loop
                # busy timing a thousand sockets must not time its own pings out.
                conn.client = await wsclient.connect(conn.url, self.origins.get(urlsplit(conn.url).port or 80), limit_s)
            conn.client.on_lost = lambda: self._lost(conn)
            if not conn.client.is_open:  # lost between the 101 and here, before anyone listened
                self._lost(conn)

        results = await asyncio.wait_for(
            asyncio.gather(*(one(c) for c in self.conns), return_exceptions=True), limit_s + 30
        )
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            for conn in self.conns:
                if conn.client is not None:
                    conn.client.abort()
            raise BenchError(f"{self.label}: {len(failed)} of {len(self.conns)} connections failed: {failed[0]!r}")
        self.parser = asyncio.create_task(self._parse_now_and_then())

    def _parse(self, conn: Conn) -> None:
        """The connection's pending chunks into its inbox; a close or bad frame from the server is a drop."""
        client = conn.client
        if client is None:
            return
        try:
            conn.inbox.extend(client.take_messages())
        except wsclient.FrameError as exc:
            if not self.closing and not conn.dropped:
                conn.dropped = f"protocol error at {time.time():.0f}: {exc}"
            client.abort()
            return
        if client.close_at is not None and not self.closing and not conn.dropped:
            conn.dropped = f"closed at {client.close_at:.0f} with code {client.close_code} {client.close_reason!r}"

    def _lost(self, conn: Conn) -> None:
        client = conn.client
        assert client is not None and client.lost_at is not None
        self._parse(conn)  # a close frame still unparsed tells why
        if not self.closing and not conn.dropped:
            conn.dropped = f"closed at {client.lost_at:.0f} with code {wsclient.ABNORMAL} {client.lost_error or ''!r}"

    def parse_all(self) -> None:
        for conn in self.conns:
            self._parse(conn)

    async def catch_up(self) -> None:
        """parse_all, handing the event loop back every PARSE_SLICE_S: receipts meanwhile are stamped on time."""
        give_back = time.perf_counter() + PARSE_SLICE_S
        for conn in self.conns:
            if conn.client is not None and conn.client.chunks:
                self._parse(conn)
                if time.perf_counter() > give_back:
                    await asyncio.sleep(0)
                    give_back = time.perf_counter() + PARSE_SLICE_S

    async def _parse_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(PARSE_EVERY_S)
            if not self.firing:
                await self.catch_up()

    def reset_inboxes(self) -> None:
        self.parse_all()  # what came before is parsed (pings answered), then forgotten
        for conn in self.conns:
            conn.inbox = []

    def offers_received(self) -> int:
        self.parse_all()
        return sum(1 for conn in self.conns for _a, _r, text in conn.inbox if OFFER_CREATED in text)

    def drops(self) -> list[Conn]:
        return [c for c in self.conns if c.dropped]

    async def close(self) -> None:
        self.closing = True
        if self.parser is not None:
            self.parser.cancel()
            with suppress(asyncio.CancelledError):
                await self.parser
        open_ones = [c.client for c in self.conns if c.client is not None and c.client.is_open]
        for client in open_ones:
            client.send_close()
        # The server answers the close and ends the TCP connection (RFC 6455 §7.1.1): wait for that.
        with suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(client.lost for client in open_ones)), 30)
        for client in open_ones:
            client.close_transport()


# --- one phase: fire dispatches, wait for the deliveries, read the delays --------------


@dataclass
class Outcome:
    delays: list[float] = field(default_factory=list)  # seconds to the bytes' arrival, one per (client, offer)
    read_delays: list[float] = field(default_factory=list)  # the same to when the client process read them
    expected: int = 0
    missing: int = 0
    misrouted: int = 0
    duplicates: int = 0
    stamps: Counter[str] = field(default_factory=Counter)
    by_stamp: dict[str, list[float]] = field(default_factory=dict)  # live pushes (sent_at) apart from the rest
    # Live pushes by broadcast (its events share one sent_at): where in a burst the tail lies.
    by_broadcast: dict[str, list[float]] = field(default_factory=dict)
    request_s: list[float] = field(default_factory=list)  # the dispatch requests' round trips
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds spent during the phase, by process

    def faults(self) -> str | None:
        if self.missing or self.misrouted or self.duplicates:
            return f"{self.missing} deliveries missing, {self.misrouted} misrouted, {self.duplicates} duplicated"
        return None


def due(conns: list[Conn], offers: dict[int, int]) -> int:
    """The deliveries `offers` (offer id → team) call for: one to each connection of the team."""
    members = Counter(conn.team for conn in conns)
    return sum(members[team] for team in offers.values())


def _stamp(message: dict) -> tuple[float | None, str]:
    for key in ("sent_at", "at"):
        value = message.get(key)
        if isinstance(value, str):
            with suppress(ValueError):
                return datetime.fromisoformat(value).timestamp(), key
    return None, "none"


def tally(crowd: Crowd, offers: dict[int, int], outcome: Outcome) -> None:
    """Match what every client received against who should have received which offer."""
    outcome.expected = due(crowd.conns, offers)
    got: set[tuple[int, int]] = set()
    crowd.parse_all()
    for conn in crowd.conns:
        for arrived, read, text in conn.inbox:
            if OFFER_CREATED not in text:
                continue  # heartbeats and any other type this script does not know
            message = json.loads(text)
            offer = message.get("offer") or {}
            if message.get("type") != "offer.created" or offer.get("id") not in offers:
                continue  # a late delivery from an earlier phase
            if offers[offer["id"]] != conn.team:
                outcome.misrouted += 1
                continue
            if (conn.index, offer["id"]) in got:
                outcome.duplicates += 1
                continue
            got.add((conn.index, offer["id"]))
            sent, kind = _stamp(message)
            outcome.stamps[kind] += 1
            if sent is not None:
                outcome.delays.append(arrived - sent)
                outcome.read_delays.append(read - sent)
                outcome.by_stamp.setdefault(kind, []).append(arrived - sent)
                if kind == "sent_at":
                    outcome.by_broadcast.setdefault(message["sent_at"], []).append(arrived - sent)
    outcome.missing = outcome.expected - len(got)


async def measure(
    crowd: Crowd,
    fire: stage.Fire,
    count: int,
    interval: float,
    settle_s: float,
    servers: dict[str, int],
    between: Callable[[], Awaitable[None]] | None = None,
) -> Outcome:
    """`count` dispatches, one every `interval` s (at once when behind), every receipt checked.

    The clients parse what came just before each dispatch, not while its deliveries arrive.
    `between` runs midway to the next dispatch, once the last one's deliveries are long done.
    """
    crowd.reset_inboxes()
    offers: dict[int, int] = {}
    outcome = Outcome()
    before = {name: stage.cpu_seconds(pid) for name, pid in servers.items()} | {"clients": time.process_time()}
    started = time.monotonic()
    crowd.firing = True
    try:
        for n in range(count):
            delay = started + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await crowd.catch_up()
            t0 = time.perf_counter()
            offers.update(await asyncio.to_thread(fire, n))  # the event loop keeps timing receipts meanwhile
            outcome.request_s.append(time.perf_counter() - t0)
            midway = started + (n + 0.5) * interval - time.monotonic()
            if between is not None and midway > 0:  # when behind, the next dispatch is due: no sample
                await asyncio.sleep(midway)
                await between()
    finally:
        crowd.firing = False
    deadline = time.monotonic() + settle_s
    while True:
        await crowd.catch_up()  # in slices: the late deliveries may still be coming in
        if time.monotonic() >= deadline or crowd.offers_received() >= due(crowd.conns, offers):
            break
        await asyncio.sleep(0.2)
    after = {name: stage.cpu_seconds(pid) for name, pid in servers.items()} | {"clients": time.process_time()}
    outcome.cpu_s = {name: after[name] - before[name] for name in after}
    tally(crowd, offers, outcome)
    return outcome


async def warm_up(crowd: Crowd, fire: stage.Fire, interval: float, servers: dict[str, int]) -> None:
    """A few dispatches not counted: the servers' first sends open their Redis connections and fill caches."""
    await measure(crowd, fire, WARM_DISPATCHES, interval, WARM_SETTLE_S, servers)


def cpu_report(name: str, outcome: Outcome) -> str:
    """CPU per delivered message, by process: where a delivery's cost lands."""
    delivered = max(1, outcome.expected - outcome.missing)
    parts = ", ".join(f"{proc} {seconds / delivered * 1e6:.0f}" for proc, seconds in outcome.cpu_s.items())
    return f"  {name}: CPU µs per delivery: {parts}"
