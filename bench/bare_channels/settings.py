"""Just enough Django for a Channels consumer on the Redis layer: no database, no apps, no auth."""

import os
import secrets

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict] = {}
USE_TZ = True
# The same layer configuration as the stream's, so only the consumer's work differs;
# bench/push.py --layer and --redis-socket-timeout change both alike (see bench/push_settings.py).
_host: dict = {"address": os.environ["REDIS_URL"]}
if os.environ.get("BENCH_REDIS_SOCKET_TIMEOUT"):
    _host["socket_timeout"] = float(os.environ["BENCH_REDIS_SOCKET_TIMEOUT"])
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": os.environ.get("BENCH_CHANNEL_LAYER", "channels_redis.core.RedisChannelLayer"),
        "CONFIG": {"hosts": [_host]},
    }
}
