"""Celery beat inside the server process, for the embedded default (no broker, no beat).

It runs the entries of CELERY_BEAT_SCHEDULE — the sweep, the team-record roll-up, the
board ticks — each at its own interval, in-process. With Redis, Celery beat runs the
same schedule and this thread is not started.
"""

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

_started = threading.Event()
SWEEP_ENTRY = "dispatch-sweep"


def _run(name: str) -> Any:
    # A task's name is its function's dotted path; calling the task runs it here and now.
    return import_string(settings.CELERY_BEAT_SCHEDULE[name]["task"])()


def sweep_once() -> dict[str, int]:
    """Every beat entry once; returns what the sweep found due."""
    results = {name: _run(name) for name in settings.CELERY_BEAT_SCHEDULE}
    return results[SWEEP_ENTRY]


def _loop(stop: threading.Event) -> None:
    intervals = {name: float(entry["schedule"]) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    due = {name: time.monotonic() + interval for name, interval in intervals.items()}
    while not stop.wait(max(0.0, min(due.values()) - time.monotonic())):
        for name in [n for n, at in due.items() if at <= time.monotonic()]:
            try:
                _run(name)
            except Exception:
                logger.exception("in-process %s failed; trying again in %ss", name, intervals[name])
            finally:
                # A thread's connection outlives requests: give it back so it is never stale.
                close_old_connections()
            due[name] = time.monotonic() + intervals[name]


def start_in_process_sweeps() -> threading.Event | None:
    """Start the beat thread once per process when SWEEP_IN_PROCESS is on; returns its stop switch."""
    if not settings.SWEEP_IN_PROCESS or _started.is_set():
        return None
    _started.set()
    stop = threading.Event()
    threading.Thread(target=_loop, args=(stop,), name="dispatch-sweeper", daemon=True).start()
    logger.info("timers: running the beat schedule in this process (no broker)")
    return stop
