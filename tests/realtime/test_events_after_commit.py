"""Events are logged with the change and sent only once it commits."""

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

from dispatch import services
from realtime import groups as g
from realtime.models import Event


def test_each_transition_appends_its_event_with_a_growing_seq(story):
    order = story.closed()
    events = list(Event.objects.filter(order_id=order.pk))
    assert [e.type for e in events] == [
        "order.placed",
        "order.dispatched",
        "offer.created",
        "offer.accepted",
        "order.accepted",
        "order.started",
        "order.completed",
        "order.evaluated",
    ]
    seqs = [e.pk for e in events]
    assert seqs == sorted(seqs)
    assert "contact_phone" not in events[0].payload["order"]


def test_the_event_is_sent_to_the_order_and_team_groups_after_commit(story, django_capture_on_commit_callbacks):
    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(g.team(story.team.pk), channel)
    order = story.placed()
    with django_capture_on_commit_callbacks(execute=True):
        services.order_dispatch(order_id=order.pk, user=story.dispatcher, mode="directed", team_ids=[story.team.pk])
    message = async_to_sync(layer.receive)(channel)
    assert message["event"]["type"] == "offer.created"
    assert message["event"]["order"]["id"] == order.pk


def test_a_rolled_back_change_sends_nothing_and_logs_nothing(story, django_capture_on_commit_callbacks):
    order = story.placed()
    before = Event.objects.count()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(RuntimeError), transaction.atomic():
        services.order_dispatch(order_id=order.pk, user=story.dispatcher, mode="directed", team_ids=[story.team.pk])
        raise RuntimeError("the request failed after the dispatch")
    assert callbacks == []
    assert Event.objects.count() == before
    order.refresh_from_db()
    assert order.state == "submitted"
