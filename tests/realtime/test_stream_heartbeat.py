"""The heartbeat keeps phones connected, says how fresh the view is, and delivers what live pushes lost."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.utils.dateparse import parse_datetime

from realtime import events
from realtime.models import Event

from .conftest import communicator, events_only, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_each_heartbeat_carries_the_latest_seq_after_delivering_everything_below_it(story, settings, monkeypatch):
    settings.STREAM_HEARTBEAT_SECONDS = 0.1
    # Every live push is lost: only the heartbeat's read of the log can deliver.
    monkeypatch.setattr(events, "_deliver", lambda sends: None)
    key = token_for(story.team_leader)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}")
        assert (await stream.connect())[0]
        first = await stream.receive_json_from(timeout=5)
        assert first["type"] == "heartbeat" and parse_datetime(first["at"]) is not None
        order = await database_sync_to_async(story.dispatching)()
        latest = await database_sync_to_async(lambda: Event.objects.latest("pk").pk)()
        seen = await read_until(stream, lambda m: m["type"] == "heartbeat" and m["seq"] == latest)
        offers = events_only(seen)
        assert [m["type"] for m in offers] == ["offer.created"] and offers[0]["order"]["id"] == order.pk
        # And the beat goes on.
        assert (await stream.receive_json_from(timeout=5))["type"] == "heartbeat"
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_heartbeat_to_a_phone_already_gone_stops_quietly(settings, caplog):
    from autobahn.exception import Disconnected

    from realtime.consumers import StreamConsumer

    settings.STREAM_HEARTBEAT_SECONDS = 0.01
    sent = []

    async def gone(*_args, **_kwargs):
        sent.append(1)
        raise Disconnected("Attempt to send on a closed protocol")  # what daphne's autobahn raises

    async def scenario():
        import asyncio

        consumer = StreamConsumer()
        consumer.sending = asyncio.Lock()
        consumer._catch_up = gone
        await asyncio.wait_for(consumer._beat(), timeout=5)  # returns instead of beating on

    async_to_sync(scenario)()
    assert sent == [1]
    assert "stream heartbeat failed" not in caplog.text
