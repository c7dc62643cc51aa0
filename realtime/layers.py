"""The Redis channel layer, with a connection pool that waits when all its connections are busy.

channels_redis builds redis-py's plain asyncio pool, which raises MaxConnectionsError at
once when a command finds all `max_connections` (default 100) in use. One daphne process
holds hundreds of stream connections, and they join or leave their groups together (a
server start, a network drop, a shutdown): bench/push.py logged about a thousand such
errors at teardown, and every failed leave kept a dead channel in its group for a day.
BlockingConnectionPool takes the same options, plus `timeout`: how long a command waits
for a connection before failing. Settings: config/settings/base.py, CHANNEL_LAYERS.
"""

from typing import Any

from channels_redis.core import RedisChannelLayer as CoreRedisChannelLayer
from redis.asyncio import BlockingConnectionPool


class RedisChannelLayer(CoreRedisChannelLayer):
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        if "master_name" in host:
            return super().create_pool(index)  # Sentinel: channels_redis's own pool, which does not wait
        if "address" in host:
            return BlockingConnectionPool.from_url(host.pop("address"), **host)
        return BlockingConnectionPool(**host)
