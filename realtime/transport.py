"""Writes to a phone's socket go out when they are made, not on the event loop's next turn.

Twisted's TCP transport (under daphne) never writes in `write()`: it buffers the bytes,
registers the socket for writability, and sends on the loop's next turn, then unregisters
it. An offer broadcast hands its event to some forty connections of a process in one turn
of the loop, so every phone waited for the last of them to be handed out before the first
byte left, and each write cost two `epoll_ctl` calls besides the `send`. asyncio's own
transports send at once when nothing is waiting in the buffer; `install()` makes Twisted's
TCP connections do the same, and leaves everything else (a partly sent message, a full
socket buffer, TLS, a closing connection) to Twisted's own path.
"""

from typing import Any

_installed = False


def install() -> None:
    """Let Twisted TCP connections send at once when nothing is buffered (idempotent)."""
    global _installed
    if _installed:
        return
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

    tcp.Connection.write = write
    _installed = True
