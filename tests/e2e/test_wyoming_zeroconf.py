"""Zeroconf and the allow-list on a real network: two network namespaces this test creates, joined by a veth
pair, so no multicast leaves the machine. `serve --zeroconf` in one is discovered as `_wyoming._tcp` from the
other; a client address outside `--allow` is refused and counted, one inside is served.

Needs root and `ip` (iproute2); without them it skips (fails under PICOMIC_REQUIRE_TIERS=1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest
import tiers
from wyoming_proc import ENV, PICOMIC, Proc

BROWSE = r"""
import json, sys, time
from zeroconf import ServiceBrowser, Zeroconf
zc = Zeroconf()
found = {}
class Listener:
    def add_service(self, zc, type_, name):
        info = zc.get_service_info(type_, name, timeout=3000)
        if info: found[name] = {"addresses": info.parsed_addresses(), "port": info.port}
    update_service = add_service
    def remove_service(self, *a): pass
ServiceBrowser(zc, "_wyoming._tcp.local.", Listener())
deadline = time.monotonic() + 20
while time.monotonic() < deadline and sys.argv[1] not in found:
    time.sleep(0.1)
zc.close()
print(json.dumps(found))
"""

DESCRIBE = r"""
import asyncio, json, sys
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
async def main(host, port, source):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, local_addr=(source, 0)), 5)
    client = AsyncTcpClient(host, port); client._reader, client._writer = reader, writer
    await client.write_event(Describe().event())
    event = await asyncio.wait_for(client.read_event(), 5)
    print(json.dumps(None if event is None else Info.from_event(event).wake[0].models[0].name))
asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture
def netns() -> Iterator[tuple[str, str, str]]:
    """(server namespace, client namespace, subnet prefix): 10.x.y.1 serves, 10.x.y.2 and .3 are clients."""
    tiers.require(os.geteuid() == 0 and shutil.which("ip") is not None, "needs root and ip (iproute2) for netns")
    tag = f"pm{os.getpid() % 100000}"
    net = f"10.{200 + os.getpid() % 50}.{os.getpid() % 250}"
    server, client = f"{tag}s", f"{tag}c"
    try:
        _ip("netns", "add", server)
        _ip("netns", "add", client)
    except subprocess.CalledProcessError as exc:
        tiers.require(False, f"cannot create network namespaces: {exc.stderr.decode().strip()}")
    try:
        _ip("link", "add", f"{tag}a", "netns", server, "type", "veth", "peer", "name", f"{tag}b", "netns", client)
        for ns, dev, addrs in ((server, f"{tag}a", (".1",)), (client, f"{tag}b", (".2", ".3"))):
            for addr in addrs:
                _ip("-n", ns, "addr", "add", f"{net}{addr}/24", "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up", "multicast", "on")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", dev)
        yield server, client, net
    finally:
        for ns in (server, client):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def _in(ns: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=60, env=ENV)


def test_zeroconf_announces_and_the_allow_list_decides(netns: tuple[str, str, str]) -> None:
    server_ns, client_ns, net = netns
    p = Proc(["ip", "netns", "exec", server_ns, *PICOMIC, "serve", "--wake-port", "0", "--host", f"{net}.1",
              "--allow", f"{net}.2/32", "--zeroconf", "pmtest", "--seconds", "40"])  # fmt: skip
    try:
        port = p.ports(("wake",))["wake"]
        browse = _in(client_ns, sys.executable, "-c", BROWSE, "pmtest-wake._wyoming._tcp.local.")
        found = json.loads(browse.stdout or "{}")
        assert found.get("pmtest-wake._wyoming._tcp.local.") == {"addresses": [f"{net}.1"], "port": port}, browse
        allowed = _in(client_ns, sys.executable, "-c", DESCRIBE, f"{net}.1", str(port), f"{net}.2")
        assert json.loads(allowed.stdout) == "okay_nabu", allowed.stderr
        refused = _in(client_ns, sys.executable, "-c", DESCRIBE, f"{net}.1", str(port), f"{net}.3")
        assert refused.stdout.strip() == "null" or "Connection reset" in refused.stderr, refused
        p.proc.send_signal(2)
        assert p.proc.wait(30) == 130
    finally:
        p.close()
    err = "".join(p.err)
    assert "Wyoming wake: connections=1 rejected_address=1" in err, err
