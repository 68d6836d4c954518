"""The remote ASR client of `listen --asr-uri tcp://HOST:PORT`: each utterance goes to a Wyoming ASR server.

`RemoteAsr` is the transcriber of `SttListener` (it runs on STT's decode thread): one connection per
utterance (`transcribe`, `audio-start`, the audio, `audio-stop`, then wait for `transcript`), every step under
a timeout, the server's replies read through the bounded reader. When the server cannot be reached it emits
one `RemoteAsrEvent("unreachable")`, retries no sooner than a backoff that doubles up to `backoff_max_s`,
and meanwhile hands each utterance to the local model (`fallback`) or drops it (counted in `lost`); the first
success after that emits `RemoteAsrEvent("reachable")`. No partials, speculative decodes or revisions are
sent to the server (DECISIONS 45): the listener is configured without them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event

from picomic.audio.pcm import float_to_i16
from picomic.bus.events import Event as PicomicEvent
from picomic.bus.events import RemoteAsrEvent
from picomic.errors import ConfigError
from picomic.wyoming.limits import BoundedReader, Limits, ProtocolViolation, read_event
from picomic.wyoming.pcm16 import CHANNELS, RATE_HZ, WIDTH

CHUNK_SAMPLES = 1600  # 100 ms per audio-chunk


@dataclass(frozen=True, slots=True)
class RemoteAsrSettings:
    """Where the remote server is and how long to wait for it (validated: ValueError names the setting)."""

    uri: str
    connect_timeout_s: float = 2.0
    timeout_s: float = 20.0
    """From the first byte sent to the transcript (an utterance is at most ~28 s of audio)."""
    backoff_min_s: float = 1.0
    backoff_max_s: float = 30.0
    language: str | None = None

    def __post_init__(self) -> None:
        for name in ("connect_timeout_s", "timeout_s", "backoff_min_s", "backoff_max_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"remote ASR {name} must be > 0 s, got {getattr(self, name)}")

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) of a `tcp://HOST:PORT` uri; ConfigError otherwise."""
        parsed = urlparse(self.uri)
        try:
            port = parsed.port
        except ValueError:
            port = None
        if parsed.scheme != "tcp" or not parsed.hostname or port is None:
            raise ConfigError(
                f"the remote ASR address must be tcp://HOST:PORT, got {self.uri!r}", settings=("asr_uri",)
            )
        return parsed.hostname, port


class BoundedTcpClient(AsyncTcpClient):
    """The wyoming package's TCP client, reading the server's events through a BoundedReader."""

    def __init__(self, host: str, port: int, limits: Limits, connect_timeout: float) -> None:
        super().__init__(host, port, connect_timeout=connect_timeout)
        self.limits = limits

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        reader = BoundedReader(self.limits)
        protocol = asyncio.StreamReaderProtocol(reader)
        transport, _ = await asyncio.wait_for(
            loop.create_connection(lambda: protocol, self.host, self.port), self.connect_timeout
        )
        self._reader, self._writer = reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def read_event(self) -> Event | None:
        assert isinstance(self._reader, BoundedReader)
        return await read_event(self._reader)


class RemoteUnavailable(Exception):
    """The server could not be reached or did not answer in time (the message says which)."""


class RemoteAsr:
    """A transcriber (16 kHz float32 → text) backed by a remote Wyoming ASR server. Called from one thread."""

    def __init__(
        self,
        settings: RemoteAsrSettings,
        emit: Callable[[PicomicEvent], None],
        fallback: Callable[[np.ndarray], str] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.settings = settings
        self._host, self._port = settings.address
        self._emit = emit
        self._fallback = fallback
        self._limits = limits or Limits()
        self._lock = threading.Lock()
        self._down = False
        self._backoff_s = 0.0
        self._retry_at = 0.0
        self.remote = 0
        """Utterances the server transcribed."""
        self.local = 0
        """Utterances the fallback model transcribed."""
        self.lost = 0
        """Utterances not transcribed (the server was unreachable, no fallback)."""

    def __call__(self, audio16: np.ndarray) -> str:
        with self._lock:
            if self._down and time.monotonic() < self._retry_at:
                return self._without_server(audio16)
            try:
                text = asyncio.run(self._exchange(float_to_i16(audio16).tobytes()))
            except RemoteUnavailable as exc:
                self._failed(str(exc))
                return self._without_server(audio16)
            self.remote += 1
            if self._down:
                self._down, self._backoff_s = False, 0.0
                self._emit(RemoteAsrEvent("reachable", self.settings.uri))
            return text

    def _without_server(self, audio16: np.ndarray) -> str:
        if self._fallback is None:
            self.lost += 1
            return ""
        self.local += 1
        return self._fallback(audio16)

    def _failed(self, why: str) -> None:
        s = self.settings
        self._backoff_s = min(s.backoff_max_s, max(s.backoff_min_s, self._backoff_s * 2))
        self._retry_at = time.monotonic() + self._backoff_s
        if not self._down:
            self._down = True
            meanwhile = "the local model transcribes" if self._fallback else "utterances are not transcribed"
            self._emit(RemoteAsrEvent("unreachable", s.uri, f"{why}; {meanwhile} until it answers again"))

    async def _exchange(self, pcm: bytes) -> str:
        s = self.settings
        client = BoundedTcpClient(self._host, self._port, self._limits, s.connect_timeout_s)
        try:
            await client.connect()
        except (OSError, asyncio.TimeoutError) as exc:
            raise RemoteUnavailable(f"cannot connect to {s.uri}: {_reason(exc)}") from exc
        try:
            return await asyncio.wait_for(self._request(client, pcm), s.timeout_s)
        except asyncio.TimeoutError:
            raise RemoteUnavailable(f"{s.uri} sent no transcript within {s.timeout_s:g} s") from None
        except (OSError, ProtocolViolation) as exc:
            raise RemoteUnavailable(f"{s.uri}: {_reason(exc)}") from exc
        finally:
            await _close(client)

    async def _request(self, client: BoundedTcpClient, pcm: bytes) -> str:
        await client.write_event(Transcribe(language=self.settings.language).event())
        await client.write_event(AudioStart(RATE_HZ, WIDTH, CHANNELS).event())
        step = CHUNK_SAMPLES * WIDTH
        for i in range(0, len(pcm), step):
            await client.write_event(AudioChunk(RATE_HZ, WIDTH, CHANNELS, pcm[i : i + step]).event())
        await client.write_event(AudioStop().event())
        while (event := await client.read_event()) is not None:
            if Transcript.is_type(event.type):
                return str(event.data.get("text", "")).strip()
            if Error.is_type(event.type):
                raise RemoteUnavailable(f"{self.settings.uri} answered with an error: {event.data.get('text', '')}")
        raise ConnectionResetError("the server closed the connection before its transcript")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


async def _close(client: BoundedTcpClient) -> None:
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        await asyncio.wait_for(client.disconnect(), 1.0)
