"""A live event the connection can send as it stands is sent by the channel layer's reader.

StreamConsumer._take_live does stream_event's work in the reader's task (realtime/layers.py,
`take`) when no await is needed, and declines otherwise, so the event is queued for
stream_event: while the send lock is held, when the event leaves a gap the log tail cannot
account for, and for an event that changes the user's own rights. The decisions are checked
on a consumer's state directly; on the Redis layer, the whole way through (the autouse
`sends_taken_at_once` fixture stands in for daphne's socket).
"""

import asyncio
import json

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from realtime import groups as g
from realtime.consumers import StreamConsumer
from realtime.events import event_message
from realtime.keeper import keeper
from realtime.log import row_of, tail
from realtime.models import Event
from tests.conftest import requires_fast_path

from .conftest import communicator, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)

TEAM, OTHER = "team.1", "team.2"


def live(seq: int, *groups: str, type: str = "offer.created", **payload) -> dict:
    event = {"seq": seq, "type": type, "at": "2026-12-04T08:00:00+00:00", **payload, "sent_at": "now"}
    return {"type": "stream.event", "event": event, "groups": list(groups)}


@pytest.fixture
def connection():
    """A consumer's state as connect() leaves it, user 7 hearing team.1, sending into a list."""
    async_to_sync(tail.latest)()  # an empty log: the tail is complete from 0
    consumer = StreamConsumer()
    consumer.user_id, consumer.last_sent = 7, 0
    consumer.hears = frozenset({TEAM})
    consumer.sending = asyncio.Lock()
    sent: list[str] = []
    consumer.send_text = sent.append
    return consumer, sent


def seqs(sent: list[str]) -> list[int]:
    return [json.loads(text)["seq"] for text in sent]


def test_an_event_that_follows_is_sent_and_one_not_heard_only_moves_the_connection_on(connection):
    consumer, sent = connection
    assert consumer._take_live(live(1, TEAM))
    assert consumer._take_live(live(2, OTHER))  # not this connection's: nothing sent
    assert consumer._take_live(live(3, TEAM, "unit.1"))
    assert seqs(sent) == [1, 3] and consumer.last_sent == 3


def test_a_gap_of_other_groups_events_in_the_tail_is_stepped_over(connection):
    consumer, sent = connection
    tail.offer(row_of({"seq": 1, "type": "offer.created"}, [OTHER]))
    tail.offer(row_of({"seq": 2, "type": "order.placed"}, ["unit.1"]))
    assert consumer._take_live(live(3, TEAM))
    assert seqs(sent) == [3] and consumer.last_sent == 3


def test_a_gap_the_tail_cannot_account_for_is_left_to_stream_event(connection):
    consumer, sent = connection
    tail.offer(row_of({"seq": 1, "type": "offer.created"}, [TEAM]))  # one of its own, unsent
    assert not consumer._take_live(live(2, TEAM))
    assert not consumer._take_live(live(5, TEAM))  # 2 to 4 are not in the tail at all
    assert sent == [] and consumer.last_sent == 0


def test_what_was_sent_already_is_taken_and_dropped(connection):
    consumer, sent = connection
    consumer.last_sent = 4
    assert consumer._take_live(live(3, TEAM))
    assert sent == [] and consumer.last_sent == 4


def test_nothing_is_taken_while_the_send_lock_is_held_or_the_connection_closes(connection):
    consumer, sent = connection

    async def held() -> bool:
        async with consumer.sending:  # a catch-up or a heartbeat under way
            return consumer._take_live(live(1, TEAM))

    assert not async_to_sync(held)()
    consumer.closing = True
    assert not consumer._take_live(live(1, TEAM))
    assert sent == [] and consumer.last_sent == 0


def test_a_change_of_the_users_own_rights_is_left_to_stream_event(connection):
    consumer, sent = connection
    assert not consumer._take_live(live(1, TEAM, type="team.member_left", user=7))
    assert consumer.last_sent == 0
    # Someone else leaving the team is news, not a change of this connection's rights.
    assert consumer._take_live(live(1, TEAM, type="team.member_left", user=8))
    assert seqs(sent) == [1]


def test_only_live_events_are_taken(connection):
    consumer, _sent = connection
    assert not consumer._take_live({"type": "stream.tick", "tick": {"units": {}, "none": {}}})


# --- the whole way, on the Redis layer ----------------------------------------------------


def logged(team: str, **payload) -> Event:
    return Event.objects.create(type="offer.created", groups=[team], payload=payload, at=timezone.now())


async def push(event: Event) -> None:
    """As realtime.events pushes after commit: to the event's groups and every process's listener."""
    message = {"type": "stream.event", "event": {**event_message(event), "sent_at": "now"}, "groups": event.groups}
    await get_channel_layer().group_send_many([*event.groups, g.stream_log()], message)


async def until_listening() -> None:
    """The process's listener joins its group as the first connection arrives."""
    for _ in range(250):
        if keeper.listening is not None:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the process's listener did not join its group")


@pytest.fixture
def queued(monkeypatch) -> list[int]:
    """The seqs of the live events that went to stream_event (queued), not taken by the reader."""
    seen: list[int] = []
    original = StreamConsumer.stream_event

    async def stream_event(self, message):
        seen.append(message["event"]["seq"])
        await original(self, message)

    monkeypatch.setattr(StreamConsumer, "stream_event", stream_event)
    return seen


@requires_fast_path
def test_the_reader_sends_what_follows_and_steps_over_other_teams_events(story, other_team, queued):
    mine, theirs = g.team(story.team.pk), g.team(other_team.pk)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={await database_sync_to_async(token_for)(story.team_leader)}")
        assert (await stream.connect())[0]
        await read_until(stream, lambda m: m["type"] == "heartbeat")
        await until_listening()
        # The tail must end at an event: seqs do not start again at 1 after the previous test,
        # and the first one here follows a gap that only the log can account for.
        first = await database_sync_to_async(logged)(mine, offer={"id": 1})
        await push(first)
        await read_until(stream, lambda m: m.get("seq") == first.pk)
        queued.clear()
        # The other team's event reaches the process's listener only; the next one of this
        # team's follows it, a gap the listener has told the tail about.
        other = await database_sync_to_async(logged)(theirs, offer={"id": 2})
        await push(other)
        own = await database_sync_to_async(logged)(mine, offer={"id": 3})
        await push(own)
        got = await read_until(stream, lambda m: m["type"] == "offer.created")
        assert got[-1]["seq"] == own.pk and got[-1]["offer"] == {"id": 3}
        await stream.disconnect()
        assert queued == []  # both were dealt with in the reader

    async_to_sync(scenario)()


@requires_fast_path
def test_an_event_after_one_never_pushed_is_queued_and_the_log_fills_the_gap_in_order(story, queued):
    team = g.team(story.team.pk)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={await database_sync_to_async(token_for)(story.team_leader)}")
        assert (await stream.connect())[0]
        await read_until(stream, lambda m: m["type"] == "heartbeat")
        await until_listening()
        first = await database_sync_to_async(logged)(team, offer={"id": 0})  # the tail ends at an event
        await push(first)
        await read_until(stream, lambda m: m.get("seq") == first.pk)
        queued.clear()
        lost = await database_sync_to_async(logged)(team, offer={"id": 1})  # its push never comes
        later = await database_sync_to_async(logged)(team, offer={"id": 2})
        await push(later)
        first = await read_until(stream, lambda m: m["type"] == "offer.created")
        second = await read_until(stream, lambda m: m["type"] == "offer.created")
        assert [first[-1]["seq"], second[-1]["seq"]] == [lost.pk, later.pk]
        assert await stream.receive_nothing(timeout=0.3)
        await stream.disconnect()
        assert queued == [later.pk]

    async_to_sync(scenario)()
