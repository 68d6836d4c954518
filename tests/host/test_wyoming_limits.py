"""Malformed and hostile clients (garbage bytes, a 2 GB header, a client that never reads, 100 connections):
each is disconnected and counted; the server and its other clients go on."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator

import numpy as np
import pytest
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.errors import ConfigError
from picomic.wyoming.access import AccessPolicy, parse_networks
from picomic.wyoming.limits import Limits
from picomic.wyoming.mic import MicService
from picomic.wyoming.runner import ServiceRunner
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming_support import run

LIMITS = Limits(max_clients=8, client_queue_chunks=400, write_timeout_s=1.0)


@pytest.fixture
def mic() -> Iterator[tuple[ServiceRunner, AudioBus]]:
    bus = AudioBus()
    runner = ServiceRunner(AccessPolicy(), LIMITS)
    service = MicService(bus, "test", runner.guard("mic"))
    runner.add(service.guard, 0, service.handler)
    runner.start()
    yield runner, bus
    runner.stop()
    bus.close()


def _port(runner: ServiceRunner) -> int:
    return runner.services[0].server.port


def _raw(port: int, data: bytes) -> bytes:
    """Send `data` on a plain socket; what the server sends back before it closes (bounded wait)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        got = b""
        try:
            while chunk := sock.recv(65536):
                got += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return got


def _still_serves(port: int) -> bool:
    async def describe() -> bool:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            while (event := await client.read_event()) is not None:
                if Info.is_type(event.type):
                    return bool(Info.from_event(event).mic)
        return False

    return run(describe(), 10)


def _wait(predicate: object, timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


def test_garbage_bytes_disconnect_and_count(mic: tuple[ServiceRunner, AudioBus]) -> None:
    runner, _bus = mic
    _raw(_port(runner), b"\x00\xff garbage that is not json\n")
    assert _wait(lambda: runner.snapshot()["mic"]["malformed"] == 1)
    _raw(_port(runner), b'{"no_type": 1}\n')
    _raw(_port(runner), b"[1, 2, 3]\n")
    _raw(_port(runner), b"x" * 100_000)  # a header line far past max_line_bytes
    assert _wait(lambda: runner.snapshot()["mic"]["malformed"] == 4)
    assert _still_serves(_port(runner))


def test_a_header_announcing_2_gb_is_refused_before_reading(mic: tuple[ServiceRunner, AudioBus]) -> None:
    runner, _bus = mic
    header = json.dumps({"type": "audio-chunk", "payload_length": 2 * 1024**3}).encode() + b"\n"
    t0 = time.monotonic()
    _raw(_port(runner), header + b"\x00" * 1000)
    assert _wait(lambda: runner.snapshot()["mic"]["too_large"] == 1)
    assert time.monotonic() - t0 < 5.0
    data_header = json.dumps({"type": "describe", "data_length": 10**9}).encode() + b"\n"
    _raw(_port(runner), data_header)
    assert _wait(lambda: runner.snapshot()["mic"]["too_large"] == 2)
    assert _still_serves(_port(runner))


def _publish(bus: AudioBus, chunks: int) -> None:
    n = 1600  # 100 ms chunks: 500 s of them (16 MB) overflow any socket buffer
    for seq in range(chunks):
        samples = np.full(n, seq % 1000, np.int16)
        samples.flags.writeable = False
        bus.publish(AudioChunk(seq, time.monotonic() * 1000, 16000, samples, stream_sample=seq * n))
        time.sleep(0.001)


def test_a_client_that_never_reads_is_dropped_oldest_then_disconnected(mic: tuple[ServiceRunner, AudioBus]) -> None:
    runner, bus = mic
    with socket.create_connection(("127.0.0.1", _port(runner)), timeout=5) as stuck:
        stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        assert _wait(lambda: runner.snapshot()["mic"]["clients"] == 1)
        healthy = _reader(_port(runner))
        _publish(bus, 5000)
        assert _wait(lambda: runner.snapshot()["mic"]["stalled"] == 1, 10)
        stats = runner.snapshot()["mic"]
        assert stats["dropped_chunks"] > 0
        got = healthy.result(10)
        assert got == 5000  # the reading client lost nothing while the other one stalled


def _reader(port: int):  # type: ignore[no-untyped-def]
    """A client reading audio chunks in a thread; its future resolves to the number of chunks read."""
    import concurrent.futures

    async def count() -> int:
        n = 0
        async with AsyncTcpClient("127.0.0.1", port) as client:
            while (event := await asyncio.wait_for(client.read_event(), 5)) is not None:
                n += event.type == "audio-chunk"
                if n == 5000:
                    return n
        return n

    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(lambda: run(count(), 60))
    _wait(lambda: False, 0.3)
    return future


def test_100_connections_past_the_client_limit_are_refused(mic: tuple[ServiceRunner, AudioBus]) -> None:
    runner, _bus = mic
    socks = [socket.create_connection(("127.0.0.1", _port(runner)), timeout=5) for _ in range(100)]
    try:
        assert _wait(lambda: runner.snapshot()["mic"]["rejected_full"] == 100 - LIMITS.max_clients)
        assert runner.snapshot()["mic"]["clients"] == LIMITS.max_clients
    finally:
        for s in socks:
            s.close()
    assert _wait(lambda: runner.snapshot()["mic"]["clients"] == 0)
    assert _still_serves(_port(runner))


def test_binding_beyond_loopback_needs_an_allow_list() -> None:
    with pytest.raises(ConfigError, match="Wyoming has no authentication"):
        AccessPolicy("0.0.0.0")
    policy = AccessPolicy("0.0.0.0", parse_networks(["192.168.1.0/24"]))
    assert policy.allows("192.168.1.7") and policy.allows("127.0.0.1") and policy.allows("::ffff:192.168.1.9")
    assert not policy.allows("10.0.0.1") and not policy.allows("not-an-ip")
    with pytest.raises(ConfigError, match="not an address"):
        parse_networks(["192.168.1.0/33"])


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_clients"):
        Limits(max_clients=0)


def test_an_idle_request_client_is_disconnected_and_counted() -> None:
    from picomic.wyoming.wake import WakeService

    runner = ServiceRunner(AccessPolicy(), Limits(idle_timeout_s=0.3))
    service = WakeService("okay_nabu", runner.guard("wake"))
    runner.add(service.guard, 0, service.handler)
    runner.start()
    try:
        t0 = time.monotonic()
        assert _raw(runner.services[0].server.port, b"") == b""  # says nothing; the server hangs up
        assert time.monotonic() - t0 < 4.0
        assert _wait(lambda: runner.snapshot()["wake"]["idle"] == 1)
    finally:
        runner.stop()
