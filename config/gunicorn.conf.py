# ruff: noqa: N999 -- gunicorn's conventional file name, loaded with -c, never imported.
"""Production gunicorn for the WSGI side (`gunicorn -c config/gunicorn.conf.py config.wsgi`).

The HTTP API is served here; WebSockets go to daphne (config.asgi). Every value
can be set from the environment; the defaults are the setup bench/lifecycle.py
measured best (figures in bench/README section of the project README).
Command-line flags override this file.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Measured on 2 cores (bench/lifecycle.py, 8 clients): WORKER_FIGURES below.
# Threads let a worker overlap its PostgreSQL and Redis round trips; each thread
# keeps its own database connection (CONN_MAX_AGE), so connections =
# workers x threads per server process.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.environ.get("GUNICORN_THREADS", 4))

# Behind a reverse proxy, which keeps its own connections to us open.
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
# Recycle workers now and then to bound slow leaks; jitter keeps them from restarting together.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 0))
max_requests_jitter = int(os.environ.get("GUNICORN_MAX_REQUESTS_JITTER", 0))

# Django is imported once in the master and forked: faster start, shared pages.
# No connection is opened at import time, so no socket is shared across the fork.
preload_app = os.environ.get("GUNICORN_PRELOAD", "true").lower() in {"1", "true", "yes"}

# The proxy terminates TLS and sets X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER).
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
