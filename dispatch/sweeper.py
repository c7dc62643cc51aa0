"""The periodic sweep inside the server process, for the embedded default (no broker, no beat).

With Redis, Celery beat schedules `dispatch.tasks.sweep` and this thread is not started.
"""

import logging
import threading

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_started = threading.Event()


def sweep_once() -> dict[str, int]:
    from realtime.tasks import board_tick

    from .tasks import refresh_team_stats, sweep

    counts = sweep()
    refresh_team_stats()
    board_tick()  # the boards' figures, which beat would send with a broker
    return counts


def _loop(stop: threading.Event) -> None:
    while not stop.wait(settings.SWEEP_INTERVAL_S):
        try:
            sweep_once()
        except Exception:
            logger.exception("in-process sweep failed; trying again in %ss", settings.SWEEP_INTERVAL_S)
        finally:
            # A thread's connection outlives requests: give it back so it is never stale.
            close_old_connections()


def start_in_process_sweeps() -> threading.Event | None:
    """Start the sweep thread once per process when SWEEP_IN_PROCESS is on; returns its stop switch."""
    if not settings.SWEEP_IN_PROCESS or _started.is_set():
        return None
    _started.set()
    stop = threading.Event()
    threading.Thread(target=_loop, args=(stop,), name="dispatch-sweeper", daemon=True).start()
    logger.info("timers: sweeping every %ss in this process (no broker)", settings.SWEEP_INTERVAL_S)
    return stop
