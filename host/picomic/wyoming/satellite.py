"""The satellite role: what Home Assistant's Wyoming integration connects to (it adds a satellite by host and port).

Home Assistant sends `describe` (the answer: a `satellite` with this board's mic and wake word, and no `snd`,
since a picomic board has no speaker), then `run-satellite`. From then on, in `wake` mode, the board's audio
goes to the local wake word; at a detection the satellite sends `detection`, `run-pipeline` (from `asr` to
`handle`: no text-to-speech for a board that cannot play it), `audio-start` and the audio, until Home
Assistant's `transcript` or `error` ends that run (or `session_timeout_s` passes), then `audio-stop` and
back to the wake word. In `always` mode it sends `run-pipeline` from `wake` (Home Assistant listens for the
wake word) and streams without end. `pause-satellite` stops streaming; `ping` is answered with `pong`.
Audio comes from a bus listener of this connection (drop-oldest when the network is slow, as for mic clients).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from wyoming.asr import Transcript
from wyoming.audio import AudioChunk as WyAudioChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Describe
from wyoming.ping import Ping, Pong
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import PauseSatellite, RunSatellite, StreamingStarted, StreamingStopped
from wyoming.wake import Detection

from picomic.bus.audiobus import AudioBus, AudioChunk, Listener
from picomic.bus.events import Event as PicomicEvent
from picomic.bus.events import WakeDetection
from picomic.speech.wakeword import WakeDetector
from picomic.wyoming.describe import satellite_info, wake_program
from picomic.wyoming.pcm16 import CHANNELS, RATE_HZ, WIDTH, To16k
from picomic.wyoming.server import Guard, GuardedHandler

StreamMode = Literal["wake", "always"]


@dataclass(frozen=True, slots=True)
class SatelliteSettings:
    """How the satellite streams (validated: ValueError names the setting)."""

    wake_word: str | None = "okay_nabu"
    """The local wake-word model; None only with mode `always`."""
    mode: StreamMode = "wake"
    """`wake`: stream after the local wake word; `always`: stream all the time (Home Assistant's wake word)."""
    session_timeout_s: float = 15.0
    """A run after the wake word ends after this long even without Home Assistant's transcript."""
    area: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("wake", "always"):
            raise ValueError(f"satellite mode must be 'wake' or 'always', got {self.mode!r}")
        if self.mode == "wake" and self.wake_word is None:
            raise ValueError("a satellite in mode 'wake' needs a wake_word")
        if not self.session_timeout_s > 0:
            raise ValueError(f"satellite session_timeout_s must be > 0, got {self.session_timeout_s}")


class SatelliteService:
    """The satellite of one board."""

    def __init__(
        self,
        bus: AudioBus,
        board_id: str,
        settings: SatelliteSettings,
        guard: Guard,
        emit: Callable[[PicomicEvent], None] | None = None,
    ) -> None:
        self.bus = bus
        self.emit = emit
        self.board_id = board_id
        self.settings = settings
        self.guard = guard
        self._numbers = itertools.count(1)
        self.wake = None
        if settings.wake_word is not None:
            probe = WakeDetector(settings.wake_word)  # an unknown name fails before the server binds
            self.wake = wake_program(settings.wake_word, probe.phrase, probe.languages)

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> SatelliteHandler:
        return SatelliteHandler(reader, writer, self)

    def subscribe(self) -> Listener:
        name = f"wyoming-satellite-{self.board_id}-{next(self._numbers)}"
        return self.bus.subscribe(name, self.guard.limits.client_queue_chunks, backpressure=False)  # a client


class SatelliteHandler(GuardedHandler):
    """One Home Assistant connection: describe, ping, run/pause-satellite; the run's end (transcript, error)."""

    listens_only = True

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: SatelliteService) -> None:
        super().__init__(reader, writer, service.guard)
        self.service = service
        self._task: asyncio.Task[None] | None = None
        self._listener: Listener | None = None
        self._run_ended = asyncio.Event()

    async def handle_event(self, event: Event) -> bool:
        s = self.service
        if Describe.is_type(event.type):
            await self.write_event(satellite_info(s.board_id, s.wake, s.settings.area).event())
        elif Ping.is_type(event.type):
            await self.write_event(Pong(text=Ping.from_event(event).text).event())
        elif RunSatellite.is_type(event.type):
            if self._task is None or self._task.done():
                self._listener = s.subscribe()
                self._task = asyncio.create_task(self._stream(self._listener))
        elif PauseSatellite.is_type(event.type):
            self._stop_streaming()
        elif Transcript.is_type(event.type) or Error.is_type(event.type):
            self._run_ended.set()
        return True  # everything else (voice-started, synthesize, TTS audio: no speaker) is ignored

    async def _stream(self, listener: Listener) -> None:
        try:
            if self.service.settings.mode == "always":
                await self.write_event(
                    RunPipeline(PipelineStage.WAKE, PipelineStage.HANDLE, restart_on_end=True).event()
                )
                await self._send_audio(listener, until=None)
            else:
                await self._wake_loop(listener)
        except ConnectionError:
            pass

    async def _wake_loop(self, listener: Listener) -> None:
        name = self.service.settings.wake_word
        assert name is not None
        detector, convert = WakeDetector(name), To16k()
        while (chunk := await listener.recv_async()) is not None:
            if not detector.feed(convert.chunk(chunk)):
                continue
            if self.service.emit is not None:
                self.service.emit(WakeDetection(name, chunk.end_s))
            await self.write_event(Detection(name=name, timestamp=_ms(chunk)).event())
            await self.write_event(RunPipeline(PipelineStage.ASR, PipelineStage.HANDLE, wake_word_name=name).event())
            self._run_ended.clear()
            if not await self._send_audio(listener, until=time.monotonic() + self.service.settings.session_timeout_s):
                return
            detector.reset()
            listener.drain_to_latest()  # what queued during the run is not wake-word audio

    async def _send_audio(self, listener: Listener, until: float | None) -> bool:
        """Stream the bus until Home Assistant ends the run (or `until`); False when the bus closed."""
        convert, started = To16k(), False
        await self.write_event(StreamingStarted().event())
        try:
            while not self._run_ended.is_set() and (until is None or time.monotonic() < until):
                try:
                    chunk = await asyncio.wait_for(listener.recv_async(), 0.2)
                except asyncio.TimeoutError:
                    continue
                if chunk is None:
                    return False
                if not started:
                    await self.write_event(AudioStart(RATE_HZ, WIDTH, CHANNELS, timestamp=_ms(chunk)).event())
                    started = True
                await self.write_event(WyAudioChunk(RATE_HZ, WIDTH, CHANNELS, convert.chunk(chunk), _ms(chunk)).event())
            return True
        finally:
            if started:
                await self.write_event(AudioStop().event())
            await self.write_event(StreamingStopped().event())

    def _stop_streaming(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
        if self._listener is not None:
            self.service.bus.unsubscribe(self._listener)
            self.guard.stats.add("dropped_chunks", self._listener.dropped)
            self._listener = None

    async def disconnect(self) -> None:
        self._stop_streaming()


def _ms(chunk: AudioChunk) -> int:
    return chunk.stream_sample * 1000 // chunk.sample_rate
