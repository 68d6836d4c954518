"""A Wyoming TCP server that bounds what clients cost: `GuardedServer` and the handler base `GuardedHandler`.

Built on the `wyoming` package's `AsyncServer` and `AsyncEventHandler` (its event framing, its handler task
per connection); what picomic adds is the guard around them: every connection reads through a
`limits.BoundedReader`; a client whose address the `AccessPolicy` refuses, or one past `max_clients`, is
closed at once; a malformed or oversized event, a handler error or a client that stops reading (a write that
takes longer than `write_timeout_s`) disconnects that client only. Each of these is counted in
`ServiceStats`; none reaches the other clients or the server.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wyoming.event import Event, async_write_event
from wyoming.server import AsyncEventHandler, AsyncServer, HandlerFactory

from picomic.wyoming.access import AccessPolicy
from picomic.wyoming.limits import BoundedReader, Limits, ProtocolViolation, read_event

log = logging.getLogger(__name__)

STAT_NAMES = (
    "connections",
    "rejected_address",
    "rejected_full",
    "malformed",
    "too_large",
    "stalled",
    "idle",
    "handler_errors",
    "dropped_chunks",
)


class ServiceStats:
    """Counters of one service (thread-safe): connections served and every kind of refused client."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(STAT_NAMES, 0)
        self.clients = 0
        """Connections open now."""

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n

    def __getitem__(self, name: str) -> int:
        return self._counts[name]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {**self._counts, "clients": self.clients}


@dataclass(frozen=True, slots=True)
class Guard:
    """What every handler of one service shares: its limits and its counters."""

    limits: Limits
    stats: ServiceStats


class GuardedHandler(AsyncEventHandler):
    """A Wyoming event handler whose reads are bounded, whose writes time out and whose errors are contained.
    Subclasses implement `handle_event` (return False to disconnect) and may override `disconnect`;
    `listens_only` handlers (mic, satellite: their clients may stay silent) have no idle timeout."""

    listens_only = False

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, guard: Guard) -> None:
        super().__init__(reader, writer)
        self.guard = guard
        self._write_lock = asyncio.Lock()
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else "?"

    async def write_event(self, event: Event) -> None:
        """Send one event; a client that does not take it within `write_timeout_s` is disconnected."""
        async with self._write_lock:
            try:
                await asyncio.wait_for(async_write_event(event, self.writer), self.guard.limits.write_timeout_s)
            except asyncio.TimeoutError:
                self.guard.stats.add("stalled")
                self.writer.transport.abort()
                raise ConnectionResetError(f"{self.peer} stopped reading") from None

    async def run(self) -> None:
        stats = self.guard.stats
        stats.clients += 1
        stats.add("connections")
        try:
            await self._serve()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went away
        except Exception:  # a handler bug ends this client only
            stats.add("handler_errors")
            log.exception("wyoming %s: handler error (client %s)", stats.service, self.peer)
        finally:
            stats.clients -= 1
            try:
                await self.disconnect()
            finally:
                self.writer.close()

    async def _serve(self) -> None:
        assert isinstance(self.reader, BoundedReader)
        idle_s = None if self.listens_only else self.guard.limits.idle_timeout_s
        while True:
            try:
                event = await asyncio.wait_for(read_event(self.reader), idle_s)
            except asyncio.TimeoutError:
                self.guard.stats.add("idle")
                return
            except ProtocolViolation as exc:
                self.guard.stats.add(exc.kind)
                log.info("wyoming %s: disconnecting %s: %s", self.guard.stats.service, self.peer, exc)
                return
            if event is None or not await self.handle_event(event):
                return


class GuardedServer(AsyncServer):
    """A Wyoming TCP server on `policy.host:port` whose connections read through a BoundedReader; refuses
    clients the policy does not allow and clients past `limits.max_clients`. `port` 0 picks a free one (`port`
    holds the bound one after `start`)."""

    def __init__(self, policy: AccessPolicy, port: int, guard: Guard) -> None:
        super().__init__()
        self.policy = policy
        self.port = port
        self.guard = guard
        self._server: asyncio.AbstractServer | None = None
        self._clients: dict[asyncio.Task[None], AsyncEventHandler] = {}

    async def run(self, handler_factory: HandlerFactory) -> None:
        await self.start(handler_factory)
        assert self._server is not None
        await self._server.serve_forever()

    async def start(self, handler_factory: HandlerFactory) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:
            reader = BoundedReader(self.guard.limits)
            return asyncio.StreamReaderProtocol(reader, self._accept_callback(handler_factory, reader))

        self._server = await loop.create_server(protocol, host=self.policy.host, port=self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    def _accept_callback(
        self, handler_factory: HandlerFactory, reader: BoundedReader
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            peer = writer.get_extra_info("peername")
            stats = self.guard.stats
            if not (isinstance(peer, tuple) and self.policy.allows(str(peer[0]))):
                stats.add("rejected_address")
                writer.transport.abort()
            elif len(self._clients) >= self.guard.limits.max_clients:
                stats.add("rejected_full")
                writer.transport.abort()
            else:
                handler = handler_factory(reader, writer)
                task = asyncio.create_task(handler.run(), name=f"wyoming {stats.service} client")
                self._clients[task] = handler
                task.add_done_callback(lambda t: self._clients.pop(t, None))

        return accept

    async def stop(self, grace_s: float = 2.0) -> None:
        """Stop accepting; give listening clients (mic, satellite) up to `grace_s` to receive what is queued for
        them (they end by themselves once the bus has closed), then drop every client."""
        if self._server is not None:
            self._server.close()
        draining = [t for t, h in self._clients.items() if isinstance(h, GuardedHandler) and h.listens_only]
        if draining:
            await asyncio.wait(draining, timeout=grace_s)
        for handler in list(self._clients.values()):
            handler.writer.transport.abort()
        if self._clients:
            await asyncio.wait(list(self._clients), timeout=5.0)
