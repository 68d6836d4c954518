"""Shared helpers of the Wyoming tests: a ServiceRunner on 127.0.0.1:0 and the wyoming package's own client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event

T = TypeVar("T")
TIMEOUT_S = 60.0


def run(coro: Awaitable[T], timeout_s: float = TIMEOUT_S) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout_s)

    return asyncio.run(bounded())


async def transcribe(port: int, pcm: np.ndarray, rate_hz: int = 16000, chunk_samples: int = 1600) -> str:
    """Send `pcm` (int16 mono) to a Wyoming ASR server with the wyoming package's AsyncTcpClient; the text."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Transcribe(language="en").event())
        await client.write_event(AudioStart(rate_hz, 2, 1).event())
        data = pcm.astype("<i2").tobytes()
        for i in range(0, len(data), chunk_samples * 2):
            await client.write_event(AudioChunk(rate_hz, 2, 1, data[i : i + chunk_samples * 2]).event())
        await client.write_event(AudioStop().event())
        while True:
            event = await client.read_event()
            assert event is not None, "the server closed before its transcript"
            if Transcript.is_type(event.type):
                return str(Transcript.from_event(event).text)


async def read_until(client: AsyncTcpClient, done: Callable[[Event], bool], limit: int = 100000) -> list[Event]:
    out: list[Event] = []
    for _ in range(limit):
        event = await client.read_event()
        if event is None:
            return out
        out.append(event)
        if done(event):
            return out
    return out


def words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()


__all__ = ["Any", "read_until", "run", "transcribe", "words"]
