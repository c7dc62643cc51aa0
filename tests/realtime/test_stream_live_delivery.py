"""A live event that follows what a connection has sent goes out without the database thread.

A stream process runs all its database calls on one thread; a delivery that waited for it
would queue behind every query under way there. Here that thread is held busy on purpose
while the event is pushed: it must still arrive.
"""

import asyncio
import threading

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from realtime import groups as g
from realtime.events import event_message
from realtime.models import Event

from .conftest import communicator, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_live_event_reaches_its_team_while_the_database_thread_is_busy(story):
    team = g.team(story.team.pk)

    def logged_only() -> Event:
        return Event.objects.create(
            type="offer.created", groups=[team], payload={"offer": {"id": 1}}, at=timezone.now()
        )

    async def scenario():
        # The log's end, so that the event below directly follows what the connection starts from.
        await database_sync_to_async(logged_only)()
        stream = communicator(f"/ws/v1/stream/?token={await database_sync_to_async(token_for)(story.team_leader)}")
        assert (await stream.connect())[0]
        await read_until(stream, lambda m: m["type"] == "heartbeat")
        # Logged but not yet pushed; its seq follows the log's end, so there is no gap to read.
        event = await database_sync_to_async(logged_only)()
        started, release = threading.Event(), threading.Event()

        def hold_the_database_thread() -> None:
            started.set()
            release.wait(30)

        holder = asyncio.ensure_future(database_sync_to_async(hold_the_database_thread)())
        assert await asyncio.to_thread(started.wait, 5)
        try:
            live = {**event_message(event), "sent_at": timezone.now().isoformat()}
            await get_channel_layer().group_send(team, {"type": "stream.event", "event": live, "groups": [team]})
            got = await read_until(stream, lambda m: m["type"] == "offer.created")
            assert got[-1]["seq"] == event.pk
        finally:
            release.set()
            await holder
        await stream.disconnect()

    async_to_sync(scenario)()
