"""realtime.transport: a Twisted TCP connection sends at once when nothing is buffered.

On a real socket pair: the bytes are at the peer when `write` returns, without the
reactor being asked to watch the socket; what does not fit in the socket's buffer is
buffered and sent by Twisted in order, and later writes queue behind it; a lost
connection goes Twisted's own way. (Under daphne the same path carries every event of
the two-process and outage tests.)
"""

import contextlib
import socket
import time

import pytest
from twisted.internet import error, tcp

from realtime import transport


class Reactor:
    """Just what a FileDescriptor asks of its reactor when it writes."""

    def __init__(self) -> None:
        self.writers: set = set()

    def addWriter(self, fd) -> None:  # noqa: N802 (Twisted's name)
        self.writers.add(fd)

    def removeWriter(self, fd) -> None:  # noqa: N802
        self.writers.discard(fd)


@pytest.fixture
def pair():
    transport.install()
    ours, theirs = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    theirs.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reactor = Reactor()
    conn = tcp.Connection(ours, protocol=None, reactor=reactor)
    conn.connected = True
    yield conn, theirs, reactor
    ours.close()
    theirs.close()


def test_a_write_with_nothing_buffered_is_at_the_peer_when_it_returns(pair):
    conn, theirs, reactor = pair

    conn.write(b"offer.created")

    theirs.setblocking(False)
    assert theirs.recv(100) == b"offer.created"  # no turn of any loop in between
    assert reactor.writers == set()
    assert conn.dataBuffer == b"" and conn._tempDataBuffer == []


def test_what_the_socket_cannot_take_is_buffered_and_later_writes_keep_their_order(pair):
    conn, theirs, reactor = pair
    big = bytes(range(256)) * 4096  # 1 MiB: far more than the socket buffers hold

    conn.write(big)
    assert reactor.writers == {conn}  # the rest waits for the socket to be writable
    conn.write(b"after")  # must not overtake what is buffered

    assert drain(conn, theirs, reactor, len(big) + len(b"after")) == big + b"after"
    assert reactor.writers == set()


def drain(conn: tcp.Connection, theirs: socket.socket, reactor: Reactor, n: int) -> bytes:
    """Read n bytes at the peer, doing Twisted's writes whenever it watches the socket."""
    theirs.setblocking(False)
    got = b""
    deadline = time.monotonic() + 10
    while len(got) < n and time.monotonic() < deadline:
        if conn in reactor.writers:
            assert conn.doWrite() is None
        with contextlib.suppress(BlockingIOError):
            got += theirs.recv(65536)
    return got


def test_a_lost_connection_is_left_to_twisted(pair):
    conn, theirs, reactor = pair
    theirs.close()

    conn.write(b"offer.created")

    # Buffered as before the change; the reactor's write finds the loss and closes as usual.
    assert reactor.writers == {conn}
    assert isinstance(conn.doWrite(), error.ConnectionLost)
