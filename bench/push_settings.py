"""The production settings with the channel layer bench/push.py was asked for: what its stream serves.

Without options bench/push.py serves config.settings.production itself. `--layer pubsub`
swaps in the Redis pub/sub layer (one PUBLISH per group, each process fans out in
memory, where the core layer stores a copy per receiving channel and each process
pops them one after another); `--redis-socket-timeout S` gives the layer's Redis
connections a socket timeout other than the production settings' 10 s. Both compare
set-ups without touching the production settings, and change the bare floor alike
(bench/bare_channels/settings.py).
"""

from bench.bare_channels.settings import bench_channel_layers
from config.settings.production import *  # noqa: F403
from config.settings.production import CHANNEL_LAYERS as PRODUCTION_CHANNEL_LAYERS

CHANNEL_LAYERS = bench_channel_layers(PRODUCTION_CHANNEL_LAYERS)
