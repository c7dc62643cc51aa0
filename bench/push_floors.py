"""The floors bench/push.py holds the stream against, on the same Redis and with the same clients.

* Redis: publish → subscribe round trips, the subscriber a bare socket timed as the
  stream's clients are (the kernel's receive time), beside redis-py's own round trip;
* bare Channels: the same clients on two daphne processes serving bench/bare_channels/
  (a consumer that relays `group_send`: no database, auth or event log), sent the same
  offers by bench/bare_channels/sender.py from a process of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio

from bench import harness, wsclient
from bench import push_crowd as crowd
from bench import push_stage as stage
from bench.harness import BenchError

BARE_SETTINGS = "bench.bare_channels.settings"
BARE_PATH = "/ws/bare/"
PAYLOAD = b"x" * 400  # about an event's size


# --- the Redis floor ----------------------------------------------------------------------


@dataclass
class Floor:
    arrival: list[float] = field(default_factory=list)  # publish → the bytes reach the subscriber's socket
    read: list[float] = field(default_factory=list)  # publish → the subscriber reads them

    def add(self, times: tuple[float, float]) -> None:
        self.arrival.append(times[0])
        self.read.append(times[1])


def bulk(part: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(part), part)


def resp(*parts: bytes) -> bytes:
    """A Redis command, or a reply of that shape (an array of bulk strings), in RESP."""
    return b"*%d\r\n" % len(parts) + b"".join(map(bulk, parts))


class Subscriber:
    """The floor's subscriber, on a wsclient.Stamped connection: what came, and the times of its end."""

    def __init__(self) -> None:
        self.got = bytearray()
        self.last = (0.0, 0.0)  # (arrival, read) of the last chunk
        self.wanted = 0
        self.waiter: asyncio.Future[None] | None = None  # woken once `wanted` bytes are in

    def connection_made(self, transport: wsclient.Stamped) -> None:
        pass

    def received(self, arrived: float, read: float, data: bytes) -> None:
        self.got += data
        self.last = (arrived, read)
        if self.waiter is not None and not self.waiter.done() and len(self.got) >= self.wanted:
            self.waiter.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(BenchError(f"Redis closed the subscriber's connection ({exc or 'EOF'})"))


class FloorProbe:
    """Publish → subscribe round trips on a channel of its own, the subscriber timed as the stream's clients are."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.subscriber = Subscriber()
        self.channel = f"bench.push.stamped.{os.getpid()}.{secrets.token_hex(4)}".encode()
        self.message = resp(b"message", self.channel, PAYLOAD)

    async def __aenter__(self) -> FloorProbe:
        parts = urlsplit(self.url)
        self.loop = asyncio.get_running_loop()
        self.pub = redis.asyncio.Redis.from_url(self.url)
        try:
            sock = await wsclient.stamped_socket(parts.hostname or "127.0.0.1", parts.port or 6379)
        except BaseException:
            await self.pub.aclose()
            raise
        self.transport = wsclient.Stamped(self.loop, sock, self.subscriber)
        try:
            if parts.password:
                user = [parts.username.encode()] if parts.username else []
                self.transport.write(resp(b"AUTH", *user, parts.password.encode()))
                await self._expect(b"+OK\r\n")
            self.transport.write(resp(b"SUBSCRIBE", self.channel))
            await self._expect(b"*3\r\n" + bulk(b"subscribe") + bulk(self.channel) + b":1\r\n")  # 1 channel
            await self.pub.ping()  # connected now, so no round trip includes the connecting
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.transport.abort()
        await self.pub.aclose()

    async def once(self) -> tuple[float, float]:
        """One round trip: seconds from the publish to the (arrival, read) of the message's end."""
        sent = time.time()
        await self.pub.publish(self.channel, PAYLOAD)
        arrived, read = await self._expect(self.message)
        return arrived - sent, read - sent

    async def _expect(self, reply: bytes) -> tuple[float, float]:
        """Wait until `reply` has come whole (nothing else may come); the (arrival, read) times of its end."""
        got = self.subscriber.got
        if len(got) < len(reply):  # it may have come while the publisher waited for its own answer
            self.subscriber.wanted, self.subscriber.waiter = len(reply), self.loop.create_future()
            try:
                await asyncio.wait_for(self.subscriber.waiter, 5)
            except TimeoutError:
                raise BenchError(f"Redis publish → subscribe: {bytes(got[:80])!r} of {reply[:80]!r} in 5 s") from None
        if got != reply:
            raise BenchError(f"Redis answered {bytes(got[:80])!r}, expected {reply[:80]!r}")
        got.clear()
        return self.subscriber.last


async def redis_floors(url: str, samples: int) -> tuple[list[float], Floor]:
    """Round trips back to back, by redis-py's own timing and by the subscriber's socket; a tenth first, not kept."""
    plain, floor = [], Floor()
    pub = redis.asyncio.Redis.from_url(url)
    sub = pub.pubsub()
    channel = f"bench.push.{os.getpid()}"
    try:
        await sub.subscribe(channel)
        while await sub.get_message(timeout=5) is None:  # the subscription's confirmation
            pass
        for n in range(samples + samples // 10):
            sent = time.perf_counter()
            await pub.publish(channel, PAYLOAD)
            while await sub.get_message(ignore_subscribe_messages=True, timeout=5) is None:
                if time.perf_counter() > sent + 5:
                    raise BenchError("Redis publish → subscribe: nothing came back within 5 s")
            if n >= samples // 10:
                plain.append(time.perf_counter() - sent)
    finally:
        await sub.aclose()
        await pub.aclose()
    async with FloorProbe(url) as probe:
        for n in range(samples + samples // 10):
            times = await probe.once()
            if n >= samples // 10:
                floor.add(times)
    return plain, floor


# --- bare Channels ----------------------------------------------------------------------


@contextmanager
def bare_sender(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen]:
    """bench/bare_channels/sender.py: one group_send per team of each line it reads, from its own process."""
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.bare_channels.sender"],
            cwd=harness.ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log_file,
            text=True,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        with suppress(OSError):
            proc.stdin.close()  # type: ignore[union-attr]
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            harness.stop_server(proc)


def run_bare(
    args: argparse.Namespace, setup: stage.Setup, layer: dict[str, str]
) -> tuple[crowd.Outcome, list[crowd.Conn]]:
    """The bare Channels floor: the same clients and offers, no database, auth or event log."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": BARE_SETTINGS, **layer, "REDIS_URL": args.redis_url}
    plan = stage.dispatch_plan(setup.cast, crowd.WARM_DISPATCHES + args.dispatches, args.teams_per_offer)
    ports = [harness.free_port() for _ in range(stage.SERVERS)]
    with ExitStack() as stack:
        pids = [
            stack.enter_context(
                stage.daphne(env, "bench.bare_channels.asgi:application", p, setup.tmp / f"bare-{i}.log")
            ).pid
            for i, p in enumerate(ports)
        ]
        servers = stage.processes(pids, args.redis_url)
        sender = stack.enter_context(bare_sender(env, setup.tmp / "bare-sender.log"))
        fired = itertools.count()

        def fire(_n: int) -> list[tuple[int, int]]:
            i = next(fired)
            teams = list(plan[i].teams)
            sender.stdin.write(json.dumps({"seq": i + 1, "teams": teams}) + "\n")  # type: ignore[union-attr]
            sender.stdin.flush()  # type: ignore[union-attr]
            if sender.stdout.readline().strip() != "ok":  # type: ignore[union-attr]
                raise BenchError(f"the bare sender failed:\n{harness.tail(setup.tmp / 'bare-sender.log')}")
            return [((i + 1) * 1000 + rank, team) for rank, team in enumerate(teams)]

        clients = crowd.Crowd("bare channels", {})

        async def phases() -> crowd.Outcome:
            await clients.open(
                stage.targets(setup.cast.listeners, ports, BARE_PATH, lambda lst: f"group=bare.team.{lst.team}"), 60
            )
            try:
                await crowd.warm_up(clients, fire, args.interval, servers)
                return await crowd.measure(clients, fire, args.dispatches, args.interval, args.settle_seconds, servers)
            finally:
                await clients.close()

        outcome = crowd.run_loop(args.client_loop, phases())
    return outcome, clients.drops()
