"""bench/wsclient.py times a frame by the kernel's receive time of its last byte, however late it is read."""

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from bench import wsclient

# Long enough that the clock moves between the moments each test compares, on any machine.
LATER = 0.05


@pytest.fixture(autouse=True)
def kernel_stamping() -> Iterator[None]:
    # Without it the first frames of a fresh machine may come before the kernel stamps
    # anything, and get their read time (CI saw that once).
    with wsclient.kernel_stamping():
        yield


def text_frame(text: str) -> bytes:
    payload = text.encode()
    assert len(payload) < 126
    return bytes((0x81, len(payload))) + payload


@contextlib.asynccontextmanager
async def connected() -> AsyncIterator[tuple[wsclient.Lean, socket.socket]]:
    """A client, and the end of a one-off server that has answered its handshake; both closed after."""
    loop = asyncio.get_running_loop()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)

    async def serve() -> socket.socket:
        conn, _ = await loop.sock_accept(listener)
        # Else Nagle may hold a frame until the handshake's answer is acknowledged.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        request = b""
        while b"\r\n\r\n" not in request:
            request += await loop.sock_recv(conn, 4096)
        key = next(
            line.split(":", 1)[1].strip()
            for line in request.decode("latin-1").split("\r\n")
            if line.lower().startswith("sec-websocket-key:")
        )
        await loop.sock_sendall(
            conn,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + wsclient.accept_for(key).encode() + b"\r\n\r\n",
        )
        return conn

    server = asyncio.ensure_future(serve())
    try:
        client = await wsclient.connect(f"ws://127.0.0.1:{listener.getsockname()[1]}/", None, 5)
        conn = await asyncio.wait_for(server, 5)
    finally:
        listener.close()
    try:
        yield client, conn
    finally:
        client.abort()
        conn.close()


def starved(seconds: float) -> None:
    """Keep the client's event loop from reading, as a client that gets no CPU would be kept."""
    time.sleep(seconds)


async def messages(client: wsclient.Lean, count: int) -> list[wsclient.Message]:
    """The client's next `count` messages, once the event loop has read them (5 s at most)."""
    got: list[wsclient.Message] = []
    async with asyncio.timeout(5):
        while len(got) < count:
            await asyncio.sleep(0.001)
            got += client.take_messages()
    return got


def test_a_frame_read_late_keeps_the_time_it_arrived() -> None:
    async def story() -> None:
        async with connected() as (client, server):
            before = time.time()
            server.send(text_frame("offer"))
            starved(LATER / 2)
            midway = time.time()
            starved(LATER / 2)
            woke = time.time()
            untimed = wsclient.STAMPS["read"]
            [(arrived, read, text)] = await messages(client, 1)
            assert text == "offer"
            assert wsclient.STAMPS["read"] == untimed, "the kernel gave this read no time"
            assert before <= arrived < midway < woke <= read  # the kernel's time, not when it was read

    asyncio.run(story())


def test_frames_read_together_take_the_time_of_the_later_never_an_earlier_one() -> None:
    # Why the clients must read soon after what is timed: a heartbeat queued behind an offer
    # lends the offer its time (the kernel merges small segments waiting in one queue).
    async def story() -> None:
        async with connected() as (client, server):
            server.send(text_frame("offer"))
            starved(LATER)
            between = time.time()
            server.send(text_frame("heartbeat"))
            both = await messages(client, 2)
            assert [text for _a, _r, text in both] == ["offer", "heartbeat"]
            assert all(arrived >= between for arrived, _r, _t in both)

    asyncio.run(story())


def test_a_frame_in_two_parts_takes_the_time_of_its_last_byte() -> None:
    async def story() -> None:
        async with connected() as (client, server):
            frame = text_frame("offer in two parts")
            server.send(frame[:6])
            await asyncio.sleep(LATER)  # read live meanwhile: the first part on its own
            second = time.time()
            server.send(frame[6:])
            [(arrived, _read, text)] = await messages(client, 1)
            assert text == "offer in two parts"
            assert arrived >= second

    asyncio.run(story())
