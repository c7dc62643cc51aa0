"""realtime.transport: a Twisted TCP connection sends at once when nothing is buffered,
and daphne's connections share one frame per text.

On a real socket pair: the bytes are at the peer when `write` returns, without the
reactor being asked to watch the socket; what does not fit in the socket's buffer is
buffered and sent by Twisted in order, and later writes queue behind it; a lost
connection goes Twisted's own way. (Under daphne the same path carries every event of
the two-process and outage tests.)

The shared frames are checked against autobahn's own framing of the same text on a
daphne protocol of daphne's factory; what the shortcut leaves out (compression, a closed
connection, a message autobahn would fragment) is sent as autobahn sends it.
"""

import collections
import contextlib
import functools
import socket
import time

import pytest
from autobahn.exception import Disconnected
from autobahn.websocket.protocol import TrafficStats
from autobahn.websocket.protocol import WebSocketProtocol as Autobahn
from daphne.server import Server
from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
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


# --- one frame per text --------------------------------------------------------------


class Written:
    def __init__(self) -> None:
        self.data: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.data.append(data)


def open_protocol(**options) -> WebSocketProtocol:
    """A daphne WebSocket protocol as its factory makes it, open, writing to a list."""
    factory = WebSocketFactory(server_class=None)
    factory.setProtocolOptions(**options)
    proto = factory.buildProtocol(None)
    for attr in proto.CONFIG_ATTRS:  # what autobahn copies from the factory when a connection opens
        setattr(proto, attr, getattr(factory, attr))
    proto.state = Autobahn.STATE_OPEN
    proto.send_queue = collections.deque()
    proto.trafficStats = TrafficStats()
    proto.trackedTimings = None
    proto._perMessageCompress = None
    proto.client_addr = None
    proto.transport = Written()
    return proto


def autobahn_frame(text: str, **options) -> list[bytes]:
    """What autobahn itself writes for `text`, without the shortcut."""
    proto = open_protocol(**options)
    proto.sendMessage(text.encode("utf8"), False)
    return proto.transport.data


@pytest.mark.parametrize("text", ["心跳", '{"type": "offer.created"}', "x" * 200, "订单" * 40_000])
def test_connections_write_the_frame_autobahn_would_and_share_it(text):
    transport.install()
    one, two = open_protocol(), open_protocol()

    one.serverSend(text, False)
    two.serverSend(text, False)

    assert one.transport.data == autobahn_frame(text)  # 7-bit, 16-bit and 64-bit lengths
    assert one.transport.data[0] is two.transport.data[0]  # framed once
    assert one.trafficStats.outgoingWebSocketMessages == 1


def test_what_the_shortcut_leaves_out_is_sent_as_autobahn_sends_it():
    transport.install()
    long = "长" * 1000  # 3 000 bytes of UTF-8

    fragmented = open_protocol(autoFragmentSize=1024)
    fragmented.serverSend(long, False)
    assert fragmented.transport.data == autobahn_frame(long, autoFragmentSize=1024)
    assert len(fragmented.transport.data) > 1

    compressed = open_protocol()
    compressed._perMessageCompress = object()  # negotiated: autobahn compresses per connection
    sent: list = []
    compressed.sendMessage = lambda payload, binary: sent.append((payload, binary))
    compressed.serverSend("事件", False)
    assert sent == [("事件".encode(), False)] and compressed.transport.data == []

    closed = open_protocol()
    closed.state = Autobahn.STATE_CLOSED
    with pytest.raises(Disconnected):
        closed.serverSend("事件", False)
    assert closed.transport.data == []


def test_the_frames_kept_are_bounded():
    transport.install()
    proto = open_protocol()
    for n in range(transport.FRAMES_KEPT + 50):
        proto.serverSend(f"heartbeat {n}", False)
    assert len(transport._frames) == transport.FRAMES_KEPT
    assert "heartbeat 0" not in transport._frames


# --- a synchronous send for the channel layer's reader ----------------------------------


def test_daphnes_send_has_a_synchronous_twin_that_writes_the_same_frame():
    transport.install()
    server = Server(application=None, endpoints=["tcp:port=0"])  # constructed only: nothing listens
    server.connections = {}  # as run() starts it
    proto = open_protocol()
    server.connections[proto] = {"connected": 0}
    send_text = transport.text_sender(functools.partial(server.handle_reply, proto))

    send_text("事件")

    assert proto.transport.data == autobahn_frame("事件")
    server.connections[proto]["disconnected"] = 1  # the client has gone: nothing is written, as daphne's send
    send_text("事件")
    assert len(proto.transport.data) == 1


def test_any_other_send_has_none():
    async def send(message):
        pass

    assert transport.text_sender(send) is None
    assert transport.text_sender(functools.partial(send)) is None
