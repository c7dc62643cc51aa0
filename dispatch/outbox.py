"""The task outbox: tasks a committed change sends, by name, from a thread of its own.

It imports no service and no task module: services name the tasks they send
("dispatch.tasks.expire_offer"), and the outbox looks each up in the Celery app's registry
when it sends (dispatch.apps imports the tasks, so every process has them registered).
"""

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
from datetime import datetime
from typing import Any

from celery import current_app
from celery.signals import worker_process_shutdown
from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# After a failed send, sends are skipped this long (the sweep makes up for them).
BROKER_BACKOFF_S = 5.0
# The outbox sends this long after the first task of a burst: a transaction's tasks go out
# together (one broker connection), and after the CPU has gone to pushing its events.
OUTBOX_GATHER_S = 0.05


# A task's name, its arguments and its ETA, as enqueue got them.
_Send = tuple[str, tuple[Any, ...], datetime | None]


class _Outbox:
    """Sends committed transactions' tasks from a thread of its own.

    A broadcast commits some thirty tasks (two timers and a notification per offer), about
    1 ms of CPU each to send. Sent by the committing thread, they held the dispatcher's
    response for 30 ms, and took that CPU at the moment the stream processes were
    pushing the offers to phones on the same cores. Nothing waits on them: the timers
    are minutes away and a notification may leave a moment later. A process that dies
    with tasks still here loses only their messages; the sweep finds the work in the
    database (the sweep, dispatch.tasks).
    """

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Send] = queue.SimpleQueue()
        # Held from taking a burst out of the queue until it is sent, so a flush that finds
        # the queue empty has waited for the burst another thread took before it.
        self._sending = threading.Lock()
        self._waiting = threading.Event()
        self._started = False  # the outbox thread, in this process
        self._down_until = 0.0
        os.register_at_fork(after_in_child=self._start_afresh)

    def _start_afresh(self) -> None:
        """In a forked child (a gunicorn or Celery worker): nothing of the parent's outbox.

        The parent's thread stays with the parent and sends what the parent had queued; here
        those tasks would go out twice, and a lock or event that thread held at the fork would
        stay held, so the child's first flush (at exit, say) would wait forever.
        """
        self._queue = queue.SimpleQueue()
        self._sending = threading.Lock()
        self._waiting = threading.Event()
        self._started = False

    def put(self, task: str, args: tuple[Any, ...], eta: datetime | None) -> None:
        if not self._started:  # first use, here or in a forked child
            self._started = True
            threading.Thread(target=self._run, name="task-outbox", daemon=True).start()
        self._queue.put((task, args, eta))
        self._waiting.set()

    def flush(self) -> None:
        """Send, from this thread, whatever was put before and is not sent yet (at exit; tests).

        Returns once all of it is with the broker, the part the outbox thread was sending too:
        a task sent directly after a flush is queued behind them.
        """
        with self._sending:
            self._send(self._take())

    def _run(self) -> None:
        while True:
            # The burst stays in the queue while it gathers: a flush meanwhile sends it itself.
            self._waiting.wait()
            time.sleep(OUTBOX_GATHER_S)
            self._waiting.clear()
            self.flush()

    def _take(self) -> list[_Send]:
        taken: list[_Send] = []
        with contextlib.suppress(queue.Empty):
            while True:
                taken.append(self._queue.get_nowait())
        return taken

    def _send(self, items: list[_Send]) -> None:
        if not items:
            return
        if time.monotonic() < self._down_until:
            logger.warning("broker down a moment ago: %d tasks left to the sweep", len(items))
            return  # it failed a moment ago: do not wait on it again for every burst
        sent = 0
        try:
            with current_app.producer_or_acquire() as producer:
                for name, args, eta in items:
                    current_app.tasks[name].apply_async(args, eta=eta, producer=producer)
                    sent += 1
        except Exception:
            self._down_until = time.monotonic() + BROKER_BACKOFF_S
            logger.warning(
                "could not enqueue %s%s and %d more; the sweep will do them",
                items[sent][0],
                items[sent][1],
                len(items) - sent - 1,
                exc_info=True,
            )


_outbox = _Outbox()
atexit.register(_outbox.flush)


@worker_process_shutdown.connect
def _flush_outbox_of_worker(**_kwargs: Any) -> None:
    _outbox.flush()


def flush_outbox() -> None:
    """Send the tasks the outbox holds now, from the calling thread."""
    _outbox.flush()


def enqueue(task: str, *args: Any, eta: datetime | None = None) -> None:
    """Send a task without failing or holding the caller (a request whose change has committed).

    Eager (no broker), it runs here and now. Otherwise the outbox sends it a moment later;
    with the broker down the change is already safe in the database and the sweep finds the
    due work there once the broker is back, so a failed send is logged, not raised.
    """
    if settings.CELERY_TASK_ALWAYS_EAGER:
        current_app.tasks[task].apply_async(args, eta=eta)  # in-process, an error is the task's own: let it show
        return
    _outbox.put(task, args, eta)


def enqueue_after_commit(task: str, *args: Any, eta: datetime | None = None) -> None:
    """Send a task once the caller's transaction commits (a rolled-back change sends nothing)."""
    transaction.on_commit(lambda: enqueue(task, *args, eta=eta))
