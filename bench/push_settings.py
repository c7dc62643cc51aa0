"""The production settings with the channel layer bench/push.py was asked for: what its stream serves.

Without options bench/push.py serves config.settings.production itself. `--layer pubsub`
swaps in the Redis pub/sub layer (one PUBLISH per group, each process fans out in
memory, where the core layer stores a copy per receiving channel and each process
pops them one after another); `--redis-socket-timeout S` gives the layer's Redis
connections a socket timeout other than redis-py's default (5 s since redis-py 8,
the same as the core layer's BZPOPMIN wait). Both compare set-ups without touching
the production settings.
"""

import os

from config.settings.production import *  # noqa: F403
from config.settings.production import REDIS_URL

_host: dict = {"address": REDIS_URL}
if os.environ.get("BENCH_REDIS_SOCKET_TIMEOUT"):
    _host["socket_timeout"] = float(os.environ["BENCH_REDIS_SOCKET_TIMEOUT"])

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": os.environ.get("BENCH_CHANNEL_LAYER", "channels_redis.core.RedisChannelLayer"),
        "CONFIG": {"hosts": [_host]},
    }
}
