"""The wake-word service: `detect` + `audio-start` / `audio-chunk`s / `audio-stop` → `detection` or `not-detected`.

Each client gets a `speech.wakeword.WakeDetector` of its own (the model keeps streaming state) fed the client's
audio converted to 16 kHz 16-bit mono; a `detection` is sent the moment the phrase is heard (its timestamp:
milliseconds of audio since `audio-start`), `not-detected` at `audio-stop` when nothing was. A wake stream may
last as long as the client likes (satellites stream for hours); what bounds a client is its chunk size
(`max_payload_bytes`) and the detector it owns.
"""

from __future__ import annotations

import asyncio

from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.wake import Detect, Detection, NotDetected

from picomic.speech.wakeword import WakeDetector
from picomic.wyoming.describe import wake_program
from picomic.wyoming.pcm16 import RATE_HZ, To16k, check_format, client_samples
from picomic.wyoming.server import Guard, GuardedHandler


class WakeService:
    """The wake-word service of one model (the name a `detect` must ask for, if it names any)."""

    def __init__(self, model: str, guard: Guard) -> None:
        self.model = model
        self.guard = guard
        probe = WakeDetector(model)  # fails here (ModelError) for an unknown name, before the server binds
        self.program = wake_program(model, probe.phrase, probe.languages)

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> WakeHandler:
        return WakeHandler(reader, writer, self)


class WakeHandler(GuardedHandler):
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: WakeService) -> None:
        super().__init__(reader, writer, service.guard)
        self.service = service
        self._detector = WakeDetector(service.model)
        self._convert = To16k()
        self._format: tuple[int, int, int] | None = None
        self._detected = False
        self._listening = True  # a `detect` naming only other models switches this client off

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(Info(wake=[self.service.program]).event())
        elif Detect.is_type(event.type):
            names = Detect.from_event(event).names
            self._listening = not names or self.service.model in names
        elif AudioStart.is_type(event.type):
            return await self._start(event)
        elif AudioChunk.is_type(event.type):
            return await self._chunk(event)
        elif AudioStop.is_type(event.type):
            if self._format is not None and not self._detected:
                await self.write_event(NotDetected().event())
            self._format = None
        return True

    async def _start(self, event: Event) -> bool:
        data = event.data
        problem = check_format(data.get("rate"), data.get("width"), data.get("channels"))
        if problem is not None:
            self.guard.stats.add("malformed")
            await self.write_event(Error(text=f"audio-start: {problem}", code="malformed").event())
            return False
        self._format = (int(data["rate"]), int(data["width"]), int(data["channels"]))
        self._detector.reset()
        self._convert = To16k()
        self._detected = False
        return True

    async def _chunk(self, event: Event) -> bool:
        if self._format is None:
            self.guard.stats.add("malformed")
            await self.write_event(Error(text="audio-chunk before audio-start", code="malformed").event())
            return False
        rate, width, channels = self._format
        pcm = self._convert.samples(client_samples(event.payload or b"", width, channels), rate)
        if self._listening and self._detector.feed(pcm):
            self._detected = True
            ms = self._detector.fed_bytes * 1000 // (2 * RATE_HZ)
            await self.write_event(Detection(name=self.service.model, timestamp=ms).event())
        return True
