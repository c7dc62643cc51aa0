"""A lean WebSocket client (RFC 6455) for the live-push benchmarks: it notes when bytes arrive, and parses later.

A full client parsing each message on arrival stamped the end of a burst late. Here each chunk
keeps when the kernel queued its bytes (SO_TIMESTAMPNS) and when this process read them, and
`Lean.take_messages` parses frames between receipts; a message gets the times of its last byte.
Only what the benchmarks need: ws://, no subprotocol, extension or fragmented message, no pings
of our own; pings are answered when `take_messages` runs, so it must run within the ping timeout.
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
# Every connection's bytes land here and are copied out at once: a fresh 256 KiB buffer per
# read had glibc map and unmap it each time. One loop at a time may use it (read, then copy).
RECEIVE_BUFFER = memoryview(bytearray(256 * 1024))
# asm-generic/socket.h (Python's socket module names neither): a timespec of time.time()'s clock.
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
TIMESPEC = struct.Struct("@qq")
ANCILLARY_SIZE = socket.CMSG_SPACE(TIMESPEC.size)
# Reads with the kernel's time and without (read time stands in): see kernel_stamping.
STAMPS: Counter[str] = Counter()
Message = tuple[float, float, str]  # (arrival, read time, text): see the module docstring


class HandshakeError(Exception):
    """The server did not switch to WebSocket as RFC 6455 §4.1 asks of it."""


class FrameError(Exception):
    """The server sent a frame RFC 6455 forbids (masked, reserved bits, a bad fragment, bad UTF-8)."""


def accept_for(key: str) -> str:
    """The Sec-WebSocket-Accept a server must answer to `key` (RFC 6455 §4.2.2)."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()


def client_frame(opcode: int, payload: bytes = b"") -> bytes:
    """One control frame (at most 125 bytes, §5.5), masked: a server closes on a client frame that is not (§5.1)."""
    n = len(payload)
    if n > 125:
        raise ValueError(f"a control frame of {n} bytes")
    key = secrets.token_bytes(4)
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes((key * 32)[:n], "big")).to_bytes(n, "big")
    return bytes((0x80 | opcode, 0x80 | n)) + key + masked


def kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    """The kernel's receive time in one recvmsg's control messages (of the last bytes it returned), if any."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(data) >= TIMESPEC.size:
            seconds, nanoseconds = TIMESPEC.unpack_from(data)
            return seconds + nanoseconds * 1e-9
    return None


@contextlib.contextmanager
def kernel_stamping(timeout: float = 5) -> Iterator[None]:
    """Turn the kernel's receive timestamps on for the block: Linux starts giving them a moment after
    the first socket asks, so wait for them on a connection of the block's own that keeps them on."""
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
    """What a Stamped connection calls (Lean; the Redis floor's subscriber)."""

    def connection_made(self, transport: Stamped) -> None: ...

    def received(self, arrived: float, read: float, data: bytes) -> None: ...

    def connection_lost(self, exc: Exception | None) -> None: ...


class Stamped:
    """A client TCP connection read with recvmsg, as asyncio's transports are not (they drop the receive time).

    A read's time is that of the latest bytes it took: never early, but a frame read together
    with a later one (a heartbeat behind an offer) takes the later one's time.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, protocol: Receiver) -> None:
        self.loop = loop
        self.sock = sock
        self.fd = sock.fileno()
        self.protocol = protocol
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
        arrived = kernel_time(ancillary)
        STAMPS["read" if arrived is None else "kernel"] += 1
        self.protocol.received(read if arrived is None else arrived, read, RECEIVE_BUFFER[:n].tobytes())

    def write(self, data: bytes) -> None:
        """Send at once: a client that only writes its handshake and control frames never fills its send buffer."""
        if self.gone:
            return
        try:
            sent = self.sock.send(data)
        except OSError as exc:  # BlockingIOError included: the connection is stuck
            self._end(exc)
            return
        if sent < len(data):
            self._end(OSError(f"the send buffer took {sent} of {len(data)} bytes"))

    def abort(self) -> None:
        self._end(None)

    def _end(self, exc: Exception | None) -> None:
        if self.gone:
            return
        self.gone = True
        self.loop.remove_reader(self.fd)
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
        # (arrival, read time, bytes) as they came; None until the handshake is done.
        self.chunks: list[tuple[float, float, bytes]] | None = None
        self.rest = bytearray()  # the start of a frame whose end has not been parsed yet
        self.close_sent = False
        self.close_code: int | None = None  # from the server's close frame
        self.close_reason = ""
        self.close_at: float | None = None  # arrival of that frame
        self.lost_at: float | None = None
        self.lost_error: Exception | None = None

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
            self.handshake.set_exception(HandshakeError(f"closed during the handshake ({exc or 'EOF'})"))
        if not self.lost.done():
            self.lost.set_result(None)
        if self.on_lost is not None:
            self.on_lost()

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
        """The client's checks of RFC 6455 §4.1 on the server's answer."""
        status, *lines = head.split("\r\n")
        if status.split(" ")[:2] != ["HTTP/1.1", "101"]:
            raise HandshakeError(f"the server answered {status!r}, not 101 Switching Protocols")
        headers: dict[str, list[str]] = {}  # a repeated header is one list (RFC 9110 §5.3)
        for line in lines:
            name, sep, value = line.partition(":")
            if not sep:
                raise HandshakeError(f"a malformed response header {line!r}")
            headers.setdefault(name.strip().lower(), []).extend(v.strip() for v in value.split(","))
        accept = accept_for(self.key)
        for ok, wanted in (
            ([v.lower() for v in headers.get("upgrade", [])] == ["websocket"], "Upgrade: websocket"),
            ("upgrade" in (v.lower() for v in headers.get("connection", [])), "Connection: upgrade"),
            (headers.get("sec-websocket-accept") == [accept], f"Sec-WebSocket-Accept: {accept}"),
            # We offered none: a server may not pick one.
            (not any(headers.get("sec-websocket-extensions", [])), "no extension"),
            (not any(headers.get("sec-websocket-protocol", [])), "no subprotocol"),
        ):
            if not ok:
                raise HandshakeError(f"a 101 without {wanted}: {headers}")

    def _fail(self, exc: Exception) -> None:
        if not self.handshake.done():
            self.handshake.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def take_messages(self) -> list[Message]:
        """Parse what came since the last call (a frame's start waits), answer pings and a close; the text messages."""
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
            if length >= 126:  # the length follows in 2 or 8 bytes (§5.2)
                start += 2 if length == 126 else 8
                if start > size:
                    break
                length = int.from_bytes(data[pos + 2 : start], "big")
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
        if not fin or opcode == OP_CONT:
            raise FrameError("a fragmented message, which neither the stream nor the bare floor sends (§5.4)")
        if opcode == OP_TEXT:
            try:
                messages.append((*times, payload.decode("utf-8")))
            except UnicodeDecodeError as exc:
                raise FrameError(f"a text message that is not UTF-8 ({exc})") from exc
        elif opcode != OP_BINARY:  # binary messages: not events
            raise FrameError(f"unknown data opcode {opcode:#x}")

    def _close_frame(self, arrived: float, payload: bytes) -> None:
        if len(payload) == 1:
            raise FrameError("a close frame with a 1-byte body (§5.5.1)")
        self.close_at = arrived
        self.close_code = int.from_bytes(payload[:2], "big") if payload else NO_STATUS
        self.close_reason = payload[2:].decode("utf-8", "replace")
        # Echo the code (§5.5.1); the server then closes the TCP connection.
        self._send(OP_CLOSE, payload[:2])

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
        """End the TCP connection from our side, if the server has not."""
        if self.transport is not None:
            self.transport.abort()

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
    request = (
        f"GET {target} HTTP/1.1\r\nHost: {parts.netloc.rpartition('@')[2]}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        + (f"Origin: {origin}\r\n" if origin else "")
        + "\r\n"
    ).encode("latin-1")
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
