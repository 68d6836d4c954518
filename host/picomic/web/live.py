"""The web view wired to a pipeline: a bus feed (audio), a pipeline output (events, levels) and the server.

`BusFeed` is a bus listener served by its own thread: each chunk becomes one binary message (built once, shared
by every client) handed to `WebServer.publish`. `WebOutput` runs in the pipeline's event loop thread like every
output: each event becomes its `--json` text; a few times a second it also sends the level meter's reading
(`outputs.view.Meter`, the terminal meter's own figures). `WebView` builds and owns the three.
"""

from __future__ import annotations

import time

from picomic.bus.audiobus import RAW_STREAM, AudioBus
from picomic.bus.consumer import ConsumerThread
from picomic.bus.events import DeviceInfo, Event, StatusEvent, Transcript, VadEvent
from picomic.outputs.view import Meter
from picomic.pipeline import Pipeline
from picomic.web import messages
from picomic.web.server import WebServer, WebSettings

LEVEL_EVERY_S = 0.1
FEED_QUEUE = 500
"""Chunks the feed's bus listener holds (5 s of 10 ms frames) before the bus drops its oldest, counted."""


class BusFeed(ConsumerThread):
    """Audio from the bus to the web clients: one message per chunk."""

    def __init__(self, bus: AudioBus, server: WebServer, board_id: str = "", stream: str = RAW_STREAM) -> None:
        name = f"web{':' + board_id if board_id else ''}"
        self._listener = bus.subscribe(name, maxsize=FEED_QUEUE, stream=stream, backpressure=False)
        self._server = server
        self._board_id = board_id
        super().__init__("web-feed")

    def _run(self) -> None:
        while (chunk := self._listener.recv()) is not None:
            self._server.publish(messages.audio_message(chunk, self._board_id))


class WebOutput:
    """Events and level readings to the web clients (the pipeline's Output protocol)."""

    name = "web view"

    def __init__(
        self, server: WebServer, meter: Meter | None = None, board_id: str = "", stream: str = RAW_STREAM
    ) -> None:
        self._server = server
        self._meter = meter
        self._board_id = board_id
        self._stream = stream
        self._level_at = 0.0

    def on_event(self, event: Event) -> None:
        body = event.to_json()
        board = str(body.get("board_id", self._board_id))
        keep: str | None = None
        if isinstance(event, DeviceInfo):
            keep = f"device:{board}"
        elif isinstance(event, StatusEvent):
            keep = f"status:{board}"
        elif isinstance(event, VadEvent):
            keep = f"vad:{board}"  # a page opened mid-utterance shows speech
        elif isinstance(event, Transcript) and event.final:
            keep = "log"
        self._server.publish(messages.event_text(body), keep)

    def refresh(self) -> None:
        now = time.monotonic()
        if self._meter is not None and now - self._level_at >= LEVEL_EVERY_S:
            self._level_at = now
            self._server.publish(messages.level_text(self._meter.reading(), self._board_id, self._stream))


class WebView:
    """The server, started at once (a busy port fails before a model loads), then attached to pipelines."""

    def __init__(self, settings: WebSettings | None = None) -> None:
        self.server = WebServer(settings)
        self.server.start()

    @property
    def url(self) -> str:
        return self.server.url

    def attach(self, pipeline: Pipeline, board_id: str = "", stream: str = RAW_STREAM) -> None:
        """Feed one board's pipeline to the page: a level meter and the audio feed of `stream` (raw, or a stage's)
        as its consumers (they start with it), the events and levels as its output."""
        meter = Meter(pipeline.bus, stream, name=f"web-meter{':' + board_id if board_id else ''}")
        pipeline.add_consumer(meter)
        pipeline.add_consumer(BusFeed(pipeline.bus, self.server, board_id, stream))
        pipeline.add_output(WebOutput(self.server, meter, board_id, stream))

    def close(self) -> None:
        self.server.close()
