"""Simulated board figures: start-up to the first audio frame, and fast-mode throughput.

Start-up is SimBoard.start() (firmware build from the cache, interpreter launch, handshake by a real
SerialSource) until the relay sees the first AUDIO frame leave the board; in real time it includes the
INMP441's 4096-sample settle (256 ms at 16 kHz). Throughput is seconds of audio per wall second from START to
END in fast mode, through the pty and the host decoder.
"""

from __future__ import annotations

import time
from typing import Any

from picomic.bus.audiobus import AudioBus
from picomic.errors import DeviceError
from picomic.link.source import SerialSource
from picomic.sim.board import SimBoard


def startup_ms(fast: bool) -> float:
    """One simulated board: start → first audio frame leaving it, ms."""
    with SimBoard("sine:440", fast=fast, duration_s=1.0, seed=1) as board:
        bus = AudioBus()
        first = bus.subscribe("first", maxsize=1000)
        source = SerialSource(board.port, bus=bus)
        source.start()
        try:
            if first.recv(timeout=10.0) is None or board.first_audio_s is None:
                raise DeviceError("the simulated board sent no audio within 10 s")
            return board.first_audio_s * 1000.0
        finally:
            source.stop()


def fast_x_realtime(audio_s: float) -> float:
    """`audio_s` of signal in fast mode, START → END through the pty and decoder: × real time."""
    with SimBoard("noise", fast=True, duration_s=audio_s, seed=2) as board:
        bus = AudioBus()
        source = SerialSource(board.port, bus=bus)
        t0 = time.perf_counter()
        source.start()
        try:
            if not source.wait(timeout=audio_s + 30.0):
                raise DeviceError("the simulated board did not reach the end of its signal")
            return audio_s / (time.perf_counter() - t0)
        finally:
            source.stop()


def run(quick: bool) -> dict[str, Any]:
    runs = 3 if quick else 5
    return {
        "start_fast_ms": [startup_ms(fast=True) for _ in range(runs)],
        "start_realtime_ms": [startup_ms(fast=False) for _ in range(runs)],
        "fast_x_realtime": [fast_x_realtime(10.0 if quick else 30.0) for _ in range(2 if quick else 3)],
    }
