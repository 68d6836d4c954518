"""The satellite in-process over a bus the test publishes on: ping, always-mode streaming, pause-satellite, and
the settings' checks (the Home Assistant flow with the wake word runs for real in tests/e2e/test_wyoming_wake.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from picomic.bus.audiobus import AudioBus, AudioChunk
from picomic.wyoming.access import AccessPolicy
from picomic.wyoming.limits import Limits
from picomic.wyoming.runner import ServiceRunner
from picomic.wyoming.satellite import SatelliteService, SatelliteSettings
from wyoming.client import AsyncTcpClient
from wyoming.ping import Ping, Pong
from wyoming.satellite import PauseSatellite, RunSatellite
from wyoming_support import read_until, run


@pytest.fixture
def satellite() -> Iterator[tuple[ServiceRunner, AudioBus]]:
    bus = AudioBus()
    runner = ServiceRunner(AccessPolicy(), Limits())
    service = SatelliteService(bus, "t", SatelliteSettings(None, "always"), runner.guard("satellite"))
    runner.add(service.guard, 0, service.handler)
    runner.start()
    stop = threading.Event()

    def publish() -> None:
        seq = 0
        while not stop.is_set():
            samples = np.full(160, seq % 100, np.int16)
            samples.flags.writeable = False
            bus.publish(AudioChunk(seq, time.monotonic() * 1000, 16000, samples, stream_sample=seq * 160))
            seq += 1
            time.sleep(0.01)

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    yield runner, bus
    stop.set()
    thread.join(5)
    runner.stop()
    bus.close()


def test_ping_always_mode_and_pause(satellite: tuple[ServiceRunner, AudioBus]) -> None:
    runner, bus = satellite

    async def session() -> list[str]:
        async with AsyncTcpClient("127.0.0.1", runner.services[0].server.port) as client:
            await client.write_event(Ping(text="hi").event())
            pong = (await read_until(client, lambda e: Pong.is_type(e.type)))[-1]
            assert Pong.from_event(pong).text == "hi"
            await client.write_event(RunSatellite().event())
            events = await read_until(client, lambda e: e.type == "audio-chunk")
            assert any(b.name.startswith("wyoming-satellite-t-") for b in bus.listeners)
            await client.write_event(PauseSatellite().event())
            events += await read_until(client, lambda e: e.type == "streaming-stopped")
            return [e.type for e in events]

    types = run(session(), 30)
    assert types[:3] == ["run-pipeline", "streaming-started", "audio-start"] and types[-1] == "streaming-stopped"
    deadline = time.monotonic() + 5
    while any(b.name.startswith("wyoming-satellite") for b in bus.listeners) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(b.name.startswith("wyoming-satellite") for b in bus.listeners)  # paused: off the bus


def test_satellite_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="needs a wake_word"):
        SatelliteSettings(None, "wake")
    with pytest.raises(ValueError, match="'wake' or 'always'"):
        SatelliteSettings("okay_nabu", "sometimes")  # type: ignore[arg-type]
