"""Catch-up from the log, then live: every event a user may see, once, in seq order."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async

from dispatch import services
from realtime import events
from realtime.models import Event

from .conftest import communicator, events_only, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)

call = database_sync_to_async


def is_heartbeat(message: dict) -> bool:
    return message["type"] == "heartbeat"


def seqs(messages: list[dict]) -> list[int]:
    return [m["seq"] for m in events_only(messages)]


def team_seqs(team, after: int = 0) -> list[int]:
    """What a team member may see of the log: its team's events."""
    return [e.pk for e in Event.objects.filter(pk__gt=after).order_by("pk") if f"team.{team.pk}" in e.groups]


@pytest.fixture
def held(monkeypatch):
    """Live pushes held back, to be delivered later in any order (or never)."""
    pushes: list[tuple[list[str], dict]] = []
    real = events._deliver
    monkeypatch.setattr(events, "_deliver", pushes.extend)
    pushes_by_seq = lambda: {m["event"]["seq"]: (n, m) for n, m in pushes if "event" in m}  # noqa: E731
    return pushes, pushes_by_seq, lambda names, message: real([(names, message)])


def test_a_resuming_client_gets_every_missed_event_once_in_order_then_the_live_flow(story, other_team):
    key = token_for(story.team_leader)
    start = Event.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    story.dispatching(teams=[story.team, other_team], mode="broadcast")
    story.accepted()
    missed = team_seqs(story.team, after=start)
    assert len(missed) >= 4

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}&after={start}")
        assert (await stream.connect())[0]
        caught_up = await read_until(stream, is_heartbeat)
        assert seqs(caught_up) == missed
        assert caught_up[-1]["seq"] == await call(lambda: Event.objects.latest("pk").pk)()
        order = await call(story.placed)()
        await call(services.order_dispatch)(
            order_id=order.pk, user=story.dispatcher, mode="directed", team_ids=[story.team.pk]
        )
        live = events_only(await read_until(stream, lambda m: m.get("type") == "offer.created"))
        assert [m["type"] for m in live] == ["offer.created"] and live[0]["order"]["id"] == order.pk
        assert await stream.receive_nothing(timeout=0.3)
        await stream.disconnect()

    async_to_sync(scenario)()


def test_live_events_arriving_out_of_order_are_sent_in_seq_order_once(story, held):
    pushes, by_seq, real_send = held
    key = token_for(story.team_leader)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}")
        assert (await stream.connect())[0]
        await read_until(stream, is_heartbeat)
        await call(story.dispatching)()
        await call(story.dispatching)()
        mine = await call(team_seqs)(story.team)
        assert len(mine) == 2
        first, second = (by_seq()[s] for s in mine)
        # The later event overtakes the earlier one (two processes racing to Redis).
        await call(real_send)(*second)
        await call(real_send)(*first)
        got = events_only(await read_until(stream, lambda m: m.get("seq") == mine[1]))
        assert [m["seq"] for m in got] == mine
        assert await stream.receive_nothing(timeout=0.3)
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_live_event_that_never_arrives_is_sent_from_the_log_before_the_next(story, held):
    pushes, by_seq, real_send = held
    key = token_for(story.team_leader)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}")
        assert (await stream.connect())[0]
        await read_until(stream, is_heartbeat)
        await call(story.dispatching)()
        await call(story.dispatching)()
        mine = await call(team_seqs)(story.team)
        await call(real_send)(*by_seq()[mine[1]])
        got = events_only(await read_until(stream, lambda m: m.get("seq") == mine[1]))
        assert [m["seq"] for m in got] == mine
        assert "sent_at" not in got[0] and "sent_at" in got[1]
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_resume_message_sends_the_log_again_from_the_given_seq(story):
    key = token_for(story.team_leader)
    story.dispatching()
    mine = team_seqs(story.team)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}&after=0")
        assert (await stream.connect())[0]
        assert seqs(await read_until(stream, is_heartbeat)) == mine
        await stream.send_json_to({"type": "resume", "after": mine[0]})
        assert seqs(await read_until(stream, is_heartbeat)) == mine[1:]
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_deeply_nested_message_is_ignored_and_the_connection_still_serves(story):
    key = token_for(story.team_leader)
    story.dispatching()
    mine = team_seqs(story.team)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}&after=0")
        assert (await stream.connect())[0]
        await read_until(stream, is_heartbeat)
        await stream.send_to(text_data="[" * 100_000 + "]" * 100_000)
        await stream.send_to(text_data='{"type": "resume", "after": ' + "[" * 50_000)
        await stream.send_json_to({"type": "resume", "after": mine[0]})
        assert seqs(await read_until(stream, is_heartbeat)) == mine[1:]
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_client_connecting_without_a_seq_gets_only_what_happens_from_then_on(story):
    key = token_for(story.team_leader)
    story.dispatching()

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}")
        assert (await stream.connect())[0]
        hello = await read_until(stream, is_heartbeat)
        assert len(hello) == 1 and hello[0]["seq"] == await call(lambda: Event.objects.latest("pk").pk)()
        await stream.disconnect()

    async_to_sync(scenario)()


def test_a_client_resuming_from_beyond_the_log_still_gets_what_comes_next(story):
    key = token_for(story.team_leader)

    async def scenario():
        stream = communicator(f"/ws/v1/stream/?token={key}&after=999999")
        assert (await stream.connect())[0]
        await read_until(stream, is_heartbeat)
        await call(story.dispatching)()
        got = events_only(await read_until(stream, lambda m: m.get("type") == "offer.created"))
        assert [m["type"] for m in got] == ["offer.created"]
        await stream.disconnect()

    async_to_sync(scenario)()
