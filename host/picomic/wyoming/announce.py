"""Zeroconf (mDNS) announcement of a service as `_wyoming._tcp`, the way Home Assistant discovers Wyoming
services, through the wyoming package's `HomeAssistantZeroconf` (on the `zeroconf` package). Off unless asked:
multicast leaves the machine, and a service bound to 127.0.0.1 has nothing to announce.
"""

from __future__ import annotations

from wyoming.zeroconf import HomeAssistantZeroconf

from picomic.errors import ConfigError
from picomic.wyoming.access import is_loopback_host

SERVICE_TYPE = "_wyoming._tcp.local."


class Announcer:
    """Announces one service `name` at `host:port` (host: the bound address; 0.0.0.0 → the default route's)."""

    def __init__(self, name: str, host: str, port: int) -> None:
        """Create it on the event loop that will register it (AsyncZeroconf binds to that loop)."""
        self.check_host(host)
        self.name = name
        self._zeroconf = HomeAssistantZeroconf(port, name=name, host=None if host in ("0.0.0.0", "::") else host)

    @staticmethod
    def check_host(host: str) -> None:
        """ConfigError for a bind address no other machine can reach."""
        if is_loopback_host(host):
            raise ConfigError(
                f"zeroconf would announce {host}, which no other machine can reach: bind another address",
                settings=("host",),
            )

    @property
    def host(self) -> str:
        return str(self._zeroconf.host)

    async def register(self) -> None:
        await self._zeroconf.register_server()

    async def close(self) -> None:
        await self._zeroconf._aiozc.async_close()
