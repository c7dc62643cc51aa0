"""Stream test helpers: connect as someone, read until a condition holds."""

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from config.asgi import application
from realtime import consumers
from realtime.log import tail

ORIGIN = (b"origin", b"http://127.0.0.1")


@pytest.fixture(autouse=True)
def fresh_tail():
    """The log tail is per process; each test's database starts its own log."""
    tail.reset()
    yield
    tail.reset()


@pytest.fixture(autouse=True)
def sends_taken_at_once(monkeypatch):
    """On the Redis layer, the layer's reader sends live events itself, as under daphne.

    realtime.transport.text_sender knows only daphne's `send`; a communicator's is its
    output queue's `put`, whose synchronous twin stands in for the phone's socket here.
    On the in-memory layer (no `take`) every event goes through stream_event, as before.
    """

    def text_sender(send):
        queue = getattr(send, "__self__", None)
        if not isinstance(queue, asyncio.Queue):
            return None
        return lambda text: queue.put_nowait({"type": "websocket.send", "text": text})

    monkeypatch.setattr(consumers, "text_sender", text_sender)


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
