"""The ASR service: `transcribe` + `audio-start` / `audio-chunk`s / `audio-stop` → `transcript`, by picomic's
own VAD and STT (`speech.transcribe.transcribe_pcm`: the bus → Silero VAD → faster-whisper path).

Clients queue fairly: every transcription runs on one decode thread in the order the clients finished
sending (a client has one request in flight at a time, so no client can starve the others). A request may
carry `max_audio_s` of audio; a client that sends more, or an unusable format, gets an `error` event and
is disconnected (counted as `too_large` / `malformed`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

import numpy as np
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe

from picomic.audio.resample import resample_i16
from picomic.speech.stt import SttSettings, load_model
from picomic.speech.transcribe import transcribe_pcm
from picomic.wyoming.describe import asr_info
from picomic.wyoming.pcm16 import RATE_HZ, check_format, client_samples
from picomic.wyoming.server import Guard, GuardedHandler


class AsrEngine:
    """The loaded model and the one decode thread every client of the service shares (FIFO: fair)."""

    def __init__(self, settings: SttSettings, model: Any = None) -> None:
        self.settings = settings
        self.model = model if model is not None else load_model(settings)
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="picomic-wyoming-asr")
        self.requests = 0

    @property
    def model_name(self) -> str:
        return self.settings.model.display_name

    @property
    def languages(self) -> list[str]:
        multilingual = bool(getattr(getattr(self.model, "model", None), "is_multilingual", False))
        return ["multilingual"] if multilingual else ["en"]

    def text(self, pcm16k: np.ndarray) -> str:
        """The transcript of 16 kHz int16 mono audio (the finals joined); runs on the caller's thread."""
        finals = transcribe_pcm(pcm16k, self.settings, model=self.model, name="a Wyoming request")
        return " ".join(t.text for t in finals)

    async def transcribe(self, pcm16k: np.ndarray) -> str:
        """`text` on the shared decode thread, in arrival order."""
        self.requests += 1
        return await asyncio.get_running_loop().run_in_executor(self._executor, self.text, pcm16k)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class AsrService:
    def __init__(self, engine: AsrEngine, guard: Guard) -> None:
        self.engine = engine
        self.guard = guard

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> AsrHandler:
        return AsrHandler(reader, writer, self)


class AsrHandler(GuardedHandler):
    """One ASR client: collects one request's audio (bounded), then answers with its transcript."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: AsrService) -> None:
        super().__init__(reader, writer, service.guard)
        self.engine = service.engine
        self._format: tuple[int, int, int] | None = None  # (rate, width, channels) after audio-start
        self._parts: list[np.ndarray] = []
        self._samples = 0

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(asr_info(self.engine.model_name, self.engine.languages).event())
        elif Transcribe.is_type(event.type):
            self._format, self._parts, self._samples = None, [], 0
        elif AudioStart.is_type(event.type):
            return await self._start(event)
        elif AudioChunk.is_type(event.type):
            return await self._chunk(event)
        elif AudioStop.is_type(event.type):
            return await self._stop()
        return True

    async def _refuse(self, kind: str, text: str) -> bool:
        self.guard.stats.add(kind)
        await self.write_event(Error(text=text, code=kind).event())
        return False

    async def _start(self, event: Event) -> bool:
        data = event.data
        problem = check_format(data.get("rate"), data.get("width"), data.get("channels"))
        if problem is not None:
            return await self._refuse("malformed", f"audio-start: {problem}")
        self._format = (int(data["rate"]), int(data["width"]), int(data["channels"]))
        self._parts, self._samples = [], 0
        return True

    async def _chunk(self, event: Event) -> bool:
        if self._format is None:
            return await self._refuse("malformed", "audio-chunk before audio-start")
        rate, width, channels = self._format
        samples = client_samples(event.payload or b"", width, channels)
        self._samples += len(samples)
        if self._samples > self.guard.limits.max_audio_s * rate:
            return await self._refuse("too_large", f"more than {self.guard.limits.max_audio_s:g} s of audio")
        self._parts.append(samples)
        return True

    async def _stop(self) -> bool:
        if self._format is None:
            return await self._refuse("malformed", "audio-stop before audio-start")
        rate = self._format[0]
        pcm = np.concatenate(self._parts) if self._parts else np.zeros(0, np.int16)
        self._format, self._parts, self._samples = None, [], 0
        pcm16k = resample_i16(pcm, rate, RATE_HZ)
        await self.write_event(Transcript(text=await self.engine.transcribe(pcm16k)).event())
        return True
