"""The bare floor's sender: `group_send` from its own process, as a server process sends after commit.

Reads one JSON command a line on stdin, `{"seq": n, "teams": [team ids]}`, sends one
offer-shaped message to each team's group (stamped `sent_at` just before its
`group_send`, as the stream stamps a live event) and answers `ok` on stdout.
Its own process, so that sending does not take the GIL from the clients that time
the receipt.

    REDIS_URL=redis://127.0.0.1:6379/12 python -m bench.bare_channels.sender
"""

import asyncio
import json
import sys
from datetime import UTC, datetime
from typing import Any

from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.utils.module_loading import import_string

from bench.bare_channels.settings import CHANNEL_LAYERS

Layer = RedisChannelLayer | RedisPubSubChannelLayer


def group(team_id: int) -> str:
    return f"bare.team.{team_id}"


async def send(layer: Layer, seq: int, teams: list[int]) -> None:
    for rank, team in enumerate(teams):
        now = datetime.now(UTC).isoformat()
        # About the size and shape of a real offer.created event, so serializing costs the same.
        event: dict[str, Any] = {
            "seq": seq,
            "type": "offer.created",
            "at": now,
            "offer": {
                "id": seq * 1000 + rank,
                "order": seq,
                "team": team,
                "state": "pending",
                "mode": "broadcast",
                "expires_at": now,
                "distance_km": 1.234,
            },
            "order": {"id": seq, "state": "dispatching", "level": "station", "priority": "normal", "team": None},
            "sent_at": datetime.now(UTC).isoformat(),
        }
        await layer.group_send(group(team), {"type": "bare.event", "event": event})


def main() -> None:
    # The floor's own layer set-up (the production one, or bench/push.py's variant of it).
    config = CHANNEL_LAYERS["default"]
    layer: Layer = import_string(config["BACKEND"])(**config["CONFIG"])
    pubsub = isinstance(layer, RedisPubSubChannelLayer)
    # One loop for the whole run: the layer pools its Redis connections per loop.
    loop = asyncio.new_event_loop()
    for line in sys.stdin:
        command = json.loads(line)
        loop.run_until_complete(send(layer, int(command["seq"]), [int(t) for t in command["teams"]]))
        print("ok", flush=True)
    loop.run_until_complete(layer.flush() if pubsub else layer.close_pools())
    loop.close()


if __name__ == "__main__":
    main()
