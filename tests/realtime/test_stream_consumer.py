"""The WebSocket stream: authentication, a team's live offers, catch-up from the log."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from config.asgi import application
from dispatch import services

ORIGIN = [(b"origin", b"http://127.0.0.1")]


def connect(path: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=ORIGIN)


@pytest.mark.django_db(transaction=True)
def test_an_anonymous_client_is_refused(story):
    async def scenario():
        communicator = connect("/ws/v1/stream/")
        connected, _ = await communicator.connect()
        assert not connected
        bad = connect("/ws/v1/stream/?token=not-a-token")
        connected, _ = await bad.connect()
        assert not connected

    async_to_sync(scenario)()


@pytest.mark.django_db(transaction=True)
def test_a_team_hears_its_offer_the_moment_it_is_made_and_catches_up_after(story, other_team):
    key = Token.objects.create(user=story.team_leader).key
    order = story.placed()

    async def scenario():
        communicator = connect(f"/ws/v1/stream/?token={key}")
        connected, _ = await communicator.connect()
        assert connected
        await database_sync_to_async(services.order_dispatch)(
            order_id=order.pk, user=story.dispatcher, mode="broadcast", team_ids=[story.team.pk, other_team.pk]
        )
        live = await communicator.receive_json_from(timeout=5)
        assert live["type"] == "offer.created" and live["offer"]["team"] == story.team.pk
        # The other team's offer never reaches this team.
        assert await communicator.receive_nothing(timeout=0.2)
        await communicator.disconnect()

        again = connect(f"/ws/v1/stream/?token={key}&after={live['seq'] - 1}")
        assert (await again.connect())[0]
        replayed = await again.receive_json_from(timeout=5)
        assert replayed == live
        await again.disconnect()

    async_to_sync(scenario)()
