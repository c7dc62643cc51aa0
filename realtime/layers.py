"""The Redis channel layer: a connection pool that waits, and one send to many groups.

channels_redis builds redis-py's plain asyncio pool, which raises MaxConnectionsError at
once when a command finds all `max_connections` (default 100) in use. One daphne process
holds hundreds of stream connections, and they join or leave their groups together (a
server start, a network drop, a shutdown): bench/push.py logged about a thousand such
errors at teardown, and every failed leave kept a dead channel in its group for a day.
BlockingConnectionPool takes the same options, plus `timeout`: how long a command waits
for a connection before failing. Settings: config/settings/base.py, CHANNEL_LAYERS.

An event goes to several groups (an offer: its team and three units). channels_redis's
`group_send` costs about four Redis round trips per group, one group after another, even
for an empty group; `group_send_many` costs two per shard for all the groups at once.
"""

import asyncio
import collections
import logging
import time
from collections.abc import Iterable
from typing import Any

from channels_redis.core import RedisChannelLayer as CoreRedisChannelLayer
from redis.asyncio import BlockingConnectionPool

logger = logging.getLogger(__name__)

# channels_redis's group_send script, plus its message-expiry cleanup of each key (a
# pipeline of its own there). ARGV: a message per key, a capacity per key, then the
# score, the expiry and the score below which a message has expired.
STORE_LUA = """
local n = #KEYS
local score = ARGV[2 * n + 1]
local expiry = ARGV[2 * n + 2]
local expired = ARGV[2 * n + 3]
local over_capacity = 0
for i = 1, n do
    redis.call('ZREMRANGEBYSCORE', KEYS[i], 0, expired)
    if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[n + i]) then
        redis.call('ZADD', KEYS[i], score, ARGV[i])
        redis.call('EXPIRE', KEYS[i], expiry)
    else
        over_capacity = over_capacity + 1
    end
end
return over_capacity
"""


class RedisChannelLayer(CoreRedisChannelLayer):
    # The score of the last message stored: the next one gets a higher one even when the clock
    # has not moved or went back, since a key is read lowest score first (ties: at random).
    _last_score = 0.0

    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "master_name" in host:
            return super().create_pool(index)  # Sentinel: channels_redis's own pool, which does not wait
        if "address" in host:
            return BlockingConnectionPool.from_url(host.pop("address"), **host)
        return BlockingConnectionPool(**host)

    async def group_send_many(self, groups: Iterable[str], message: dict[str, Any]) -> None:
        """`group_send` to several groups at once: a channel in two of them gets the message once.

        One pipeline per shard holding groups reads every group's members (dropping those
        older than group_expiry, as group_send does); then one script per shard holding
        channels stores the message (channels_redis's own per-key messages, capacities and
        expiry). Two round trips per shard, however many groups; one for groups without members.
        """
        names = list(groups)
        members = await self._group_members(set(names))
        # dict, not set: the same channels in the same order every time.
        channels = list(dict.fromkeys(channel for name in names for channel in members[name]))
        if not channels:
            return
        by_connection, key_messages, key_capacities = self._map_channel_keys_to_connection(channels, message)
        score = max(time.time(), self._last_score + 1e-6)
        self._last_score = score
        expired = int(time.time()) - int(self.expiry)
        over = await asyncio.gather(
            *(
                self.connection(index).eval(
                    STORE_LUA,
                    len(keys),
                    *keys,
                    *(key_messages[key] for key in keys),
                    *(key_capacities[key] for key in keys),
                    score,
                    self.expiry,
                    expired,
                )
                for index, keys in by_connection.items()
            )
        )
        if sum(over):
            logger.info("%s of %s channels over capacity in groups %s", sum(over), len(channels), names)

    async def _group_members(self, groups: set[str]) -> dict[str, list[str]]:
        """Each group's channels, after group_send's cleanup of memberships older than group_expiry."""
        by_connection: dict[int, list[str]] = collections.defaultdict(list)
        for name in sorted(groups):
            assert self.require_valid_group_name(name), "Group name not valid"
            by_connection[self.consistent_hash(name)].append(name)
        stale = int(time.time()) - self.group_expiry

        async def read(index: int, names: list[str]) -> list[list[str]]:
            pipe = self.connection(index).pipeline(transaction=False)
            for name in names:
                pipe.zremrangebyscore(self._group_key(name), min=0, max=stale)
                pipe.zrange(self._group_key(name), 0, -1)
            replies = await pipe.execute()
            return [[channel.decode("utf8") for channel in reply] for reply in replies[1::2]]

        found = await asyncio.gather(*(read(index, names) for index, names in by_connection.items()))
        return {
            name: channels
            for names, lists in zip(by_connection.values(), found, strict=True)
            for name, channels in zip(names, lists, strict=True)
        }
