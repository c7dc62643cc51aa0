"""Who may open the stream: a session or a token, from an allowed origin."""

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from realtime.auth import TokenOrSessionAuthMiddleware

from .conftest import communicator, token_for

pytestmark = pytest.mark.django_db(transaction=True)


def opens(path: str, headers=None) -> bool:
    async def scenario() -> bool:
        stream = communicator(path, headers)
        connected, _ = await stream.connect()
        if connected:
            first = await stream.receive_json_from(timeout=5)
            assert first["type"] == "heartbeat"
            await stream.disconnect()
        return connected

    return async_to_sync(scenario)()


def test_an_anonymous_client_is_refused(story):
    assert not opens("/ws/v1/stream/")


def test_an_unknown_token_is_refused(story):
    assert not opens("/ws/v1/stream/?token=not-a-token")


def test_a_deactivated_users_token_is_refused(story):
    key = token_for(story.team_leader)
    story.team_leader.is_active = False
    story.team_leader.save()
    assert not opens(f"/ws/v1/stream/?token={key}")


def test_a_phone_opens_the_stream_with_its_token(story):
    assert opens(f"/ws/v1/stream/?token={token_for(story.team_leader)}")


def test_a_page_opens_the_stream_with_its_session_cookie(story):
    browser = Client()
    browser.force_login(story.dispatcher)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    assert opens("/ws/v1/stream/", headers=[(b"origin", b"http://127.0.0.1"), (b"cookie", cookie)])


def test_a_phone_app_with_a_token_and_no_origin_header_is_let_in(story):
    assert opens(f"/ws/v1/stream/?token={token_for(story.team_leader)}", headers=[])


def test_a_session_cookie_without_an_origin_header_is_refused(story):
    browser = Client()
    browser.force_login(story.dispatcher)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    assert not opens("/ws/v1/stream/", headers=[(b"cookie", cookie)])


def test_a_wrong_token_without_an_origin_header_is_refused(story):
    assert not opens("/ws/v1/stream/?token=not-a-token", headers=[])


def test_a_page_from_another_site_is_refused_even_with_a_valid_token(story):
    key = token_for(story.team_leader)
    assert not opens(f"/ws/v1/stream/?token={key}", headers=[(b"origin", b"https://evil.example")])


def test_the_stream_sends_through_the_servers_own_send_and_still_knows_the_session_user(story):
    """No session wrapper on the way out: a WebSocket never sends what it would save the session on."""
    browser = Client()
    browser.force_login(story.dispatcher)
    cookie = f"sessionid={browser.cookies['sessionid'].value}".encode()
    seen = {}

    async def app(scope, receive, send):
        seen["user"], seen["send"] = scope["user"], send

    async def server_send(message):
        pass

    scope = {"type": "websocket", "path": "/ws/v1/stream/", "query_string": b"", "headers": [(b"cookie", cookie)]}
    async_to_sync(TokenOrSessionAuthMiddleware(app))(scope, None, server_send)

    assert seen["send"] is server_send
    assert seen["user"].pk == story.dispatcher.pk  # resolved lazily, from the session, when read
