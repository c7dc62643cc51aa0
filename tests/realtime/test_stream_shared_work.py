"""A stream process does its routine database work once for all connections, never per connection and beat.

Counted in queries, not timed: the heartbeat does none, the rights check reads once for
every connection, connects that arrive together share their rights read. And the
shared rights read answers as `dispatch.selectors` does, so sharing changes no scope.
"""

import asyncio

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.db.backends.utils import CursorWrapper

from dispatch import selectors, services
from publicity.services import is_editor
from realtime import events
from realtime import groups as g
from realtime import keeper as keeper_module
from realtime.keeper import keeper, rights
from realtime.log import LogTail, Row, row_of
from tests import factories as f
from volunteers.models import Membership

from .conftest import communicator, events_only, read_until, token_for

pytestmark = pytest.mark.django_db(transaction=True)

call = database_sync_to_async


@pytest.fixture
def queries(monkeypatch) -> list[str]:
    """Every SQL statement run from here on, on any thread (the consumers' run on Channels' database thread)."""
    seen: list[str] = []
    real = CursorWrapper._execute

    def counted(self, sql, params, *wrappers):
        seen.append(sql)
        return real(self, sql, params, *wrappers)

    monkeypatch.setattr(CursorWrapper, "_execute", counted)
    return seen


async def opened(user):
    stream = communicator(f"/ws/v1/stream/?token={await call(token_for)(user)}")
    assert (await stream.connect())[0]
    await read_until(stream, lambda m: m["type"] == "heartbeat")
    return stream


def test_heartbeats_make_no_database_query(story, volunteer, station_dispatcher, settings, monkeypatch, queries):
    settings.STREAM_HEARTBEAT_SECONDS = 0.05
    # The keeper's shared work (one tail read a beat, a rights check every tenth) is counted
    # elsewhere; here it is off, so every query left would be a connection's own.
    monkeypatch.setattr(keeper_module, "TAIL_REFRESH_BEATS", 10**9)
    monkeypatch.setattr(keeper_module, "RIGHTS_CHECK_BEATS", 10**9)

    async def scenario():
        streams = [await opened(u) for u in (story.team_leader, volunteer, station_dispatcher)]
        assert queries  # the counter does see the consumers' queries (token, rights, log)
        before = len(queries)
        for stream in streams:
            for _ in range(5):
                await read_until(stream, lambda m: m["type"] == "heartbeat")
        assert queries[before:] == []
        for stream in streams:
            await stream.disconnect()

    async_to_sync(scenario)()


def test_the_rights_check_reads_once_for_all_connections_and_applies_an_admin_edit(
    story, volunteer, station_dispatcher, settings, queries
):
    settings.STREAM_HEARTBEAT_SECONDS = 3600  # no beat and no keeper round of its own during the test

    async def scenario():
        streams = [await opened(u) for u in (story.team_leader, volunteer, station_dispatcher)]
        await call(Membership.objects.filter(volunteer__user=volunteer).update)(active=False)
        before = len(queries)
        await keeper.check_rights()
        assert len(queries) - before == 4  # three connections, one read of four queries
        await call(story.dispatching)()
        leader, member = streams[0], streams[1]
        assert events_only(await read_until(leader, lambda m: m.get("type") == "offer.created"))
        assert await member.receive_nothing(timeout=0.3)
        for stream in streams:
            await stream.disconnect()

    async_to_sync(scenario)()


def test_an_older_shared_read_does_not_undo_a_rights_change_applied_since(
    story, station_dispatcher, other_station, settings, monkeypatch
):
    settings.STREAM_HEARTBEAT_SECONDS = 3600
    real_read = keeper_module._read_rights
    calls = 0

    async def scenario():
        read_done, moved = asyncio.Event(), asyncio.Event()

        async def slow_first_read(user_ids):
            # The keeper's check reads before the move and hands its answer out after it.
            nonlocal calls
            calls += 1
            found = await real_read(user_ids)
            if calls == 1:
                read_done.set()
                await moved.wait()
            return found

        stream = await opened(station_dispatcher)
        monkeypatch.setattr(keeper_module, "_read_rights", slow_first_read)
        check = asyncio.create_task(keeper.check_rights())
        await read_done.wait()
        await call(services.staff_move)(user_id=station_dispatcher.pk, unit_id=other_station.pk, by=story.dispatcher)
        assert events_only(await read_until(stream, lambda m: m.get("type") == "staff.moved"))
        moved.set()
        await check
        # Still the new unit's: an order at the old station is not heard.
        await call(story.placed)()
        assert await stream.receive_nothing(timeout=0.5)
        await stream.disconnect()

    async_to_sync(scenario)()
    assert calls == 2  # the check's read and the connection's own after staff.moved


def test_connections_opened_together_share_their_rights_reads(story, volunteer, other_leader, station_dispatcher):
    users = [story.team_leader, volunteer, other_leader, station_dispatcher, story.dispatcher]
    tokens = [token_for(u) for u in users]

    async def scenario():
        before = rights.reads
        streams = [communicator(f"/ws/v1/stream/?token={key}") for key in tokens]
        assert all(ok for ok, _ in await asyncio.gather(*(s.connect() for s in streams)))
        assert rights.reads - before < len(users)
        for stream in streams:
            await stream.disconnect()

    async_to_sync(scenario)()


def test_the_shared_rights_read_answers_as_the_selectors_do(
    story, volunteer, station_dispatcher, other_team, other_leader, stranger
):
    admin = f.UserFactory(is_superuser=True)
    gone = f.UserFactory(is_active=False)
    both = f.member(other_team).user  # a member of one team who leads another
    story.team.leader = both
    story.team.save(update_fields=["leader"])
    plain_staff = f.staff(story.dispatcher.staff_profile.unit, role="media_editor")  # staff, not a dispatcher
    users = [
        story.team_leader,
        volunteer,
        story.dispatcher,
        station_dispatcher,
        story.citizen,
        other_leader,
        stranger,
        admin,
        gone,
        both,
        plain_staff,
    ]

    def expected(user) -> g.StreamRights | None:
        account = get_user_model().objects.filter(pk=user.pk, is_active=True).first()
        if account is None:
            return None
        names = {g.user(account.pk), *(g.team(t) for t in selectors.team_ids_of(account))}
        unit_id = None
        if selectors.is_dispatcher(account):
            unit = selectors.dispatcher_unit(account)
            if unit is not None:
                unit_id = unit.pk
                names.add(g.unit(unit_id))
            names.add(g.board())
        if is_editor(account):
            names.add(g.media())
        return g.StreamRights(names=frozenset(names), unit_id=unit_id)

    shared = g.stream_rights_of([u.pk for u in users])
    for user in users:
        assert shared.get(user.pk) == expected(user), user
        assert g.stream_rights(user.pk) == expected(user), user


def test_an_event_after_one_no_connection_here_hears_is_sent_without_reading_the_log(story, settings, queries):
    settings.STREAM_HEARTBEAT_SECONDS = 3600  # no beat and no keeper round of its own during the test

    def log_reads(since: int) -> list[str]:
        return [q for q in queries[since:] if q.lstrip().upper().startswith("SELECT") and "realtime_event" in q]

    async def scenario():
        stream = await opened(story.team_leader)
        for _ in range(100):  # the process's listener joins its group as the first connection arrives
            if keeper.listening is not None:
                break
            await asyncio.sleep(0.02)
        assert keeper.listening is not None
        # The tail of this process now ends at an event: seqs do not start again at 1 after the
        # previous test, so without one the first seq here would follow a gap.
        first = await call(events.publish)([g.team(story.team.pk)], "order.dispatched", {"order": {"id": 0}})
        await read_until(stream, lambda m: m.get("seq") == first.pk)
        before = len(queries)
        # The way a dispatch goes: an event for dispatchers elsewhere, then one this connection hears.
        await call(events.publish)([g.unit(10**6)], "order.dispatched", {"order": {"id": 1}})
        heard = await call(events.publish)([g.team(story.team.pk)], "order.dispatched", {"order": {"id": 2}})
        seen = await read_until(stream, lambda m: m.get("seq") == heard.pk)
        assert [m["seq"] for m in events_only(seen)] == [heard.pk]
        # Its listener had put the first in the process's tail, so the gap below `heard` was filled from memory.
        assert log_reads(before) == []
        await stream.disconnect()

    async_to_sync(scenario)()


def test_the_log_tail_answers_a_gap_from_its_groups_index_and_keeps_it_trimmed(monkeypatch):
    monkeypatch.setattr(LogTail, "KEEP", 6)
    log = LogTail()

    def row(seq: int, *groups: str) -> Row:
        return row_of({"seq": seq, "type": "offer.created"}, list(groups))

    async def scenario():
        assert await log.latest() == 0  # an empty log: the tail starts complete from 0
        for seq, groups in enumerate([("team.1",), ("unit.1",), ("team.2", "unit.1"), ("team.1", "unit.1")], 1):
            log.offer(row(seq, *groups))
        rows, through = await log.after(0, refresh=False, groups=frozenset({"team.1"}))
        assert [r.seq for r in rows] == [1, 4] and through == 4
        rows, through = await log.after(1, before=4, groups=frozenset({"team.2", "team.1"}))
        assert [r.seq for r in rows] == [3] and through == 3
        rows, _ = await log.after(0, refresh=False)  # without groups: every event
        assert [r.seq for r in rows] == [1, 2, 3, 4]
        for seq in range(5, 10):
            log.offer(row(seq, "team.2"))
        # Only the last six stay, and the index with them.
        assert log._seqs == [4, 5, 6, 7, 8, 9]
        assert log._by_group == {"team.1": [4], "unit.1": [4], "team.2": [5, 6, 7, 8, 9]}
        rows, through = await log.after(4, refresh=False, groups=frozenset({"team.1", "team.2"}))
        assert [r.seq for r in rows] == [5, 6, 7, 8, 9] and through == 9

    async_to_sync(scenario)()


def test_the_tail_tells_a_gap_with_nothing_for_a_connection_without_a_coroutine():
    log = LogTail()

    def row(seq: int, *groups: str) -> Row:
        return row_of({"seq": seq, "type": "offer.created"}, list(groups))

    team1 = frozenset({"team.1"})
    assert not log.holds_nothing_for(team1, 0, 2)  # nothing read yet: the tail knows nothing

    async def scenario():
        assert await log.latest() == 0
        for seq, groups in enumerate([("team.1",), ("unit.1",), ("team.2",), ("team.1", "unit.1")], 1):
            log.offer(row(seq, *groups))

    async_to_sync(scenario)()
    assert log.holds_nothing_for(team1, 1, 4)  # 2 and 3 are other groups'
    assert not log.holds_nothing_for(team1, 0, 4)  # 1 is team.1's
    assert not log.holds_nothing_for(frozenset({"team.2", "team.1"}), 1, 4)  # 3 is team.2's
    assert log.holds_nothing_for(team1, 4, 5)  # an empty gap
    assert not log.holds_nothing_for(team1, 4, 7)  # 5 and 6 are not in the tail yet
