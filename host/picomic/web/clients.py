"""One WebSocket client of the web view: its bounded, drop-oldest outgoing queue and the task that sends it.

Invariant: every method runs in the server's event-loop thread (no locks). `put` never waits: when the queue
holds `maxsize` messages the oldest goes and `dropped` counts it, so a slow tab loses its own oldest audio and
events and never delays the bus, the server's pump or any other client. Messages are shared objects (one bytes
or str per broadcast, the same for every client); a queue holds references, not copies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque

from aiohttp import web

Message = bytes | str


class ClientQueue:
    """Bounded FIFO of outgoing messages; drop-oldest, counted. Event-loop thread only."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"client queue maxsize must be >= 1, got {maxsize}")
        self._maxsize = maxsize
        self._items: deque[Message] = deque()
        self._ready = asyncio.Event()
        self.dropped = 0
        """Messages lost to overflow (exact)."""

    def __len__(self) -> int:
        return len(self._items)

    def put(self, message: Message) -> None:
        if len(self._items) >= self._maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(message)
        self._ready.set()

    async def get(self) -> Message:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items.popleft()


class Client:
    """A connected WebSocket with its queue; `run_sender()` is its one sending task."""

    def __init__(
        self, ws: web.WebSocketResponse, maxsize: int, peer: str, transport: asyncio.BaseTransport | None
    ) -> None:
        self.ws = ws
        self._transport = transport
        self.queue = ClientQueue(maxsize)
        self.peer = peer
        self.last_sent = time.monotonic()
        """Monotonic time of the last send that completed (or of the connection)."""
        self.sending = False
        self._sender: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._sender = asyncio.get_running_loop().create_task(self.run_sender())

    def stalled_for(self, now: float) -> float:
        """Seconds this client has had messages waiting without a send completing (0 when it keeps up)."""
        return now - self.last_sent if len(self.queue) or self.sending else 0.0

    async def run_sender(self) -> None:
        """Send queued messages in order until the connection closes."""
        try:
            while not self.ws.closed:
                message = await self.queue.get()
                self.sending = True
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
                    await self.ws.send_str(message)
                self.sending = False
                self.last_sent = time.monotonic()
        except (ConnectionError, RuntimeError):  # the peer went away mid-send
            return

    async def stop(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender

    def abort(self) -> None:
        """Drop the connection at once (a stalled peer: its unsent bytes are discarded)."""
        if isinstance(self._transport, asyncio.Transport):
            self._transport.abort()
