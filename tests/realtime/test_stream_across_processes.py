"""Two real daphne processes sharing Redis and the database: an event made through one
reaches a client of the other, and a client that drops catches up exactly once."""

import json
import os
import subprocess
import sys

import pytest

from realtime.models import Event
from tests.conftest import requires_postgres, requires_redis

from .conftest import token_for
from .processes import ROOT, Listener, api_post, free_port, start_daphne, stop, wait_until

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def two_daphnes(transactional_db):
    """Ports of two daphne processes; a long heartbeat, so only a live push arrives quickly."""
    ports = [free_port(), free_port()]
    processes = [start_daphne(port, os.environ["REDIS_URL"], STREAM_HEARTBEAT_SECONDS="60") for port in ports]
    yield ports, processes
    for process in processes:
        stop(process)


def team_seqs(team, after: int) -> list[int]:
    return [e.pk for e in Event.objects.filter(pk__gt=after).order_by("pk") if f"team.{team.pk}" in e.groups]


def test_an_offer_dispatched_through_one_process_reaches_a_phone_on_the_other(story, two_daphnes):
    (a, b), _ = two_daphnes
    order = story.placed()
    with Listener(b, token_for(story.team_leader)) as phone:
        status, body = api_post(
            a,
            f"/api/v1/orders/{order.pk}/dispatch/",
            token_for(story.dispatcher),
            {"mode": "directed", "teams": [story.team.pk]},
        )
        assert status == 200, body
        offer = wait_until(
            lambda: next((m for m in phone.events() if m["type"] == "offer.created"), None), what="the offer"
        )
    assert offer["order"]["id"] == order.pk and offer["offer"]["team"] == story.team.pk
    # Stamped at the after-commit push in process a: it came live through Redis, not from the log.
    assert "sent_at" in offer


def test_a_phone_whose_server_dies_mid_stream_gets_every_event_exactly_once_after_reconnecting(story, two_daphnes):
    (a, b), processes = two_daphnes
    dispatcher = token_for(story.dispatcher)
    orders = [story.placed() for _ in range(6)]
    start = Event.objects.latest("pk").pk

    def dispatch(order) -> None:
        status, body = api_post(
            a, f"/api/v1/orders/{order.pk}/dispatch/", dispatcher, {"mode": "directed", "teams": [story.team.pk]}
        )
        assert status == 200, body

    with Listener(b, token_for(story.team_leader), after=start) as phone:
        for order in orders[:3]:
            dispatch(order)
        wait_until(lambda: len(phone.events()) >= 3, what="the first offers")
        stop(processes[1])  # the phone's server goes away mid-stream
        for order in orders[3:]:
            dispatch(order)
        processes[1] = start_daphne(b, os.environ["REDIS_URL"], STREAM_HEARTBEAT_SECONDS="60")
        expected = team_seqs(story.team, start)
        wait_until(lambda: phone.seqs()[-1:] == expected[-1:], what="the catch-up")
    assert phone.client.connections >= 2
    assert phone.seqs() == expected
    assert [m["order"]["id"] for m in phone.events()] == [o.pk for o in orders]


def test_the_command_line_client_prints_each_event_as_a_json_line(story, two_daphnes):
    (a, b), _ = two_daphnes
    order = story.placed()
    client = subprocess.Popen(
        [sys.executable, "-m", "realtime.client", "--url", f"ws://127.0.0.1:{b}/ws/v1/stream/"]
        + ["--token", token_for(story.team_leader), "--after", str(Event.objects.latest("pk").pk)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        status, body = api_post(
            a,
            f"/api/v1/orders/{order.pk}/dispatch/",
            token_for(story.dispatcher),
            {"mode": "directed", "teams": [story.team.pk]},
        )
        assert status == 200, body
        line = json.loads(client.stdout.readline())
    finally:
        stop(client)
    assert line["type"] == "offer.created" and line["order"]["id"] == order.pk


def test_the_command_line_client_gives_up_on_a_refused_token(two_daphnes):
    (a, _), _ = two_daphnes
    run = subprocess.run(
        [sys.executable, "-m", "realtime.client", "--url", f"ws://127.0.0.1:{a}/ws/v1/stream/", "--token", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "refused" in run.stderr
