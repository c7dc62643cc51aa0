"""The stream's fast path: on only with STREAM_FAST_PATH=1, and only if every internal it needs is there.

By default the stream runs on stock parts: channels_redis's own RedisChannelLayer, daphne and
Twisted as they ship. The fast path (`realtime/layers.py`: batched group sends and one reader
per process; `realtime/transport.py`: writes sent at once and frames shared; `realtime/keeper.py`:
a frozen collector) reaches into other packages' private attributes, listed in INTERNALS; the
packages are pinned in requirements.txt. At start-up `usable()` checks each one; if any is
missing, it logs one warning and the stock path runs instead.
"""

import functools
import importlib
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer as StockRedisChannelLayer
from django.conf import settings

from . import keeper, layers, transport

logger = logging.getLogger(__name__)

# Every attribute of another package that the fast path reads or replaces: (module, dotted attribute).
INTERNALS = (
    ("channels_redis.core", "RedisChannelLayer._group_key"),
    ("channels_redis.core", "RedisChannelLayer._map_channel_keys_to_connection"),
    ("channels_redis.core", "RedisChannelLayer.consistent_hash"),
    ("twisted.internet.tcp", "Connection.write"),
    ("daphne.ws_protocol", "WebSocketProtocol.serverSend"),
    ("daphne.server", "Server.handle_reply"),
    ("autobahn.websocket.protocol", "PreparedMessage"),
    ("autobahn.websocket.protocol", "WebSocketProtocol.sendMessage"),
)


def missing() -> list[str]:
    """The internals that are not where the fast path expects them."""
    gaps = []
    for module_name, dotted in INTERNALS:
        try:
            found: Any = importlib.import_module(module_name)
            for part in dotted.split("."):
                found = getattr(found, part)
        except (ImportError, AttributeError):
            gaps.append(f"{module_name}.{dotted}")
    return gaps


@functools.cache
def usable() -> bool:
    """Whether the fast path runs in this process: asked for, and every internal present (checked once)."""
    if not settings.STREAM_FAST_PATH:
        return False
    gaps = missing()
    if gaps:
        logger.warning("STREAM_FAST_PATH is on but %s is missing: the stream runs on stock parts", ", ".join(gaps))
        return False
    return True


def redis_layer(**config: Any) -> Any:
    """The channel layer of CHANNEL_LAYERS when the fast path is asked for (channels builds it with this)."""
    if usable():
        return layers.RedisChannelLayer(**config)
    # The stock layer takes only what redis-py's plain pool takes.
    hosts = [{key: value for key, value in host.items() if key != "timeout"} for host in config.pop("hosts", [])]
    return StockRedisChannelLayer(hosts=hosts, **config)


def install_in_process() -> None:
    """In a stream process (config/asgi.py): the transport's direct writes and the frozen collector."""
    if not usable():
        return
    transport.install()
    keeper.prepare_process()
