"""Just enough Django for a Channels consumer on the Redis layer: no database, no apps, no auth."""

import os
import secrets

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or secrets.token_urlsafe(50)
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict] = {}
USE_TZ = True
# The same layer configuration as config/settings/base.py, so only the consumer's work differs;
# bench/push.py --layer pubsub swaps in the pub/sub layer here and in the stream alike.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": os.environ.get("BENCH_CHANNEL_LAYER", "channels_redis.core.RedisChannelLayer"),
        "CONFIG": {"hosts": [os.environ["REDIS_URL"]]},
    }
}
