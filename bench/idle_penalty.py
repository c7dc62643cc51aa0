#!/usr/bin/env python
"""Idle penalty: how much slower the same small Redis operations are after a pause than back to back.

bench/push.py's broadcasts each meet a machine idle since the last one, its Redis floor does not;
this compares the two conditions on any machine: ping (redis-py's PING round trip), pubsub
(publish → subscribe of a 400-byte message, as the floor) and pack (redis-py packing a command of
110 arguments: CPU only). Nothing is written to Redis. The last line compares no pause with the
longest one.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import BenchError, percentile  # noqa: E402

PAYLOAD = b"x" * 400  # about an event's size, as bench/push.py's floor


def timed(gap: float, samples: int, operation: Callable[[], None]) -> list[float]:
    """Seconds each call of `operation` took, each after `gap` seconds of sleep; a tenth first, not kept."""
    took = []
    for n in range(samples + samples // 10):
        if gap:
            time.sleep(gap)
        started = time.perf_counter()
        operation()
        if n >= samples // 10:
            took.append(time.perf_counter() - started)
    return took


def run(args: argparse.Namespace) -> tuple[str, list[str]]:
    client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise BenchError(f"Redis at {args.redis_url}: {exc}") from exc
    subscriber = client.pubsub()
    channel = f"bench.idle_penalty.{os.getpid()}.{secrets.token_hex(4)}"
    subscriber.subscribe(channel)
    if subscriber.get_message(timeout=5) is None:
        raise BenchError("no subscribe confirmation within 5 s")
    connection = client.connection_pool.get_connection()
    command = ["EVALSHA", "0" * 40, "100", *(f"group.{i}" for i in range(100)), *(b"x" * 80 for _ in range(7))]

    def ping() -> None:
        client.ping()

    def pubsub() -> None:
        client.publish(channel, PAYLOAD)
        message = subscriber.get_message(timeout=5)
        while message is not None and message["type"] != "message":
            message = subscriber.get_message(timeout=5)
        if message is None or message["data"] != PAYLOAD:
            raise BenchError(f"publish → subscribe: got {message!r} within 5 s")

    def pack() -> None:
        connection.pack_command(*command)

    operations = {"ping": ping, "pubsub": pubsub, "pack": pack}
    results: dict[tuple[str, float], list[float]] = {}
    try:
        print(harness.table_head("operation, pause before each", width=32))
        for gap in args.gaps:
            for name, operation in operations.items():
                # The long pauses cost time, not samples' worth: fewer of them.
                samples = args.samples if gap < 0.1 else max(20, args.samples // 5)
                took = results[(name, gap)] = timed(gap, samples, operation)
                print(harness.table_row(f"{name}, {gap * 1e3:g} ms", took, width=32, digits=3), flush=True)
    finally:
        client.connection_pool.release(connection)
        subscriber.close()
        client.close()

    hot, idle = min(args.gaps), max(args.gaps)

    def figure(name: str, gap: float, q: float, scale: float) -> float:
        return percentile(results[(name, gap)], q) * scale

    line = (
        f"ping_hot_p50_ms={figure('ping', hot, 50, 1e3):.3f} ping_idle_p50_ms={figure('ping', idle, 50, 1e3):.3f} "
        f"pubsub_hot_p99_ms={figure('pubsub', hot, 99, 1e3):.3f} "
        f"pubsub_idle_p99_ms={figure('pubsub', idle, 99, 1e3):.3f} "
        f"pack_hot_us={figure('pack', hot, 50, 1e6):.0f} pack_idle_us={figure('pack', idle, 50, 1e6):.0f}"
    )
    return line, []


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer samples: well under a minute")
    p.add_argument(
        "--redis-url",
        default=os.environ.get("BENCH_PUSH_REDIS_URL", "redis://127.0.0.1:6379/12"),
        help="the Redis to time (BENCH_PUSH_REDIS_URL; nothing is written to it)",
    )
    p.add_argument("--gaps", default="0,0.002,0.03,0.25", help="seconds of pause before each call, comma-separated")
    p.add_argument("--samples", type=int, help="calls per operation and pause (500; 100 with --quick)")
    args = p.parse_args(argv)
    try:
        args.gaps = sorted({float(g) for g in args.gaps.split(",") if g.strip()})
    except ValueError:
        p.error(f"--gaps: seconds, comma-separated, not {args.gaps!r}")
    if not args.gaps or args.gaps[0] < 0:
        p.error("--gaps: at least one pause, none negative")
    if args.samples is None:
        args.samples = 100 if args.quick else 500
    if args.samples < 1:
        p.error("--samples must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/idle_penalty.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
