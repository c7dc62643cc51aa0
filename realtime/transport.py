"""Writes to a phone's socket go out when they are made, and one event is framed once per process.

Twisted's TCP transport (under daphne) never writes in `write()`: it buffers the bytes,
registers the socket for writability, and sends on the loop's next turn, then unregisters
it. An offer broadcast hands its event to some forty connections of a process in one turn
of the loop, so every phone waited for the last of them to be handed out before the first
byte left, and each write cost two `epoll_ctl` calls besides the `send`. asyncio's own
transports send at once when nothing is waiting in the buffer; `install()` makes Twisted's
TCP connections do the same, and leaves everything else (a partly sent message, a full
socket buffer, TLS, a closing connection) to Twisted's own path.

A live event is the same text for every connection of a process (`realtime.log.live_row`),
and a server's WebSocket frames are not masked, so the frame is the same bytes for all of
them too. daphne encoded and autobahn framed it again for each connection, and autobahn's
send path formats a debug line's arguments each time whether or not debug logging is on:
some 9 µs of a delivery's ~105 µs in bench/push.py. `install()` also makes daphne's
text sends look the frame up by the text (a str keeps its hash, so the lookup costs
nothing after the first) and write it straight to the transport, as autobahn does for a
prepared message (`sendPreparedMessage`). Anything else takes autobahn's own path: a
connection not open, one that negotiated compression, a send queue or frame logging in
use, and a message too long for one frame.
"""

import functools
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_installed = False

# Frames of the latest texts sent, by text. A broadcast's events go out within
# milliseconds; a few hundred texts cover every burst many times over.
FRAMES_KEPT = 256
_frames: OrderedDict[str, tuple[bytes, int]] = OrderedDict()


def text_frame(text: str) -> tuple[bytes, int]:
    """The unmasked, unfragmented WebSocket frame of a text message (autobahn's), and its payload's length."""
    found = _frames.get(text)
    if found is None:
        from autobahn.websocket.protocol import PreparedMessage

        payload = text.encode("utf8")
        found = _frames[text] = (PreparedMessage(payload, False, False, True).payloadHybi, len(payload))
        if len(_frames) > FRAMES_KEPT:
            _frames.popitem(last=False)
    return found


def install() -> None:
    """Send at once when nothing is buffered; share text frames between connections (idempotent)."""
    global _installed
    if _installed:
        return
    _write_through()
    _shared_text_frames()
    _installed = True


def _write_through() -> None:
    from twisted.internet import tcp

    buffered_write = tcp.Connection.write

    def write(self: Any, data: bytes) -> None:
        if (
            not self.TLS
            and self.connected
            and not self.disconnecting
            and not self._writeDisconnected
            and not self.dataBuffer
            and not self._tempDataBuffer
            and isinstance(data, bytes)
            and data
        ):
            sent = self.writeSomeData(data)
            if not isinstance(sent, int):
                # The connection is lost: Twisted's path finds that out and closes it as usual.
                buffered_write(self, data)
                return
            if sent == len(data):
                return
            data = data[sent:]
        buffered_write(self, data)

    tcp.Connection.write = write  # type: ignore[method-assign]  # the fast path's one replaced method here


def _shared_text_frames() -> None:
    from autobahn.websocket.protocol import WebSocketProtocol as Autobahn
    from daphne.ws_protocol import WebSocketProtocol

    framed_each_time = WebSocketProtocol.serverSend

    def server_send(self: Any, content: Any, binary: bool = False) -> None:
        if (
            binary
            or not isinstance(content, str)
            or self.state != Autobahn.STATE_OPEN
            or self._perMessageCompress is not None
            or self.send_queue
            or self.logFrames
            or self.logOctets
        ):
            framed_each_time(self, content, binary)
            return
        frame, size = text_frame(content)
        # Longer than one frame may be (autobahn fragments it) or than a message may be (it refuses).
        if 0 < self.autoFragmentSize < size or 0 < self.maxMessagePayloadSize < size:
            framed_each_time(self, content, binary)
            return
        self.trafficStats.outgoingWebSocketMessages += 1
        self.transport.write(frame)

    WebSocketProtocol.serverSend = server_send


def text_sender(send: Any) -> Callable[[str], None] | None:
    """A synchronous send of a text to the client behind daphne's ASGI `send`; None for any other server.

    daphne's `send` is a coroutine that does nothing asynchronous: it drops a reply to a
    connection already gone and hands the rest to the connection's protocol. Doing that
    without the coroutine lets the channel layer's reader write a live event to a phone
    from its own task (realtime/layers.py, `take`).
    """
    from daphne.server import Server

    if not isinstance(send, functools.partial) or len(send.args) != 1 or send.keywords:
        return None
    handle_reply = send.func
    if getattr(handle_reply, "__func__", None) is not Server.handle_reply:
        return None
    server, protocol = handle_reply.__self__, send.args[0]  # type: ignore[attr-defined]  # a bound method
    message_type = "websocket.send"

    def send_text(text: str) -> None:
        connection = server.connections.get(protocol)
        if connection is None or connection.get("disconnected"):
            return  # as daphne's own send: the client has gone, disconnect() is on its way
        protocol.handle_reply({"type": message_type, "text": text})

    return send_text
