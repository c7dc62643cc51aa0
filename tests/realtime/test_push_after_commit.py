"""After commit: a transaction's events are pushed together, only those that committed; a bad Redis costs little.

The push runs on the thread that committed (realtime.events._flush), at the hook of the
transaction's first event: one send for all of its events. What a savepoint or a whole
transaction took back was logged and then removed from the log, and is never pushed.
"""

import contextlib
import socket
import threading

import pytest
from django.db import transaction

from realtime import events
from realtime.layers import RedisChannelLayer

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingLayer:
    """Stands in for the Redis layer: records each send of a batch."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[list[str], dict]]] = []

    def group_send_batch_sync(self, sends, *, timeout: float) -> None:
        self.batches.append(list(sends))


@pytest.fixture
def layer(monkeypatch):
    recording = RecordingLayer()
    monkeypatch.setattr(events, "get_channel_layer", lambda: recording)
    monkeypatch.setattr(events, "_pending", events._Pending())
    return recording


def pushed_types(layer: RecordingLayer) -> list[list[str]]:
    return [[message["event"]["type"] for _names, message in batch] for batch in layer.batches]


def publish(type: str) -> int:
    return events.publish(["team.1"], type, {"n": 1}).pk


def publish_in_a_savepoint_rolled_back(type: str) -> None:
    """Publish in an inner step that fails: its savepoint is rolled back, the outer transaction goes on."""
    with contextlib.suppress(RuntimeError), transaction.atomic():
        publish(type)
        raise RuntimeError("the inner step failed")


def test_a_broadcast_to_two_teams_is_pushed_in_one_send_in_seq_order(story, other_team, layer):
    from dispatch import services

    order = story.placed()
    assert pushed_types(layer) == [["order.placed"]]
    services.order_dispatch(
        order_id=order.pk, user=story.dispatcher, mode="broadcast", team_ids=[story.team.pk, other_team.pk]
    )
    [_placed, batch] = layer.batches
    assert [message["event"]["type"] for _names, message in batch] == [
        "order.dispatched",
        "offer.created",
        "offer.created",
    ]
    seqs = [message["event"]["seq"] for _names, message in batch]
    assert seqs == sorted(seqs)
    # One stamp for all: the moment the push began, right after the commit.
    assert len({message["event"]["sent_at"] for _names, message in batch}) == 1


def test_an_actions_answer_is_read_after_its_service_committed_and_pushed(story, other_team, api, layer, monkeypatch):
    # The service owns its transaction: the answer shows what committed, read outside any transaction.
    from dispatch.serializers import OrderSerializer

    seen: list[tuple[bool, int]] = []  # (inside a transaction, sends made so far), per answer
    serialize = OrderSerializer.to_representation

    def watched(serializer, order):
        seen.append((transaction.get_connection().in_atomic_block, len(layer.batches)))
        return serialize(serializer, order)

    monkeypatch.setattr(OrderSerializer, "to_representation", watched)
    order = story.placed()
    before = len(layer.batches)

    dispatched = api(story.dispatcher).post(
        f"/api/v1/orders/{order.pk}/dispatch/",
        {"mode": "broadcast", "teams": [story.team.pk, other_team.pk]},
        format="json",
    )
    assert dispatched.status_code == 200, dispatched.json()
    assert seen == [(False, before + 1)]
    assert pushed_types(layer)[-1] == ["order.dispatched", "offer.created", "offer.created"]

    offer = story.offer_of(order)
    accepted = api(story.team_leader).post(f"/api/v1/offers/{offer.pk}/accept/", format="json")
    assert accepted.status_code == 200, accepted.json()
    assert seen[1:] == [(False, before + 2)]
    assert accepted.json()["state"] == "accepted"
    assert "order.accepted" in pushed_types(layer)[-1]


def test_an_event_taken_back_by_a_savepoint_is_not_pushed_and_the_others_are(layer):
    with transaction.atomic():
        publish("first")
        publish_in_a_savepoint_rolled_back("taken.back")
        publish("last")
    assert pushed_types(layer) == [["first", "last"]]


def test_when_the_first_event_is_taken_back_the_rest_still_go(layer):
    with transaction.atomic():
        publish_in_a_savepoint_rolled_back("taken.back")
        publish("kept")
    assert pushed_types(layer) == [["kept"]]


def test_a_rolled_back_transaction_pushes_nothing_then_or_later(layer):
    with pytest.raises(RuntimeError), transaction.atomic():
        publish("rolled.back")
        raise RuntimeError("the request failed")
    assert layer.batches == []
    publish("next")
    assert pushed_types(layer) == [["next"]]


class SilentRedis:
    """A TCP server that accepts connections and never answers: a Redis that hangs."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.server.close()
        for conn in self.accepted:
            conn.close()


@pytest.fixture
def silent_redis(monkeypatch, settings):
    silent = SilentRedis()
    hanging = RedisChannelLayer(hosts=[{"address": f"redis://127.0.0.1:{silent.port}/0"}])
    monkeypatch.setattr(events, "get_channel_layer", lambda: hanging)
    monkeypatch.setattr(events, "_pending", events._Pending())
    settings.STREAM_PUSH_TIMEOUT_SECONDS = 0.2
    yield silent
    silent.close()


def test_a_push_to_a_hanging_redis_gives_up_and_the_next_ones_do_not_wait_on_it(silent_redis, monkeypatch):
    pending = events._Pending()
    # The push runs on the thread that committed: watch that thread's own state.
    monkeypatch.setattr(events, "_pending", pending)
    monkeypatch.setattr(events, "PAUSE_AFTER_FAILURE_S", 3600)
    done = []

    def request() -> None:
        events._deliver([(["team.1"], {"type": "stream.event", "n": 1})])
        events._deliver([(["team.1"], {"type": "stream.event", "n": 2})])
        events._deliver([(["team.1"], {"type": "stream.event", "n": 3})])
        done.append((pending.dropped, len(silent_redis.accepted)))

    thread = threading.Thread(target=request)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    # The first push met the silent server and gave up; the two after it never reached for Redis.
    assert done == [(3, 1)]


def test_a_live_push_is_stamped_when_sent_and_the_log_keeps_no_stamp(story):
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.utils.dateparse import parse_datetime

    from realtime import groups as g
    from realtime.models import Event

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(g.team(story.team.pk), channel)
    story.dispatching()
    message = async_to_sync(layer.receive)(channel)
    sent_at = parse_datetime(message["event"]["sent_at"])
    assert sent_at is not None and "." in message["event"]["sent_at"]
    assert sent_at >= parse_datetime(message["event"]["at"])
    assert "sent_at" not in Event.objects.get(pk=message["event"]["seq"]).payload


def test_a_transaction_without_savepoints_pushes_its_events_without_reading_the_log(story, other_team, layer):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dispatch import services

    order = story.placed()
    with CaptureQueriesContext(connection) as queries:
        services.order_dispatch(
            order_id=order.pk, user=story.dispatcher, mode="broadcast", team_ids=[story.team.pk, other_team.pk]
        )
    assert len(layer.batches[-1]) == 3
    assert [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "realtime_event" in q["sql"]] == []
