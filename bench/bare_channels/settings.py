"""Just enough Django for a Channels consumer on the Redis layer: no database, no apps, no auth."""

import os
import secrets
from typing import Any

from config.settings.base import CHANNEL_LAYERS as PRODUCTION_CHANNEL_LAYERS

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict] = {}
USE_TZ = True


def bench_channel_layers(production: dict[str, Any]) -> dict[str, Any]:
    """The production layer's set-up (the same REDIS_URL) with bench/push.py's --layer and --redis-socket-timeout.

    Shared with bench/push_settings.py, so the stream and the floor differ only in the consumer's work.
    """
    default = production["default"]
    backend = os.environ.get("BENCH_CHANNEL_LAYER") or default["BACKEND"]
    host = dict(default["CONFIG"]["hosts"][0])
    if os.environ.get("BENCH_REDIS_SOCKET_TIMEOUT"):
        host["socket_timeout"] = float(os.environ["BENCH_REDIS_SOCKET_TIMEOUT"])
    if backend != default["BACKEND"]:
        # Another layer builds channels_redis's own pool, which takes no wait timeout.
        host.pop("timeout", None)
    return {"default": {"BACKEND": backend, "CONFIG": {"hosts": [host]}}}


CHANNEL_LAYERS = bench_channel_layers(PRODUCTION_CHANNEL_LAYERS)
