"""Stream test helpers: connect as someone, read until a condition holds."""

from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from config.asgi import application
from realtime.log import tail

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def fresh_tail():
    """The log tail is per process; each test's database starts its own log."""
    tail.reset()
    yield
    tail.reset()


def token_for(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def communicator(path: str, headers: list[tuple[bytes, bytes]] | None = None) -> WebsocketCommunicator:
    return WebsocketCommunicator(application, path, headers=[ORIGIN] if headers is None else headers)


async def read_until(
    stream: WebsocketCommunicator, done: Callable[[dict[str, Any]], bool], timeout: float = 5
) -> list[dict[str, Any]]:
    """Every message up to and including the first for which `done` holds."""
    seen = []
    while True:
        message = await stream.receive_json_from(timeout=timeout)
        seen.append(message)
        if done(message):
            return seen


def events_only(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if "seq" in m and m["type"] != "heartbeat"]
