# ruff: noqa: N999 -- gunicorn's conventional file name, loaded with -c, never imported.
"""Production gunicorn for the WSGI side (`gunicorn -c config/gunicorn.conf.py config.wsgi`).

The HTTP API is served here; WebSockets go to daphne (config.asgi). Every value
can be set from the environment; the defaults are the setup bench/lifecycle.py
measured best. Command-line flags override this file.
"""

import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")

# Sync workers, two per core. bench/lifecycle.py on 2 cores, 8 clients, on a
# shared and noisy machine (load 1-5 besides the run; runs vary by +-20 %), medians
# of lifecycle transitions/s, ceiling requests/s and lifecycle p99:
#   sync 2       49.6/s  737/s  234 ms   (6 runs)
#   sync 3       54.2/s  689/s  197 ms   (6 runs)
#   sync 4       51.3/s  783/s  214 ms   (6 runs)
#   sync 5       47.3/s  640/s  240 ms   (3 runs)
#   gthread 2x4  53.1/s  810/s  307 ms   (3 runs)
#   gthread 4x4  59.2/s  807/s  339 ms   (3 runs)
# Sync 2 to 5 are level within the noise; threads cost p99 (the GIL: requests are
# CPU-bound Python). Two per core leaves room for the waits on PostgreSQL and
# Redis, which are longer once they run on other machines than here on loopback;
# measure again there. A sync worker keeps no connection alive and relies on the
# proxy in front (nginx) to buffer slow clients.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
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


def post_worker_init(worker) -> None:
    """Freeze what the worker has built (Django, the app): no full collection walks it again.

    bench/push.py saw full collections of 168-228 ms in every worker (the after-commit
    sender thread waits for the GIL through them, so a push waits too); with the freeze
    they took 6-10 ms. Called after the app is loaded, preloaded in the master or not.
    """
    gc.freeze()
