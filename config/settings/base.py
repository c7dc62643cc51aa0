"""Settings shared by every run mode.

Every value that differs between machines is read from the environment; the
embedded default (SQLite, in-memory channel layer, eager Celery) is written next
to it so that a fresh machine runs with nothing installed.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("DJANGO_SECRET_KEY", default="embedded-default-not-secret-civic-dispatch")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_htmx",
    "formtools",
    "accounts",
    "dispatch",
    "requests_app",
    "volunteers",
    "records",
    "publicity",
    "realtime",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context.display",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
# Embedded default: SQLite. IMMEDIATE transactions take the write lock when the
# atomic block opens, so two writers never both read the old state and race.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    # Kept connections: a new PostgreSQL connection per request costs more than
    # the request itself (see bench/lifecycle.py).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # The candidate search is the one server-side prepared statement (dispatch.selectors; Django
    # binds everything else on the client, where nothing is prepared). Django turns psycopg's
    # prepared statements off unless given a threshold; with one that nothing reaches, only a
    # statement that asks (prepare=True) is prepared: parsed once per connection, not per search.
    # Its plan is the same for every order, but left to choose, PostgreSQL would plan it anew
    # each time: 0.35 ms at a million teams, 1 ms at 405.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options.setdefault("prepare_threshold", 2**31 - 1)
    options.setdefault("options", "-c plan_cache_mode=force_generic_plan")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer, Celery broker, cache --------------------------
REDIS_URL = env("REDIS_URL", default="")

# The stream's fast path (realtime/fastpath.py): off unless asked for; stock channels_redis otherwise.
STREAM_FAST_PATH = env.bool("STREAM_FAST_PATH", default=False)

if REDIS_URL:
    redis_host = {
        "address": REDIS_URL,
        # The layer waits for messages with a 5 s blocking read; redis-py's default 5 s socket
        # timeout would cut that read and kill an idle consumer.
        "socket_timeout": 10,
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [redis_host]}}
    }
    if STREAM_FAST_PATH:
        CHANNEL_LAYERS["default"] = {
            # realtime.layers.RedisChannelLayer when its internals check out, else the stock layer.
            "BACKEND": "realtime.fastpath.redis_layer",
            "CONFIG": {
                "hosts": [
                    {
                        **redis_host,
                        # Per process and event loop; a command finding all in use waits for one
                        # (BlockingConnectionPool) up to `timeout` instead of failing at once.
                        "max_connections": 100,
                        "timeout": 10,
                    }
                ]
            },
        }
    # Rate limits live here; with Redis down they are not enforced rather than failing log-in.
    CACHES = {"default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
# Without a broker the tasks run in the caller's process (embedded default).
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
# Deployments (or test runs) sharing one Redis keep their messages apart by queue name.
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_TASK_DEFAULT_QUEUE", default="celery")
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "Asia/Shanghai"
# A message a worker took and never acknowledged (it died) goes back to the queue after
# this long; it must outlast the longest countdown (an offer's expiry), or timers would
# be delivered twice — harmless, the tasks are idempotent, but wasted.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_S", default=2 * 3600)}
# Tasks are sent from after commit (dispatch.tasks.enqueue): with the broker down, give up
# quickly — the sweep finds the work in the database — instead of holding the request.
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)

# --- Live stream (DESIGN §6) ------------------------------------------------
# Phones' mobile networks drop idle connections after about a minute; a beat also
# tells the client how fresh its view is.
STREAM_HEARTBEAT_SECONDS = env.float("STREAM_HEARTBEAT_SECONDS", default=25.0)
# The dispatchers' boards get live figures this often.
STREAM_BOARD_TICK_SECONDS = env.float("STREAM_BOARD_TICK_SECONDS", default=15.0)
# The after-commit push gives up on Redis after this; the client catches up from the log.
STREAM_PUSH_TIMEOUT_SECONDS = env.float("STREAM_PUSH_TIMEOUT_SECONDS", default=1.0)
CELERY_BEAT_SCHEDULE = {
    "stream-board-tick": {"task": "realtime.tasks.board_tick", "schedule": STREAM_BOARD_TICK_SECONDS},
}

# --- Auth -----------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
# One-time sign-in codes (accounts.services): lifetime, tries, and how often a phone or an address may ask.
SIGNIN_CODE_TTL = timedelta(minutes=env.int("SIGNIN_CODE_TTL_MINUTES", default=5))
SIGNIN_CODE_MAX_TRIES = env.int("SIGNIN_CODE_MAX_TRIES", default=5)
SIGNIN_CODE_RESEND_S = env.int("SIGNIN_CODE_RESEND_S", default=60)
SIGNIN_CODES_PER_PHONE_HOUR = env.int("SIGNIN_CODES_PER_PHONE_HOUR", default=5)
SIGNIN_CODES_PER_ADDRESS_HOUR = env.int("SIGNIN_CODES_PER_ADDRESS_HOUR", default=30)
# Wrong passwords for one account from one address before it must wait a quarter of an hour.
SIGNIN_PASSWORD_MAX_FAILURES = env.int("SIGNIN_PASSWORD_MAX_FAILURES", default=10)

# --- i18n -----------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files -------------------------------------------
STATIC_URL = "/static/"
# The project's own browser files and, under vendor/, the third-party ones (with version and licence).
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "media")))
# Uploads are private: no web server serves MEDIA_ROOT; the API hands each file to those who may see it.
PRIVATE_FILES_URL = "/api/v1/files/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "private": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT / "private", "base_url": PRIVATE_FILES_URL},
    },
    # Hashed names: browsers keep static files for a year instead of asking again every minute.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
# A completion photo larger than this answers 413; one of more pixels than this is refused before decoding.
PHOTO_MAX_BYTES = env.int("PHOTO_MAX_BYTES", default=10 * 1024 * 1024)
PHOTO_MAX_PIXELS = env.int("PHOTO_MAX_PIXELS", default=40_000_000)
PHOTO_MAX_COUNT = env.int("PHOTO_MAX_COUNT", default=9)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- REST API --------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "common.jsonparse.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_FILTER_BACKENDS": ["common.filters.FilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.Pagination",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env("THROTTLE_AUTH", default="30/min"),
        "order_place": env("THROTTLE_ORDER_PLACE", default="30/min"),
        "verify": env("THROTTLE_VERIFY", default="60/min"),
        "message": env("THROTTLE_MESSAGE", default="5/hour"),
        "comment": env("THROTTLE_COMMENT", default="20/hour"),
        "like": env("THROTTLE_LIKE", default="60/min"),
        "vote": env("THROTTLE_VOTE", default="10/min"),
    },
    "PAGE_SIZE": 20,
}

# Client JSON nests no deeper than this (the API's deepest request has three levels).
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=32)

SPECTACULAR_SETTINGS = {
    "TITLE": "Civic Dispatch API",
    "DESCRIPTION": "群众点单 → 中心派单 → 志愿者接单 → 群众评单 → 媒体宣传",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Served from the sidecar package: the docs work with no internet.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every operation documents the error answers it can give (config.schema).
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "config.schema.document_errors"],
    "ENUM_NAME_OVERRIDES": {
        "OrderStateEnum": "dispatch.choices.OrderState",
        "OfferStateEnum": "dispatch.choices.OfferState",
    },
}

# --- Domain rules (DESIGN §3) ----------------------------------------------
OFFER_EXPIRY = timedelta(minutes=env.int("OFFER_EXPIRY_MINUTES", default=15))
ESCALATE_AFTER = timedelta(minutes=env.int("ESCALATE_AFTER_MINUTES", default=120))
AUTO_CLOSE_AFTER = timedelta(days=env.int("AUTO_CLOSE_AFTER_DAYS", default=7))
# A check-in by GPS counts when the volunteer stands this close to the order.
CHECKIN_RADIUS_M = env.int("CHECKIN_RADIUS_M", default=500)
# An order's time window may open at most this far ahead and last at most this long.
ORDER_MAX_LEAD = timedelta(days=env.int("ORDER_MAX_LEAD_DAYS", default=90))
ORDER_MAX_WINDOW = timedelta(hours=env.int("ORDER_MAX_WINDOW_HOURS", default=72))
# Star levels (星级志愿者): hours on record needed for one to five stars.
STAR_LEVEL_HOURS = [int(h) for h in env.list("STAR_LEVEL_HOURS", default=["100", "300", "600", "1000", "1500"])]
# Hours a volunteer may report for one order (in 0.5 h steps).
MAX_HOURS_PER_ORDER = env.float("MAX_HOURS_PER_ORDER", default=24.0)
# Certificates of service embed this TrueType font (.ttf or .ttc) for their Chinese text.
CERTIFICATE_FONT = env.str(
    "CERTIFICATE_FONT", default=str(BASE_DIR / "records" / "fonts" / "wqy-microhei-0.2.0-beta" / "wqy-microhei.ttc")
)
# Where the public can reach this platform: certificates' QR codes point here (the request's own address if empty).
PUBLIC_URL = env.str("PUBLIC_URL", default="")
# An export still queued after this long (its task message lost) is sent to a worker again.
EXPORT_RESEND_AFTER = timedelta(minutes=env.int("EXPORT_RESEND_AFTER_MINUTES", default=5))
# Exports stop at this many rows (a province's year of ledger entries fits).
EXPORT_MAX_ROWS = env.int("EXPORT_MAX_ROWS", default=5_000_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="WARNING")},
}
# No team's service radius may exceed this; it bounds the candidate prefilter.
MAX_TEAM_RADIUS_KM = env.float("MAX_TEAM_RADIUS_KM", default=50.0)

# Map tiles for the console and the board, e.g. an intranet tile server's
# "https://tiles.example.org/{z}/{x}/{y}.png"; empty (the default): the maps draw without tiles.
MAP_TILE_URL = env("MAP_TILE_URL", default="")

# --- Matching (DESIGN §4) -------------------------------------------------------
# The first search distance; it doubles (up to MAX_TEAM_RADIUS_KM) while fewer than
# MATCH_MIN_CANDIDATES teams qualify.
MATCH_SEARCH_KM = env.float("MATCH_SEARCH_KM", default=10.0)
MATCH_MIN_CANDIDATES = env.int("MATCH_MIN_CANDIDATES", default=5)
# How many candidates the API and auto-dispatch look at.
MATCH_LIMIT = env.int("MATCH_LIMIT", default=20)
# The score is a weighted mean of parts in [0, 1]; weights need not add up to 1.
MATCH_WEIGHTS = {
    "distance": env.float("MATCH_WEIGHT_DISTANCE", default=0.40),
    "load": env.float("MATCH_WEIGHT_LOAD", default=0.20),
    "acceptance": env.float("MATCH_WEIGHT_ACCEPTANCE", default=0.15),
    "rating": env.float("MATCH_WEIGHT_RATING", default=0.15),
    "response": env.float("MATCH_WEIGHT_RESPONSE", default=0.10),
}
# Distance part = 1 / (1 + km / scale): a team this far away scores half of one next door.
MATCH_DISTANCE_SCALE_KM = env.float("MATCH_DISTANCE_SCALE_KM", default=3.0)
MATCH_RESPONSE_SCALE_MIN = env.float("MATCH_RESPONSE_SCALE_MIN", default=10.0)
# A team with little record leans on these, as if it had MATCH_PRIOR_WEIGHT answers like them.
MATCH_PRIOR_WEIGHT = env.float("MATCH_PRIOR_WEIGHT", default=5.0)
MATCH_PRIOR_ACCEPTANCE = env.float("MATCH_PRIOR_ACCEPTANCE", default=0.8)
MATCH_PRIOR_RATING = env.float("MATCH_PRIOR_RATING", default=4.5)
MATCH_PRIOR_RESPONSE_MIN = env.float("MATCH_PRIOR_RESPONSE_MIN", default=10.0)


# --- Timers and notifications (DESIGN §7) ----------------------------------------
# A team is reminded of an open offer when this share of its time has passed.
OFFER_REMIND_AT = env.float("OFFER_REMIND_AT", default=2 / 3)
# Ratings at or below this tell the dispatchers.
LOW_RATING_MAX = env.int("LOW_RATING_MAX", default=2)
# Dotted paths of notification backends (dispatch.notifications: ConsoleBackend, EmailBackend, SmsBackend subclasses).
NOTIFICATION_BACKENDS = env.list("NOTIFICATION_BACKENDS", default=["dispatch.notifications.ConsoleBackend"])
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="noreply@civic-dispatch.local")
# The sweep finds every timer that is due (expiry, reminders, escalation, auto-close, unsent
# notifications) whether or not its own message arrived.
SWEEP_INTERVAL_S = env.float("SWEEP_INTERVAL_S", default=30.0)
# Without a broker (embedded default) the server process runs the sweep itself.
SWEEP_IN_PROCESS = env.bool("SWEEP_IN_PROCESS", default=not REDIS_URL)
TEAM_STATS_INTERVAL_S = env.float("TEAM_STATS_INTERVAL_S", default=300.0)
CELERY_BEAT_SCHEDULE.update(
    {
        "dispatch-sweep": {"task": "dispatch.tasks.sweep", "schedule": SWEEP_INTERVAL_S},
        "dispatch-team-stats": {"task": "dispatch.tasks.refresh_team_stats", "schedule": TEAM_STATS_INTERVAL_S},
        "records-export-resend": {
            "task": "records.tasks.exports_resend",
            "schedule": EXPORT_RESEND_AFTER.total_seconds(),
        },
    }
)
