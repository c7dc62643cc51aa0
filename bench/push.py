#!/usr/bin/env python
"""Live push benchmark: from a dispatch's commit to each team member's WebSocket, against two floors.

The platform as in production (gunicorn for the API, two daphne processes for the stream, the
Redis channel layer) sends broadcasts to N clients; in the same run the same clients and offers
on bare Channels, and publish → subscribe round trips on the same Redis (bench/push_floors.py). The
last line is the figure; a lost, misrouted or duplicated event or a dropped connection makes the
exit status 1. How each delay is timed: bench/README.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness, wsclient  # noqa: E402
from bench import push_crowd as crowd  # noqa: E402
from bench import push_floors as floors  # noqa: E402
from bench import push_stage as stage  # noqa: E402
from bench.harness import BenchError, log, ms, percentile, table_head, table_row  # noqa: E402

PRODUCTION_SETTINGS = "config.settings.production"
VARIANT_SETTINGS = "bench.push_settings"  # the production settings with another layer or socket timeout
LAYERS = {"core": "realtime.layers.RedisChannelLayer", "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer"}


@dataclass
class StreamRun:
    measured: crowd.Outcome
    paced: floors.Floor  # the Redis round trip midway between two broadcasts: the floor at their pace
    drops: list[crowd.Conn]
    rss: list[list[int]]  # per daphne: started, connected, at the end (kB)
    connect_s: float


def run_stream(args: argparse.Namespace, setup: stage.Setup) -> StreamRun:
    """The platform itself: gunicorn for the API, two daphne processes for the stream."""
    plan = stage.dispatch_plan(setup.cast, crowd.WARM_DISPATCHES + args.dispatches, args.teams_per_offer)
    with stage.serve_stream(setup.env, setup.cast, plan, setup.tmp) as stream:
        servers = stage.processes(stream.pids, args.redis_url)
        clients = crowd.Crowd("stream", stream.origins)
        paced = floors.Floor()

        async def phases() -> tuple[crowd.Outcome, float, list[int]]:
            t0 = time.perf_counter()
            await clients.open(stream.targets(setup.cast.listeners), 60)
            connect_s, rss_connected = time.perf_counter() - t0, stream.rss()
            log(f"{len(clients.conns)} stream clients connected in {connect_s:.1f} s")
            try:
                await crowd.warm_up(clients, stream.fire, args.interval, servers)
                async with floors.FloorProbe(args.redis_url) as probe:

                    async def sample() -> None:
                        paced.add(await probe.once())

                    measured = await crowd.measure(
                        clients, stream.fire, args.dispatches, args.interval, args.settle_seconds, servers, sample
                    )
            finally:
                await clients.close()
            return measured, connect_s, rss_connected

        rss_before = stream.rss()
        measured, connect_s, rss_connected = crowd.run_loop(args.client_loop, phases())
        rss = [list(kb) for kb in zip(rss_before, rss_connected, stream.rss(), strict=True)]
        stream.check_alive()
    return StreamRun(measured, paced, clients.drops(), rss, connect_s)


def stream_settings(args: argparse.Namespace) -> str:
    """The production settings themselves unless another channel layer set-up was asked for."""
    return PRODUCTION_SETTINGS if args.layer == "core" and args.redis_socket_timeout is None else VARIANT_SETTINGS


def layer_env(args: argparse.Namespace) -> dict[str, str]:
    """What bench/push_settings.py and bench/bare_channels/settings.py read to set the channel layer up."""
    env = {"BENCH_CHANNEL_LAYER": LAYERS[args.layer]}
    if args.redis_socket_timeout is not None:
        env["BENCH_REDIS_SOCKET_TIMEOUT"] = str(args.redis_socket_timeout)
    return env


def realtime_version() -> str:
    """The last commit of realtime/, to tell which stream server the figures are of."""
    git = ["git", "-C", str(harness.ROOT)]
    with suppress(OSError, subprocess.SubprocessError):
        last = subprocess.run(
            [*git, "log", "-1", "--format=%h %cI", "--", "realtime/"], capture_output=True, timeout=10
        )
        dirty = subprocess.run([*git, "status", "--porcelain", "--", "realtime/"], capture_output=True, timeout=10)
        return last.stdout.decode().strip() + (" (with uncommitted changes)" if dirty.stdout.strip() else "")
    return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (about a minute): 200 clients, 20 dispatches")
    p.add_argument("--dispatches", type=int, help="measured broadcasts (150; 20 with --quick)")
    p.add_argument("--interval", type=float, default=0.25, help="seconds between measured dispatches (0.25)")
    p.add_argument("--redis-samples", type=int, help="Redis round trips for its floor (2000; 500 with --quick)")
    p.add_argument(
        "--layer",
        choices=sorted(LAYERS),
        default="core",
        help="channel layer for the stream and the bare floor: core (production) or pubsub (for comparison)",
    )
    p.add_argument(
        "--redis-socket-timeout",
        type=float,
        help="socket timeout of the channel layer's Redis connections (default: the production settings')",
    )
    stage.add_options(p, clients="1000; 200 with --quick")
    args = p.parse_args(argv)
    stage.check_options(p, args, clients=1000, quick_clients=200)
    if args.dispatches is None:
        args.dispatches = 20 if args.quick else 150
    if args.redis_samples is None:
        args.redis_samples = 500 if args.quick else 2000
    if min(args.dispatches, args.redis_samples) < 1 or args.interval <= 0:
        p.error("--dispatches, --redis-samples and --interval must be positive")
    return args


def run(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The whole benchmark; returns the figure line and what went wrong (lost events, drops)."""
    version = realtime_version()  # before the servers start: the code they run
    load_before = os.getloadavg()[0]
    env = harness.server_env(stream_settings(args), args.redis_url) | layer_env(args)
    with stage.set_up(args, f"bench_push_{os.getpid()}", env) as setup:
        t0 = time.perf_counter()
        stream = run_stream(args, setup)
        log(f"stream phase: {time.perf_counter() - t0:.1f} s")
        redis.Redis.from_url(args.redis_url).flushdb()  # the stream's groups go; the bare floor starts clean
        t0 = time.perf_counter()
        bare, bare_drops = floors.run_bare(args, setup, layer_env(args))
        log(f"bare Channels phase: {time.perf_counter() - t0:.1f} s")
        plain, floor = crowd.run_loop(args.client_loop, floors.redis_floors(args.redis_url, args.redis_samples))
        servers = ("daphne", "bare")
        logs = [setup.tmp / f"{kind}-{i}.log" for kind in servers for i in range(stage.SERVERS)]
        complaints = harness.server_complaints(setup.tmp / "gunicorn.log", *logs)
    load_after = os.getloadavg()[0]

    m = stream.measured
    p50, p99, top = (ms(percentile(m.delays, q)) for q in (50, 99, 100))
    redis_p99 = ms(percentile(floor.arrival, 99))
    ratio = p99 / redis_p99
    print()
    print(f"{harness.machine(load_before, load_after)} (1 min); open files {setup.open_files}")
    print(
        f"servers: gunicorn (API) + {stage.SERVERS} daphne (stream), {stream_settings(args)} ({args.layer} channel "
        f"layer, Redis socket timeout {args.redis_socket_timeout or 'as in production'}), PostgreSQL "
        f"{setup.database}, Redis {args.redis_url}; realtime/ at {version}"
    )
    print(
        f"clients: {args.clients} in one {args.client_loop} process, split over {stage.SERVERS} daphne, "
        f"connected in {stream.connect_s:.1f} s"
    )
    print(
        f"load: {args.dispatches} broadcasts to up to {args.teams_per_offer} teams, one every {args.interval} s; "
        f"stamps used {dict(m.stamps)} (sent_at = after commit; at = inside the transaction, a stand-in)"
    )
    print(
        "delays end where the bytes reached the client's socket (kernel receive time), on both sides of the "
        "ratio; 'read' ones where the client process read them"
    )
    print(table_head("delay to each receiving client"))
    print(table_row("commit → receive", m.delays))
    print(table_row("commit → read", m.read_delays))
    if len(m.by_stamp) > 1:  # events a client got from the log (catch-up, gap filling) carry no sent_at
        for kind, samples in sorted(m.by_stamp.items()):
            print(table_row(f"  of which by {kind}", samples))
    if m.by_broadcast:
        # A tail in every burst is the fan-out's own length; in a few, something else ran at their moment.
        print(table_row("first of a broadcast", [min(d) for d in m.by_broadcast.values()]))
        print(table_row("last of a broadcast", [max(d) for d in m.by_broadcast.values()]))
    print(table_row("dispatch request (HTTP)", m.request_s))
    print(table_row("bare Channels", bare.delays))
    print(table_row("bare Channels, read", bare.read_delays))
    print(table_row("Redis pub → sub", floor.arrival))
    print(table_row("Redis pub → sub, read", floor.read))
    print(table_row("Redis pub → sub, redis-py", plain))
    print(table_row("Redis pub → sub, paced", stream.paced.arrival))
    read_ratio = ms(percentile(m.read_delays, 99)) / ms(percentile(plain, 99))
    print(
        f"reads with the kernel's receive time: {wsclient.STAMPS['kernel']}, without (read time used): "
        f"{wsclient.STAMPS['read']}; ratio by read times (commit → read p99 / redis-py p99): {read_ratio:.1f}"
    )
    if stream.paced.arrival:
        paced_ratio = p99 / ms(percentile(stream.paced.arrival, 99))
        print(f"ratio to the paced floor (p99 / paced Redis p99; not the target's): {paced_ratio:.1f}")
    print(crowd.cpu_report("stream", m))
    print(crowd.cpu_report("bare Channels", bare))
    print(
        f"deliveries: stream {m.expected - m.missing}/{m.expected} (missing {m.missing}, misrouted {m.misrouted}, "
        f"duplicates {m.duplicates}); bare {bare.expected - bare.missing}/{bare.expected}"
    )
    rss = " / ".join(f"daphne {i + 1}: {' → '.join(f'{kb / 1024:.0f}' for kb in r)}" for i, r in enumerate(stream.rss))
    print(f"RSS MB (started → {args.clients // stage.SERVERS} connected → end): {rss}")
    print(f"drops={len(stream.drops)}")
    for conn in stream.drops[:5]:
        print(f"  client {conn.index} (team {conn.team}): {conn.dropped}")
    target = min(40 * redis_p99, 100.0)
    print(
        f"target: p99 ≤ 40 × Redis p99 and ≤ 100 ms, here ≤ {target:.1f} ms: "
        f"{'met' if p99 <= target else 'missed'} (p99 {p99:.1f} ms, ratio {ratio:.1f})"
    )
    if complaints:
        print(f"server logs ({len(complaints)} lines at WARNING or above, first 10):")
        print("\n".join(f"  {line}" for line in complaints[:10]))
    problems = [p for p in [m.faults()] if p]
    if stream.drops:
        problems.append(f"{len(stream.drops)} stream connections dropped")
    if bare.missing or bare_drops:
        problems.append(f"bare floor: {bare.missing} deliveries missing, {len(bare_drops)} connections dropped")
    if not m.delays or not bare.delays:
        raise BenchError("no delivery was timed")
    line = (
        f"clients={args.clients} p50_ms={p50:.2f} p99_ms={p99:.2f} max_ms={top:.2f} "
        f"channels_p99_ms={ms(percentile(bare.delays, 99)):.2f} redis_p99_ms={redis_p99:.3f} ratio={ratio:.1f}"
    )
    return line, problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/push.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
