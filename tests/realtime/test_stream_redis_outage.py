"""Redis goes down: the API keeps working, nothing is lost, phones catch up when it is back.

The test runs its own redis-server on a free port (the shared one serves other test runs).
"""

import pytest

from realtime.models import Event
from tests.conftest import requires_postgres, requires_redis
from tests.factories import order_payload

from .conftest import token_for
from .processes import Listener, api_post, free_port, start_daphne, start_redis, stop, wait_until

pytestmark = [requires_postgres, requires_redis, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def own_redis():
    port = free_port()
    holder = {"process": start_redis(port)}
    yield port, holder
    stop(holder["process"])


def test_changes_made_while_redis_is_down_succeed_and_reach_the_phone_once_it_is_back(story, own_redis):
    redis_port, redis = own_redis
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    a, b = free_port(), free_port()
    # Everything loses Redis: the channel layer, the rate limits' cache and the Celery broker
    # (tasks are sent, not run in-process, so the offer timers' sends meet the outage too).
    servers = [
        start_daphne(port, redis_url, STREAM_HEARTBEAT_SECONDS="0.5", CELERY_TASK_ALWAYS_EAGER="false")
        for port in (a, b)
    ]
    dispatcher = token_for(story.dispatcher)
    orders = [story.placed() for _ in range(5)]
    start = Event.objects.latest("pk").pk

    def dispatch(order) -> None:
        status, body = api_post(
            a, f"/api/v1/orders/{order.pk}/dispatch/", dispatcher, {"mode": "directed", "teams": [story.team.pk]}
        )
        assert status == 200, body

    try:
        with Listener(b, token_for(story.team_leader), after=start) as phone:
            dispatch(orders[0])
            wait_until(lambda: len(phone.events()) == 1, what="the first offer")
            stop(redis["process"])
            for order in orders[1:]:
                dispatch(order)
            # Placing an order passes its rate limit, which lives in Redis, too.
            status, body = api_post(a, "/api/v1/orders/", token_for(story.citizen), order_payload(story.category))
            assert status == 201, body
            redis["process"] = start_redis(redis_port)
            expected = [e.pk for e in Event.objects.filter(pk__gt=start) if f"team.{story.team.pk}" in e.groups]
            wait_until(lambda: phone.seqs()[-1:] == expected[-1:], timeout=30, what="the catch-up")
        assert phone.seqs() == expected
        assert [m["order"]["id"] for m in phone.events()] == [o.pk for o in orders]
    finally:
        for server in servers:
            stop(server)
