#!/usr/bin/env python
"""Held connections: the live push's WebSocket connections kept open for minutes, with a dispatch now and then.

The platform as bench/push.py serves it (gunicorn for the API, two daphne processes for the
stream, the production settings). N clients connect and stay; one broadcast every few seconds
is checked as bench/push.py checks its own, and both stream processes' RSS is sampled. The last
line is the figure; a connection the server closes or a lost, misrouted or duplicated event
makes the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench import push_crowd as crowd  # noqa: E402
from bench import push_stage as stage  # noqa: E402
from bench.harness import BenchError, log, ms, percentile, table_head, table_row  # noqa: E402

SETTINGS = "config.settings.production"
WARM_INTERVAL_S = 0.25


def quarters(series: list[float]) -> tuple[float, float]:
    """The mean of the first and of the last quarter: a leak grows steadily, two noisy points say little."""
    q = max(1, len(series) // 4)
    return sum(series[:q]) / q, sum(series[-q:]) / q


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (about a minute): 200 clients held 30 s")
    p.add_argument("--hold-seconds", type=float, help="how long the connections are held (300; 30 with --quick)")
    p.add_argument("--hold-dispatch-every", type=float, default=5.0, help="seconds between dispatches (5)")
    p.add_argument("--rss-every", type=float, default=5.0, help="seconds between RSS samples (5)")
    stage.add_options(p, clients="1000; 200 with --quick")
    args = p.parse_args(argv)
    stage.check_options(p, args, clients=1000, quick_clients=200)
    if args.hold_seconds is None:
        args.hold_seconds = 30.0 if args.quick else 300.0
    if min(args.hold_seconds, args.hold_dispatch_every, args.rss_every) <= 0:
        p.error("--hold-seconds, --hold-dispatch-every and --rss-every must be positive")
    return args


def run(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The whole benchmark; returns the figure line and what went wrong (lost events, drops)."""
    count = max(1, int(args.hold_seconds // args.hold_dispatch_every))
    load_before = os.getloadavg()[0]
    env = harness.server_env(SETTINGS, args.redis_url)
    with stage.set_up(args, f"bench_hold_{os.getpid()}", env) as setup:
        plan = stage.dispatch_plan(setup.cast, crowd.WARM_DISPATCHES + count, args.teams_per_offer)
        with stage.serve_stream(setup.env, setup.cast, plan, setup.tmp) as stream:
            servers = stage.processes(stream.pids, args.redis_url)
            clients = crowd.Crowd("stream", stream.origins)
            series: list[tuple[float, list[int]]] = []  # (seconds in, RSS kB of each stream process)

            async def sample(started: float) -> None:
                while True:
                    series.append((time.monotonic() - started, stream.rss()))
                    left = args.hold_seconds - (time.monotonic() - started)
                    if left <= 0:
                        return
                    await asyncio.sleep(min(args.rss_every, left))

            async def phases() -> crowd.Outcome:
                await clients.open(stream.targets(setup.cast.listeners), 60)
                log(f"{len(clients.conns)} stream clients connected; holding them {args.hold_seconds:.0f} s")
                try:
                    await crowd.warm_up(clients, stream.fire, WARM_INTERVAL_S, servers)
                    _, held = await asyncio.gather(
                        sample(time.monotonic()),
                        crowd.measure(
                            clients, stream.fire, count, args.hold_dispatch_every, args.settle_seconds, servers
                        ),
                    )
                    return held
                finally:
                    await clients.close()

            held = crowd.run_loop(args.client_loop, phases())
            stream.check_alive()
        complaints = harness.server_complaints(setup.tmp / "gunicorn.log", *stream.logs)
    load_after = os.getloadavg()[0]
    drops = clients.drops()

    print()
    print(f"{harness.machine(load_before, load_after)} (1 min); open files {setup.open_files}")
    print(
        f"hold: {args.clients} connections over {stage.SERVERS} daphne ({SETTINGS}) for {args.hold_seconds:.0f} s, "
        f"one broadcast to up to {args.teams_per_offer} teams every {args.hold_dispatch_every} s"
    )
    growth = []
    for i in range(stage.SERVERS):
        values = [kb[i] / 1024 for _t, kb in series]
        first, last = quarters(values)
        growth.append((first, last))
        print(f"  daphne {i + 1} RSS MB every {args.rss_every:.0f} s: {' '.join(f'{v:.0f}' for v in values)}")
        print(
            f"    first quarter {first:.1f} MB, last quarter {last:.1f} MB, "
            f"change {last - first:+.1f} MB ({(last - first) / first * 100:+.1f} %), max {max(values):.1f} MB"
        )
    print(table_head("delay to each receiving client"))
    print(table_row("commit → receive (hold)", held.delays))
    print(crowd.cpu_report("stream", held))
    print(
        f"deliveries: {held.expected - held.missing}/{held.expected} (missing {held.missing}, "
        f"misrouted {held.misrouted}, duplicates {held.duplicates})"
    )
    for conn in drops[:5]:
        print(f"  client {conn.index} (team {conn.team}): {conn.dropped}")
    if complaints:
        print(f"server logs ({len(complaints)} lines at WARNING or above, first 10):")
        print("\n".join(f"  {line}" for line in complaints[:10]))
    problems = [p for p in [held.faults()] if p]
    if drops:
        problems.append(f"{len(drops)} stream connections dropped")
    if not held.delays:
        raise BenchError("no delivery was timed")
    # The process that grew most is the figure: a leak in one is not hidden by the other.
    first, last = max(growth, key=lambda g: (g[1] - g[0]) / g[0])
    line = (
        f"clients={args.clients} hold_s={args.hold_seconds:.0f} drops={len(drops)} rss_start_mb={first:.1f} "
        f"rss_end_mb={last:.1f} rss_growth_pct={(last - first) / first * 100:.1f} "
        f"p99_ms={ms(percentile(held.delays, 99)):.2f}"
    )
    return line, problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return harness.bench_main("bench/push_hold.py", lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
