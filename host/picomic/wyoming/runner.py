"""The services of `picomic serve` on one asyncio loop in a thread of their own, beside the pipeline.

`ServiceRunner` owns that loop: `add(name, port, factory)` declares a service, `start()` binds them all (a
busy port fails here, before a board starts) and announces them over zeroconf when asked; `stop()` closes
every connection and the loop. Services of several boards plug in as more `add` calls (ports counting up
from a base port, DECISIONS 44).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from wyoming.server import HandlerFactory

from picomic.errors import ConfigError
from picomic.wyoming.access import AccessPolicy
from picomic.wyoming.limits import Limits
from picomic.wyoming.server import Guard, GuardedServer, ServiceStats

START_TIMEOUT_S = 10.0


@dataclass
class RunningService:
    """One bound service."""

    name: str
    server: GuardedServer
    stats: ServiceStats

    @property
    def uri(self) -> str:
        return f"tcp://{self.server.policy.host}:{self.server.port}"


class ServiceRunner:
    """Wyoming servers on one event loop thread (start, then stop)."""

    def __init__(self, policy: AccessPolicy, limits: Limits) -> None:
        self.policy = policy
        self.limits = limits
        self.services: list[RunningService] = []
        self._factories: list[HandlerFactory] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="picomic-wyoming", daemon=True)
        self._on_stop: list[Callable[[], Awaitable[None]]] = []
        self._announce_as: str | None = None
        self.announced: list[str] = []
        """The zeroconf names registered (`NAME-<service>`)."""

    def guard(self, name: str) -> Guard:
        """The limits and fresh counters for a service named `name` (pass to its constructor)."""
        return Guard(self.limits, ServiceStats(name))

    def add(self, guard: Guard, port: int, factory: HandlerFactory) -> None:
        self.services.append(RunningService(guard.stats.service, GuardedServer(self.policy, port, guard), guard.stats))
        self._factories.append(factory)

    def call(self, coro: Awaitable[object], timeout_s: float = START_TIMEOUT_S) -> object:
        """Run `coro` on the services' loop and wait for its result."""

        async def wrapped() -> object:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrapped(), self._loop).result(timeout_s)

    def on_stop(self, callback: Callable[[], Awaitable[None]]) -> None:
        self._on_stop.append(callback)

    def announce(self, name: str) -> None:
        """Announce every service over zeroconf as `name-<service>` once bound (`announce.Announcer`)."""
        from picomic.wyoming.announce import Announcer

        Announcer.check_host(self.policy.host)
        self._announce_as = name

    async def _register(self, name: str) -> None:
        from picomic.wyoming.announce import Announcer

        for service in self.services:
            announcer = Announcer(f"{name}-{service.name}", self.policy.host, service.server.port)
            await announcer.register()
            self.announced.append(announcer.name)
            self._on_stop.append(announcer.close)

    def start(self) -> None:
        """Bind every service (then announce them, when asked); ConfigError names a port that cannot be bound."""
        self._thread.start()
        for service, factory in zip(self.services, self._factories, strict=False):
            try:
                self.call(service.server.start(factory))
            except OSError as exc:
                self.stop()
                raise ConfigError(
                    f"cannot serve Wyoming {service.name} on {self.policy.host}:{service.server.port}: "
                    f"{exc.strerror or exc}",
                    settings=(f"{service.name}_port",),
                ) from exc
        if self._announce_as is not None:
            self.call(self._register(self._announce_as))

    def stop(self) -> None:
        """Close every service and connection; idempotent."""
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for callback in self._on_stop:
                await callback()
            await asyncio.gather(*(s.server.stop() for s in self.services), return_exceptions=True)

        with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
            self.call(shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_TIMEOUT_S)

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every service's counters."""
        return {s.name: s.stats.snapshot() for s in self.services}
