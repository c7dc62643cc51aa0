"""bench/push_floors.py's Redis floor: a publish reaches a bare subscriber, timed by the kernel's receive time."""

import asyncio
import os
import time

import pytest

from bench import push_floors, wsclient

requires_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: run with REDIS_URL=redis://…")


@requires_redis
def test_a_round_trip_is_timed_from_the_publish_to_the_subscriber_socket() -> None:
    async def story() -> list[tuple[float, float]]:
        async with push_floors.FloorProbe(os.environ["REDIS_URL"]) as probe:
            return [await probe.once() for _ in range(20)]

    with wsclient.kernel_stamping():
        before = time.time()
        trips = asyncio.run(story())
        took = time.time() - before
    assert all(0 < arrived <= read < took for arrived, read in trips)


@requires_redis
def test_a_probe_sees_only_its_own_channel() -> None:
    async def story() -> None:
        url = os.environ["REDIS_URL"]
        async with push_floors.FloorProbe(url) as one, push_floors.FloorProbe(url) as other:
            assert one.channel != other.channel
            await one.once()
            await other.once()  # a message of the other's channel would make it fail: "Redis answered …"

    asyncio.run(story())
