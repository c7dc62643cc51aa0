"""Tests: the same settings as the run mode, with fast hashing and no throttling surprises."""

import os

from .base import *  # noqa: F403
from .base import PRIVATE_FILES_URL, REST_FRAMEWORK, env

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "private": {"BACKEND": "django.core.files.storage.InMemoryStorage", "OPTIONS": {"base_url": PRIVATE_FILES_URL}},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {
        "auth": "1000/min",
        "order_place": "1000/min",
        "verify": "1000/min",
        "message": "1000/min",
        "comment": "1000/min",
        "like": "1000/min",
        "vote": "1000/min",
    },
}
# Tests serve static files from the apps (finders), not from a collected folder.
STATIC_ROOT = None  # type: ignore[assignment]  # no collected folder in tests
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not shared-cache memory: shared cache locks whole tables and ignores the
    # busy timeout, so concurrent writers would fail instead of queueing.
    # One file per test run, so that runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / f".test-db-{os.getpid()}.sqlite3")}  # noqa: F405
    # A throwaway file need not survive a power cut: skip the fsyncs.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"  # noqa: F405

# Tasks run in the test's process unless a test starts a real worker (which sets this false).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
SWEEP_IN_PROCESS = False
