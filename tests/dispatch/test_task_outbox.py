"""Tasks a change sends after commit leave from the outbox thread (dispatch.outbox._Outbox).

The caller never waits on the broker, a rolled-back change sends nothing, a broker that
fails is logged and left to the sweep (that the change itself stands and reaches the phones
is tests/realtime/test_stream_redis_outage.py); on the real broker every timer and
notification of a broadcast arrives in the queue.
"""

import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from contextlib import contextmanager

import pytest
import redis
from celery import Task
from django.db import transaction

from dispatch import outbox, tasks
from dispatch.choices import DispatchMode
from dispatch.models import Offer

from .conftest import CeleryRig, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


class FakeProducer:
    """Stands in for the broker connection: records what is sent, or blocks, or fails."""

    def __init__(self, *, gate: threading.Event | None = None, error: Exception | None = None) -> None:
        self.gate, self.error = gate, error
        self.sent: list[tuple[str, tuple]] = []
        self.threads: set[str] = set()
        self.attempts = 0

    @contextmanager
    def acquire(self):
        self.threads.add(threading.current_thread().name)
        self.attempts += 1
        if self.gate is not None:
            assert self.gate.wait(10), "the test never opened the gate"
        if self.error is not None:
            raise self.error
        yield self

    def record(self, task, args, eta=None, producer=None):
        assert producer is self
        self.sent.append((task.name, tuple(args)))


@pytest.fixture
def fake_broker(settings, monkeypatch):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    monkeypatch.setattr(outbox._outbox, "_down_until", 0.0)

    def install(fake: FakeProducer) -> FakeProducer:
        monkeypatch.setattr(outbox.current_app, "producer_or_acquire", fake.acquire)
        monkeypatch.setattr(
            Task, "apply_async", lambda task, args, eta=None, producer=None: fake.record(task, args, eta, producer)
        )
        return fake

    yield install
    outbox.flush_outbox()  # nothing of this test's left for the next one's broker


def test_a_broadcast_returns_before_its_tasks_are_sent_and_they_leave_from_the_outbox(
    story, other_team, other_leader, fake_broker
):
    gate = threading.Event()
    broker = fake_broker(FakeProducer(gate=gate))

    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)  # returns: gate is shut

    gate.set()
    # Placing the order sent one (auto-dispatch, if its unit does); the broadcast, two timers
    # and a notification per offer.
    wait_until(lambda: len(broker.sent) == 7, what="the order's and its offers' tasks")
    offers = set(Offer.objects.filter(order=order).values_list("pk", flat=True))
    timers = (tasks.expire_offer.name, tasks.remind_offer.name)
    assert {args[0] for name, args in broker.sent if name in timers} == offers
    assert Counter(name for name, _ in broker.sent) == {
        tasks.expire_offer.name: 2,
        tasks.remind_offer.name: 2,
        tasks.send_notification.name: 2,
        tasks.auto_dispatch_order.name: 1,
    }
    assert broker.threads == {"task-outbox"}


def test_a_flush_returns_once_what_was_put_before_it_is_sent_even_a_gathering_burst(fake_broker, monkeypatch):
    # A long gathering window, so the burst is surely still gathering when the flush comes.
    monkeypatch.setattr(outbox, "OUTBOX_GATHER_S", 1.0)
    broker = fake_broker(FakeProducer())

    outbox.enqueue(tasks.expire_offer.name, 1)
    outbox.enqueue(tasks.remind_offer.name, 1)
    time.sleep(0.2)  # the outbox thread has woken for the burst and is gathering it
    outbox.flush_outbox()

    assert broker.sent == [(tasks.expire_offer.name, (1,)), (tasks.remind_offer.name, (1,))]


def test_a_flush_waits_for_the_burst_the_outbox_thread_is_sending(fake_broker):
    gate = threading.Event()
    broker = fake_broker(FakeProducer(gate=gate))
    outbox.enqueue(tasks.expire_offer.name, 1)
    wait_until(lambda: broker.attempts == 1, what="the outbox thread to be sending")

    flushed = threading.Event()
    flusher = threading.Thread(target=lambda: (outbox.flush_outbox(), flushed.set()))
    flusher.start()
    assert not flushed.wait(0.3), "the flush returned while the burst was still being sent"
    gate.set()
    flusher.join(10)

    assert flushed.is_set()
    assert broker.sent == [(tasks.expire_offer.name, (1,))]


def test_a_forked_child_starts_with_an_outbox_of_its_own(fake_broker):
    # The parent's outbox thread is sending one task (its lock held) and one more waits:
    # the moment a gunicorn or Celery master might fork a worker.
    gate = threading.Event()
    broker = fake_broker(FakeProducer(gate=gate))
    outbox.enqueue(tasks.expire_offer.name, 1)
    wait_until(lambda: broker.attempts == 1, what="the outbox thread to be sending")
    outbox.enqueue(tasks.remind_offer.name, 1)

    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # the child: report what its outbox does, and leave without pytest's clean-up
        try:
            os.close(read_end)
            signal.alarm(5)  # a flush waiting on the parent's lock would hang here
            outbox.flush_outbox()
            left_over = list(broker.sent)
            broker.gate = None
            outbox.enqueue(tasks.send_notification.name, 7)
            outbox.flush_outbox()
            os.write(write_end, json.dumps({"left_over": left_over, "sent": broker.sent}).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        report = pipe.read()
    os.waitpid(child, 0)
    gate.set()
    outbox.flush_outbox()

    assert report, "the child's flush hung on the lock its parent's outbox thread held"
    # The parent's two tasks are the parent's to send, once; the child sends its own.
    assert json.loads(report) == {"left_over": [], "sent": [[tasks.send_notification.name, [7]]]}
    assert broker.sent == [(tasks.expire_offer.name, (1,)), (tasks.remind_offer.name, (1,))]


def test_a_rolled_back_change_sends_no_task(story, other_team, fake_broker):
    broker = fake_broker(FakeProducer())

    with pytest.raises(RuntimeError), transaction.atomic():
        story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)
        raise RuntimeError("changed my mind")
    outbox.flush_outbox()

    assert broker.sent == []


def test_a_failing_broker_is_logged_not_raised_and_not_tried_again_at_once(fake_broker, caplog):
    broker = fake_broker(FakeProducer(error=ConnectionRefusedError("broker away")))

    with caplog.at_level(logging.WARNING, logger="dispatch.tasks"):
        outbox.enqueue(tasks.expire_offer.name, 1)
        outbox.enqueue(tasks.remind_offer.name, 1)
        wait_until(lambda: "the sweep will do them" in caplog.text, what="the failed send's warning")
        outbox.enqueue(tasks.expire_offer.name, 2)  # within the back-off: dropped, not tried
        outbox.flush_outbox()

    assert "could not enqueue dispatch.tasks.expire_offer(1,) and 1 more" in caplog.text
    assert "broker down a moment ago: 1 tasks left to the sweep" in caplog.text
    assert broker.sent == []
    assert broker.attempts == 1  # not again for the third task


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: run with REDIS_URL=redis://…")
def test_on_the_real_broker_every_task_of_a_broadcast_reaches_the_queue(
    celery_rig: CeleryRig, story, other_team, other_leader
):
    order = story.dispatching(teams=[story.team, other_team], mode=DispatchMode.BROADCAST)
    client = redis.Redis.from_url(celery_rig.redis_url)
    try:

        def queued() -> Counter:
            return Counter(json.loads(raw)["headers"]["task"] for raw in client.lrange(celery_rig.queue, 0, -1))

        wait_until(lambda: sum(queued().values()) == 7, what="seven messages in the test's queue")
        assert queued() == {
            tasks.expire_offer.name: 2,
            tasks.remind_offer.name: 2,
            tasks.send_notification.name: 2,
            tasks.auto_dispatch_order.name: 1,
        }
        assert Offer.objects.filter(order=order).count() == 2
    finally:
        client.close()
