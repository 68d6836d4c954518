"""The mic service: a board's audio as Wyoming `audio-start` / `audio-chunk` / `audio-stop`, to every client.

Each client is a bus listener of its own (`wyoming-mic-<board>-<n>`, `client_queue_chunks` deep): the bus
drops that client's oldest chunk when it falls behind (counted, in the status like any listener's) and no
client ever slows the board or another client. A client that stops reading altogether is disconnected after
`write_timeout_s`. The stream is 16 kHz 16-bit mono, resampled when the board runs another rate; chunk
timestamps are stream-timeline milliseconds. The bus closing (the board's END) ends it with `audio-stop`.
"""

from __future__ import annotations

import asyncio
import itertools

from wyoming.audio import AudioChunk as WyAudioChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.event import Event
from wyoming.info import Describe

from picomic.bus.audiobus import AudioBus, Listener
from picomic.wyoming.describe import mic_info
from picomic.wyoming.pcm16 import CHANNELS, RATE_HZ, WIDTH, To16k
from picomic.wyoming.server import Guard, GuardedHandler


class MicService:
    """The mic service of one board: its bus and its name (`board_id`)."""

    def __init__(self, bus: AudioBus, board_id: str, guard: Guard) -> None:
        self.bus = bus
        self.board_id = board_id
        self.guard = guard
        self._numbers = itertools.count(1)

    def handler(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> MicHandler:
        return MicHandler(reader, writer, self)

    def subscribe(self) -> Listener:
        name = f"wyoming-mic-{self.board_id}-{next(self._numbers)}"
        return self.bus.subscribe(name, self.guard.limits.client_queue_chunks, backpressure=False)  # a client


class MicHandler(GuardedHandler):
    """One mic client: answers `describe`, streams the board's audio from the moment it connects."""

    listens_only = True

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: MicService) -> None:
        super().__init__(reader, writer, service.guard)
        self.service = service
        self._listener: Listener | None = None
        self._task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        self._listener = self.service.subscribe()
        self._task = asyncio.create_task(self._stream(self._listener))
        await super().run()

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self.write_event(mic_info(self.service.board_id).event())
        return True  # a mic service takes no other requests; unknown events are ignored (Wyoming's rule)

    async def _stream(self, listener: Listener) -> None:
        convert = To16k()
        started = False
        try:
            while (chunk := await listener.recv_async()) is not None:
                audio = convert.chunk(chunk)
                ms = chunk.stream_sample * 1000 // chunk.sample_rate
                if not started:
                    await self.write_event(AudioStart(RATE_HZ, WIDTH, CHANNELS, timestamp=ms).event())
                    started = True
                if audio:
                    await self.write_event(WyAudioChunk(RATE_HZ, WIDTH, CHANNELS, audio, timestamp=ms).event())
            if started:
                await self.write_event(AudioStop().event())
        except ConnectionError:
            pass
        finally:
            self.writer.close()  # the stream ended (or the client stalled): so does this connection
            self.reader.feed_eof()

    async def disconnect(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self._listener is not None:
            self.service.bus.unsubscribe(self._listener)
            self.guard.stats.add("dropped_chunks", self._listener.dropped)
