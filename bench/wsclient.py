"""A lean WebSocket client (RFC 6455) for bench/push.py: it notes when bytes arrive, and parses later.

One process times the receipts of 1 000 connections, and a broadcast reaches about
a hundred of them at the same instant. A full client (the `websockets` library)
parses each message on arrival and wakes a task for it, about 100-180 µs of CPU a
message on a 2-core machine, so the last receipt of a burst was stamped milliseconds
after its bytes had come in. Here each chunk carries two times: when the kernel
queued its bytes on the socket (SO_TIMESTAMPNS, read with recvmsg: the moment the
bytes reached this host, as they would reach a phone's, whenever this process gets
round to reading them) and when this process read them (time.time() first thing in
the read callback). Nothing else is done on receipt; frames are parsed by
`Lean.take_messages`, which the caller runs between receipts, and a text message
gets the times of the chunk that brought its last byte.

Only what the benchmark needs: ws:// (no TLS), no subprotocol, no extension (no
permessage-deflate), no pings of our own. Pings are answered and a close is
echoed when `take_messages` runs, so it must run well within the server's ping
timeout (daphne: 30 s after a ping).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Protocol
from urllib.parse import urlsplit

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 §1.3
MAX_HEAD = 64 * 1024  # a 101 response is a few hundred bytes: more is not a WebSocket server
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NO_STATUS = 1005  # RFC 6455 §7.4.1: a close frame without a code
ABNORMAL = 1006  # RFC 6455 §7.4.1: the connection went without a close frame
# Where every connection's bytes land, copied out at once: reading into a fresh 256 KiB
# bytes per recv (asyncio's data_received) had glibc map and unmap it each time, about
# 30 µs of system CPU a message here. One buffer serves all connections: a read and its
# copy run back to back in the event loop's thread (one loop at a time may use Lean).
RECEIVE_BUFFER = memoryview(bytearray(256 * 1024))
# Linux's receive timestamps (asm-generic/socket.h; Python's socket module names neither):
# the control message is a struct timespec of CLOCK_REALTIME, the clock of time.time().
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("@qq")
ANCILLARY_SIZE = socket.CMSG_SPACE(TIMESPEC.size)
# How many chunks came with the kernel's time and how many without (read time stands in):
# the kernel turns its timestamping on a moment after the first socket asks for it.
STAMPS: Counter[str] = Counter()


Message = tuple[float, float, str]  # (arrival, read time, text): see the module docstring


class HandshakeError(Exception):
    """The server did not switch to WebSocket as RFC 6455 §4.1 asks of it."""


class FrameError(Exception):
    """The server sent a frame RFC 6455 forbids (masked, reserved bits, a bad fragment, bad UTF-8)."""


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def mask(payload: bytes, key: bytes) -> bytes:
    """XOR `payload` with the 4-byte `key` repeated, as one big integer (no loop per byte)."""
    n = len(payload)
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One final frame, masked: a server must close a connection whose client frames are not (§5.1)."""
    n = len(payload)
    if n < 126:
        head = bytes((0x80 | opcode, 0x80 | n))
    elif n < 1 << 16:
        head = bytes((0x80 | opcode, 0x80 | 126)) + n.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 0x80 | 127)) + n.to_bytes(8, "big")
    key = secrets.token_bytes(4)
    return head + key + mask(payload, key)


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time in one recvmsg's control messages (of the last bytes it returned), if any."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(data)
            return seconds + nanoseconds * 1e-9
    return None


def arrival(ancillary: list[tuple[int, int, bytes]], read: float) -> float:
    """When the kernel queued the bytes one recvmsg returned (the last of them), or `read` if it did not say."""
    stamped = kernel_time(ancillary)
    STAMPS["read" if stamped is None else "kernel"] += 1
    return read if stamped is None else stamped


@contextlib.contextmanager
def kernel_stamping(timeout: float = 5) -> Iterator[None]:
    """Turn the kernel's receive timestamps on for the block; it starts once they are given.

    Linux flips timestamping on in a work item a moment after the first socket asks for
    it, and drops the time of what arrives meanwhile: those reads would be timed when
    read (counted in STAMPS["read"]). A loaded machine can take longer than a WebSocket
    handshake over that, so a measurement waits here, on a connection of its own that
    keeps the timestamping on until the block ends.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        sender = socket.create_connection(listener.getsockname(), timeout)
        receiver, _ = listener.accept()
    with sender, receiver:
        receiver.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        receiver.settimeout(timeout)
        deadline = time.monotonic() + timeout
        while True:
            sender.sendall(b".")
            _data, ancillary, _flags, _address = receiver.recvmsg(16, ANCILLARY_SIZE)
            if kernel_time(ancillary) is not None:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the kernel gave no receive time within {timeout} s")
            time.sleep(0.001)
        yield


class Receiver(Protocol):
    """What a Stamped connection calls (Lean; bench/push.py's Redis floor subscriber)."""

    def connection_made(self, transport: Stamped) -> None: ...

    def received(self, arrived: float, read: float, data: bytes) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class Stamped:
    """A client TCP connection read with recvmsg, so that each chunk comes with the kernel's receive time.

    asyncio's transports read with recv and drop the control messages, hence this small
    one on the loop's add_reader/add_writer. A read's time is that of the latest bytes it
    took: the kernel keeps one time per queued segment, and gives a segment merged into
    an unread one its own, later time. So a time is never early, but a frame read
    together with one that came after it (a heartbeat behind an offer) takes the later
    one's: read soon after what is timed.

    It calls its protocol (a Receiver) as an asyncio transport would: connection_made,
    received (for data_received), connection_lost once, on the loop's next turn.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: Receiver) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.protocol = protocol
        self.unsent = bytearray()
        self.closing = False  # close() asked: end once the unsent bytes are out
        self.gone = False
        loop.add_reader(self.fd, self._readable)
        protocol.connection_made(self)

    def _readable(self) -> None:
        try:
            n, ancillary, _flags, _address = self.sock.recvmsg_into([RECEIVE_BUFFER], ANCILLARY_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(exc)
            return
        read = time.time()
        if n == 0:
            self._end(None)  # the server ended the connection
            return
        self.protocol.received(arrival(ancillary, read), read, RECEIVE_BUFFER[:n].tobytes())

    def write(self, data: bytes) -> None:
        if self.gone or self.closing:
            return
        if not self.unsent:
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._end(exc)
                return
            data = data[sent:]
            if not data:
                return
            self.loop.add_writer(self.fd, self._writable)
        self.unsent += data

    def _writable(self) -> None:
        try:
            sent = self.sock.send(self.unsent)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._end(exc)
            return
        del self.unsent[:sent]
        if not self.unsent:
            self.loop.remove_writer(self.fd)
            if self.closing:
                self._end(None)

    def close(self) -> None:
        """End the connection once what was written is sent."""
        if self.unsent:
            self.closing = True
        else:
            self._end(None)

    def abort(self) -> None:
        self._end(None)

    def _end(self, exc: Exception | None) -> None:
        if self.gone:
            return
        self.gone = True
        self.loop.remove_reader(self.fd)
        if self.unsent:
            self.loop.remove_writer(self.fd)
        self.sock.close()
        self.loop.call_soon(self.protocol.connection_lost, exc)


class Lean:
    """One client connection: raw chunks while open, frames only when `take_messages` is called."""

    def __init__(self, request: bytes, key: str) -> None:
        self.request = request
        self.key = key
        self.transport: Stamped | None = None
        self.head = bytearray()  # the handshake response until its blank line
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.on_lost: Callable[[], None] | None = None
        # (arrival, read, bytes) as they came: the kernel's receive time and this process's
        # read time (module docstring); None until the handshake is done.
        self.chunks: list[tuple[float, float, bytes]] | None = None
        self.rest = bytearray()  # the start of a frame whose end has not been parsed yet
        self.parts: list[bytes] = []  # a fragmented message's payloads so far
        self.part_opcode: int | None = None  # its first frame's opcode while one is open
        self.close_sent = False
        self.close_code: int | None = None  # from the server's close frame
        self.close_reason = ""
        self.close_at: float | None = None  # arrival of that frame
        self.lost_at: float | None = None
        self.lost_error: Exception | None = None

    # --- the transport's calls -------------------------------------------------------

    def connection_made(self, transport: Stamped) -> None:
        self.transport = transport
        transport.write(self.request)

    def received(self, arrived: float, read: float, data: bytes) -> None:
        # Nothing once open but keeping the chunk: this is the receipt being measured.
        if self.chunks is not None:
            self.chunks.append((arrived, read, data))
        else:
            self._handshake_data(arrived, read, data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost_at = time.time()
        self.lost_error = exc
        self.transport = None
        if not self.handshake.done():
            self.handshake.set_exception(
                HandshakeError(f"the server closed the connection during the handshake ({exc or 'EOF'})")
            )
        if not self.lost.done():
            self.lost.set_result(None)
        if self.on_lost is not None:
            self.on_lost()

    # --- the opening handshake (RFC 6455 §4.1) -------------------------------------

    def _handshake_data(self, arrived: float, read: float, data: bytes) -> None:
        if self.handshake.done():
            return  # failed already: the transport is closing
        self.head += data
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > MAX_HEAD:
                self._fail(HandshakeError(f"no end to the response headers in {MAX_HEAD} bytes"))
            return
        try:
            self._check_response(bytes(self.head[:end]).decode("latin-1"))
        except HandshakeError as exc:
            self._fail(exc)
            return
        after = bytes(self.head[end + 4 :])
        self.head = bytearray()
        # Frames sent right after the 101 came with it: they arrived then too.
        self.chunks = [(arrived, read, after)] if after else []
        self.handshake.set_result(None)

    def _check_response(self, head: str) -> None:
        status, *lines = head.split("\r\n")
        parts = status.split(" ", 2)
        if len(parts) < 2 or parts[0] != "HTTP/1.1" or parts[1] != "101":
            raise HandshakeError(f"the server answered {status!r}, not 101 Switching Protocols")
        headers: dict[str, str] = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise HandshakeError(f"a malformed response header {line!r}")
            name = name.strip().lower()
            # Repeated headers are one comma-separated list (RFC 9110 §5.3).
            headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
        if headers.get("upgrade", "").lower() != "websocket":
            raise HandshakeError(f"Upgrade: {headers.get('upgrade')!r} in the 101, not websocket")
        if "upgrade" not in (token.strip().lower() for token in headers.get("connection", "").split(",")):
            raise HandshakeError(f"Connection: {headers.get('connection')!r} in the 101, without upgrade")
        if headers.get("sec-websocket-accept") != accept_for(self.key):
            raise HandshakeError(
                f"Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, expected {accept_for(self.key)!r}"
            )
        # We offered none: a server may not pick one (§4.1, points 5 and 6 of the client's checks).
        for name in ("sec-websocket-extensions", "sec-websocket-protocol"):
            if headers.get(name):
                raise HandshakeError(f"the server chose {name} {headers[name]!r}, which was not offered")

    def _fail(self, exc: Exception) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    # --- frames, parsed only when asked (RFC 6455 §5) ------------------------------

    def take_messages(self) -> list[Message]:
        """Parse what came since the last call; answer pings and a close; return the text messages.

        Each message is (arrival, read time, text) of the chunk with its last byte. A half-received frame waits
        for the next call. Raises FrameError on a frame a server may not send.
        """
        if not self.chunks:
            return []
        chunks, self.chunks = self.chunks, []
        messages: list[Message] = []
        for arrived, read, chunk in chunks:
            if self.rest:
                self.rest += chunk
                data: bytes | bytearray = self.rest
            else:
                data = chunk  # the usual case: a chunk starts with a frame, no copy
            used = self._frames((arrived, read), data, messages)
            if data is self.rest:
                del self.rest[:used]
            elif used < len(data):
                self.rest = bytearray(data[used:])
        return messages

    def _frames(self, times: tuple[float, float], data: bytes | bytearray, messages: list[Message]) -> int:
        """Every complete frame in `data`; returns the bytes used."""
        pos, size = 0, len(data)
        while size - pos >= 2:
            b0, b1 = data[pos], data[pos + 1]
            if b1 & 0x80:
                raise FrameError("a masked frame from the server (§5.1)")
            if b0 & 0x70:
                raise FrameError(f"reserved bits {b0 & 0x70:#x} set, and no extension was agreed (§5.2)")
            length, start = b1 & 0x7F, pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length, start = int.from_bytes(data[pos + 2 : pos + 4], "big"), pos + 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, start = int.from_bytes(data[pos + 2 : pos + 10], "big"), pos + 10
            end = start + length
            if end > size:
                break
            self._frame(times, b0 & 0x80, b0 & 0x0F, bytes(data[start:end]), messages)
            pos = end
        return pos

    def _frame(
        self, times: tuple[float, float], fin: int, opcode: int, payload: bytes, messages: list[Message]
    ) -> None:
        if self.close_at is not None:
            return  # nothing may follow a close frame (§5.5.1)
        if opcode >= OP_CLOSE:
            if not fin or len(payload) > 125:
                raise FrameError(f"control frame {opcode:#x} fragmented or longer than 125 bytes (§5.5)")
            if opcode == OP_PING:
                self._send(OP_PONG, payload)  # the same payload: autobahn matches it
            elif opcode == OP_CLOSE:
                self._close_frame(times[0], payload)
            elif opcode != OP_PONG:
                raise FrameError(f"unknown control opcode {opcode:#x}")
            return
        if opcode == OP_CONT:
            if self.part_opcode is None:
                raise FrameError("a continuation frame with no message to continue (§5.4)")
            self.parts.append(payload)
        elif opcode in (OP_TEXT, OP_BINARY):
            if self.part_opcode is not None:
                raise FrameError("a new message inside a fragmented one (§5.4)")
            self.part_opcode, self.parts = opcode, [payload]
        else:
            raise FrameError(f"unknown data opcode {opcode:#x}")
        if not fin:
            return
        whole = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        kind, self.part_opcode, self.parts = self.part_opcode, None, []
        if kind == OP_TEXT:
            try:
                messages.append((*times, whole.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise FrameError(f"a text message that is not UTF-8 ({exc})") from exc
        # Binary messages: neither the stream nor the bare consumer sends any; not events.

    def _close_frame(self, arrived: float, payload: bytes) -> None:
        if len(payload) == 1:
            raise FrameError("a close frame with a 1-byte body (§5.5.1)")
        self.close_at = arrived
        self.close_code = int.from_bytes(payload[:2], "big") if payload else NO_STATUS
        self.close_reason = payload[2:].decode("utf-8", "replace")
        # Echo the code (§5.5.1); the server then closes the TCP connection.
        self._send(OP_CLOSE, payload[:2])

    # --- sending and closing --------------------------------------------------------

    def _send(self, opcode: int, payload: bytes) -> None:
        if self.transport is None or self.close_sent:
            return  # gone, or closing: no frame may follow our close
        self.transport.write(client_frame(opcode, payload))
        if opcode == OP_CLOSE:
            self.close_sent = True

    def send_close(self, code: int = 1000) -> None:
        """Start the closing handshake; the server answers and closes the TCP connection."""
        self._send(OP_CLOSE, code.to_bytes(2, "big"))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def close_transport(self) -> None:
        """End the TCP connection from our side (after what is written), if the server has not."""
        if self.transport is not None:
            self.transport.close()

    @property
    def is_open(self) -> bool:
        return self.transport is not None


async def connect(url: str, origin: str | None, timeout: float) -> Lean:
    """Open a ws:// URL and complete the handshake within `timeout` seconds, or raise."""
    parts = urlsplit(url)
    if parts.scheme != "ws" or not parts.hostname:
        raise ValueError(f"only ws://host[:port]/path URLs, not {url!r}")
    port = parts.port or 80
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = base64.b64encode(secrets.token_bytes(16)).decode()
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {parts.netloc.rpartition('@')[2]}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
    ]
    if origin:
        lines.append(f"Origin: {origin}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    loop = asyncio.get_running_loop()
    protocol: Lean | None = None
    try:
        async with asyncio.timeout(timeout):
            sock = await stamped_socket(parts.hostname, port)
            protocol = Lean(request, key)
            Stamped(loop, sock, protocol)
            await protocol.handshake
    except BaseException:
        if protocol is not None:
            protocol.handshake.cancel()  # no one will read how it ended: no "never retrieved" warning
            protocol.abort()
        raise
    return protocol


async def stamped_socket(host: str, port: int) -> socket.socket:
    """A connected, non-blocking TCP socket whose reads carry the kernel's receive time (SO_TIMESTAMPNS)."""
    loop = asyncio.get_running_loop()
    family, kind, proto, _name, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        await loop.sock_connect(sock, address)
    except BaseException:
        sock.close()
        raise
    return sock
