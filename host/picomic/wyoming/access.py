"""Who may connect: the bind address and the client allow-list (DECISIONS 34).

Services bind 127.0.0.1 unless told otherwise. Wyoming has no authentication (Home Assistant connects without
any), so a service bound to another address accepts only the client networks the user lists; loopback
clients are always accepted. Binding a non-loopback address with an empty list is a configuration error.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from picomic.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(cidrs: list[str] | tuple[str, ...]) -> tuple[Network, ...]:
    """CIDR strings (`192.168.1.0/24`, `10.0.0.7`, `fd00::/8`) as networks; ConfigError names a bad one."""
    out: list[Network] = []
    for text in cidrs:
        try:
            out.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            raise ConfigError(
                f"not an address or network: {text!r} (e.g. 192.168.1.0/24)", settings=("allow",)
            ) from None
    return tuple(out)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """The bind address and the networks whose clients are accepted (loopback always is)."""

    host: str = DEFAULT_HOST
    allow: tuple[Network, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not is_loopback_host(self.host) and not self.allow:
            raise ConfigError(
                f"binding {self.host} exposes the services to the network, and Wyoming has no authentication: "
                "list the client networks allowed to connect (e.g. 192.168.1.0/24)",
                settings=("allow",),
            )

    def allows(self, peer: str) -> bool:
        """True when a client at address `peer` may connect."""
        try:
            addr = ipaddress.ip_address(peer.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        return addr.is_loopback or any(addr in net for net in self.allow)
