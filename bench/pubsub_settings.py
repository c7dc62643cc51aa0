"""The production settings on the Redis pub/sub channel layer: what bench/push.py --layer pubsub serves.

The core layer (production) stores a copy of each message per receiving channel and
every daphne process pops them one Redis round trip after another; the pub/sub layer
publishes once per group and each process fans out in memory. This module lets the
benchmark compare the two without touching the production settings.
"""

from config.settings.production import *  # noqa: F403
from config.settings.production import REDIS_URL

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}
