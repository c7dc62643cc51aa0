# ruff: noqa: N999 -- gunicorn's conventional file name, loaded with -c, never imported.
"""Production gunicorn for the WSGI side (`gunicorn -c config/gunicorn.conf.py config.wsgi`).

The HTTP API is served here; WebSockets go to daphne (config.asgi). Every value
can be set from the environment; the defaults are the setup bench/lifecycle.py
measured best. Command-line flags override this file.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# One sync worker per core. The platform's requests are CPU-bound Python (with
# PostgreSQL and Redis a loopback round trip away), so more processes or threads
# than cores only add switching and GIL contention. bench/lifecycle.py on 2 cores,
# 8 clients, 7 runs each on a shared machine, median transitions/s, ceiling
# requests/s, lifecycle p99:
#   sync 2: 25.7/s, 612/s, 431 ms     sync 3: 23.2/s, 503/s, 523 ms (3 runs)
#   sync 4: 20.4/s, 382/s, 695 ms     gthread 2x4: 24.5/s, 579/s, 634 ms
#   gthread 4x4: 18.9/s, 527/s, 974 ms
# With the database on another machine, requests wait longer on I/O: measure
# again and raise WEB_CONCURRENCY (or use gthread) there. A sync worker holds no
# keep-alive connections and trusts the proxy in front (nginx) to buffer slow clients.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "sync")
# More than one thread turns a sync worker into gthread; each thread keeps its own
# database connection (CONN_MAX_AGE): connections = workers x threads.
threads = int(os.environ.get("GUNICORN_THREADS", 1))

# Only for gthread workers (sync workers close each connection after the response).
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", 5))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", 30))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", 20))
# Set to recycle each worker after that many requests (bounds slow leaks); off by default.
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
