"""The after-commit push never holds up the request that committed, and a failing Redis causes no pile-up."""

import asyncio
import threading

import pytest

from realtime import events

from .processes import wait_until


class StuckLayer:
    """A channel layer whose Redis hangs until released, or fails at once."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.release = threading.Event()
        self.attempts: list[str] = []

    async def group_send(self, group: str, message: dict) -> None:
        self.attempts.append(message["event"]["type"])
        if self.fail:
            raise ConnectionError("Redis is down")
        while not self.release.is_set():
            await asyncio.sleep(0.01)


@pytest.fixture
def sender(monkeypatch):
    fresh = events._Sender()
    monkeypatch.setattr(events, "_sender", fresh)
    yield fresh
    fresh.close()


def push(layer, monkeypatch, *types: str) -> threading.Thread:
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)

    def run() -> None:
        for seq, type in enumerate(types, start=1):
            events._send(["team.1"], {"seq": seq, "type": type})

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_request_returns_while_redis_hangs_and_the_pushes_follow_in_order(sender, monkeypatch, settings):
    settings.STREAM_PUSH_TIMEOUT_SECONDS = 3600
    layer = StuckLayer()
    request = push(layer, monkeypatch, "offer.created", "offer.accepted", "order.accepted")
    request.join(timeout=10)
    assert not request.is_alive()
    wait_until(lambda: layer.attempts, what="the first push")
    assert layer.attempts == ["offer.created"]
    layer.release.set()
    wait_until(lambda: len(layer.attempts) == 3, what="the other pushes")
    assert layer.attempts == ["offer.created", "offer.accepted", "order.accepted"]


def test_after_a_failed_push_the_next_ones_are_dropped_not_queued(sender, monkeypatch):
    monkeypatch.setattr(sender, "PAUSE_AFTER_FAILURE_S", 3600)
    layer = StuckLayer(fail=True)
    push(layer, monkeypatch, "offer.created", "offer.accepted", "order.accepted").join(timeout=10)
    wait_until(lambda: sender.dropped == 3, what="the pushes to be dropped")
    # Only the first reached for Redis; the log holds all three for the clients' catch-up.
    assert layer.attempts == ["offer.created"]


def test_a_live_push_is_stamped_when_sent_and_the_log_keeps_no_stamp(story, django_capture_on_commit_callbacks):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.utils.dateparse import parse_datetime

    from realtime import groups as g
    from realtime.models import Event

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(g.team(story.team.pk), channel)
    with django_capture_on_commit_callbacks(execute=True):
        story.dispatching()
    message = async_to_sync(layer.receive)(channel)
    sent_at = parse_datetime(message["event"]["sent_at"])
    assert sent_at is not None and "." in message["event"]["sent_at"]
    assert sent_at >= parse_datetime(message["event"]["at"])
    assert "sent_at" not in Event.objects.get(pk=message["event"]["seq"]).payload
