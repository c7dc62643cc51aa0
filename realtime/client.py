"""A reference stream client, for phone app developers: what a client must do.

    python -m realtime.client --url ws://127.0.0.1:8000/ws/v1/stream/ --token TOKEN [--after SEQ]

It connects with `?token=…&after=<last seq seen>`, prints each event as one JSON
line, remembers the last seq (in memory, and in --state-file if given), and when the
connection drops reconnects with exponential backoff and full jitter, so that a
thousand phones coming back after an outage do not all knock at the same moment.
The server sends every event after that seq once and in order, so the client needs
no de-duplication; it still ignores a seq it has seen, as cheap insurance.
"""

import argparse
import asyncio
import contextlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

# The server's own refusals: retrying cannot help.
REFUSED = {4401, 4403}


class Refused(Exception):
    """The server will not let this client in (bad token, deactivated user, wrong origin)."""


class StreamClient:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        after: int | None = None,
        on_message: Callable[[dict[str, Any]], None] | None = None,
        state_file: Path | None = None,
        first_delay: float = 0.5,
        max_delay: float = 30.0,
        idle_timeout: float = 90.0,
    ) -> None:
        self.url, self.token = url, token
        self.state_file = state_file
        if after is None and state_file is not None and state_file.exists():
            after = int(state_file.read_text().strip() or 0)
        self.last_seq = after
        self.on_message = on_message or (lambda m: print(json.dumps(m, ensure_ascii=False), flush=True))
        self.first_delay, self.max_delay = first_delay, max_delay
        # Three missed heartbeats (25 s each by default) mean the connection is dead even if TCP has not noticed.
        self.idle_timeout = idle_timeout
        self.connections = 0

    def stream_url(self) -> str:
        parts = urlsplit(self.url)
        query = {"token": self.token}
        if self.last_seq is not None:
            query["after"] = str(self.last_seq)
        return urlunsplit(parts._replace(query=urlencode(query)))

    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Stay connected until `stop` is set (or forever), reconnecting after every drop."""
        stop = stop or asyncio.Event()
        failures = 0
        while not stop.is_set():
            try:
                caught_up = await self._session(stop)
            except Refused:
                raise
            except Exception as exc:  # any drop, refused connection or timeout means: try again
                caught_up = False
                print(f"stream: {type(exc).__name__}: {exc}; reconnecting", file=sys.stderr, flush=True)
            failures = 0 if caught_up else failures + 1
            if stop.is_set():
                break
            # Full jitter: a random wait up to an exponentially growing ceiling.
            delay = random.uniform(0, min(self.max_delay, self.first_delay * 2**failures))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)

    async def _session(self, stop: asyncio.Event) -> bool:
        """One connection; True if it got as far as a heartbeat (so the next attempt starts from a short wait)."""
        caught_up = False
        try:
            websocket = await connect(self.stream_url(), origin=Origin(self.origin()), open_timeout=10)
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                raise Refused(f"the server refused the connection ({exc.response.status_code})") from exc
            raise
        self.connections += 1
        async with websocket:
            stopping = asyncio.ensure_future(stop.wait())
            try:
                while True:
                    receiving = asyncio.ensure_future(websocket.recv())
                    done, _ = await asyncio.wait(
                        {receiving, stopping}, timeout=self.idle_timeout, return_when=asyncio.FIRST_COMPLETED
                    )
                    if stopping in done:
                        receiving.cancel()
                        return caught_up
                    if not done:
                        receiving.cancel()
                        raise TimeoutError("no heartbeat from the server")
                    message = json.loads(receiving.result())
                    caught_up = self._handle(message) or caught_up
            finally:
                stopping.cancel()
                if websocket.close_code in REFUSED:
                    raise Refused(f"the server closed the stream ({websocket.close_code})")

    def _handle(self, message: dict[str, Any]) -> bool:
        if message.get("type") == "heartbeat":
            # Everything up to the beat's seq has been sent: resume from there next time.
            self._remember(max(self.last_seq or 0, message["seq"]))
            return True
        seq = message.get("seq")
        if seq is not None:
            if self.last_seq is not None and seq <= self.last_seq:
                return False
            self._remember(seq)
        self.on_message(message)
        return False

    def _remember(self, seq: int) -> None:
        if seq == self.last_seq:
            return
        self.last_seq = seq
        if self.state_file is not None:
            temporary = self.state_file.with_suffix(".tmp")
            temporary.write_text(str(seq))
            temporary.replace(self.state_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="ws://127.0.0.1:8000/ws/v1/stream/")
    parser.add_argument("--token", required=True, help="from POST /api/v1/auth/token/")
    parser.add_argument("--after", type=int, help="resume after this seq (default: the state file, else from now)")
    parser.add_argument("--state-file", type=Path, help="keep the last seq here across runs")
    parser.add_argument("--max-delay", type=float, default=30.0, help="longest wait between reconnects (s)")
    args = parser.parse_args(argv)
    client = StreamClient(args.url, args.token, after=args.after, state_file=args.state_file, max_delay=args.max_delay)
    try:
        asyncio.run(client.run())
    except Refused as exc:
        print(f"stream: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
