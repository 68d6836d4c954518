"""The web view on a real pipeline: every chunk reaches a client as one binary message with its samples, the
levels are the terminal meter's own figures, events are the `--json` lines, and the page hears the end."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import aiohttp
import numpy as np
import pytest
from picomic.bus.audiobus import AudioChunk
from picomic.bus.events import StreamEnd, Transcript, VadEvent
from picomic.outputs.view import dbfs
from picomic.pipeline import Pipeline
from picomic.web import messages
from picomic.web.live import WebView
from picomic.web.server import WebSettings

CHUNKS = 150


class SineSource:
    """A 1 kHz sine at -6 dBFS peak, 10 ms chunks paced at 4× real time, a VAD event and a final, then END."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.sent: list[np.ndarray] = []
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        t = np.arange(CHUNKS * 160) / 16000.0
        pcm = (16384 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16)
        for i in range(CHUNKS):
            samples = pcm[i * 160 : (i + 1) * 160]
            samples.flags.writeable = False
            self.sent.append(samples)
            self.pipeline.bus.publish(AudioChunk(i, time.monotonic() * 1e3, 16000, samples, stream_sample=i * 160))
            self.pipeline.status.add("frames")
            if i == 20:
                self.pipeline.emit(VadEvent("start", 0.2, 3200))
            time.sleep(0.0025)
        self.pipeline.emit(Transcript("a steady tone", True, 0.2, 1.4, 500.0))
        self.pipeline.emit(StreamEnd("signal_end"))

    def stop(self) -> None:
        self._thread.join(5)


class Collector:
    """A real aiohttp WebSocket client in its own thread, keeping every message until the server closes."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.texts: list[dict[str, Any]] = []
        self.binaries: list[bytes] = []
        self.close_code: int | None = None
        self.connected = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(self.url) as ws:
            self.connected.set()
            while True:
                msg = await ws.receive(timeout=30)
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.texts.append(json.loads(msg.data))
                elif msg.type == aiohttp.WSMsgType.BINARY:
                    self.binaries.append(msg.data)
                else:
                    self.close_code = ws.close_code
                    return

    def join(self) -> None:
        self._thread.join(30)


def test_a_pipeline_reaches_the_page_whole() -> None:
    pipeline = Pipeline()
    view = WebView(WebSettings(port=0))
    try:
        view.attach(pipeline)
        client = Collector(f"ws://127.0.0.1:{view.server.port}/ws")
        assert client.connected.wait(10)
        source = SineSource(pipeline)
        result = pipeline.run(source)
    finally:
        view.close()
    client.join()
    assert result.reason == "end:signal_end"
    audio = [messages.parse_audio(b) for b in client.binaries]
    assert [a.seq for a in audio] == list(range(CHUNKS))  # every chunk, in order, none dropped
    assert all(np.array_equal(a.samples, s) for a, s in zip(audio, source.sent, strict=True))
    types = [m["type"] for m in client.texts]
    assert types[0] == "hello" and "level" in types and types.count("status") >= 2
    assert {"vad", "transcript", "end", "web"} <= set(types)
    final = next(m for m in client.texts if m["type"] == "transcript")
    assert final["text"] == "a steady tone" and final["final"] is True and "wall" in final
    levels = [m for m in client.texts if m["type"] == "level" and m["rms_dbfs"] > -100]
    assert levels, "no level reading while the tone played"
    expected_rms = dbfs(16384 / 32768 / np.sqrt(2), 1.0)  # -9.03 dBFS: outputs.view's own math
    assert abs(levels[-1]["rms_dbfs"] - expected_rms) < 0.1 and abs(levels[-1]["db_spl"] - (expected_rms + 120)) < 0.1
    assert client.texts[-1]["type"] in ("status", "web") and client.close_code == 1001
    status = [m for m in client.texts if m["type"] == "status"][-1]
    assert status["dropped_chunks"] == 0 and {"web", "web-meter"} <= set(status["listeners"])
    assert view.server.stats["dropped"] == 0 and view.server.stats["inbox_dropped"] == 0


def test_two_boards_on_one_server_are_told_apart_by_board_id() -> None:
    """Several boards (one pipeline each) on one web view: audio and levels carry each board's id."""
    view = WebView(WebSettings(port=0))
    pipelines = {board: Pipeline() for board in ("kitchen", "hall")}
    try:
        for board, pipeline in pipelines.items():
            view.attach(pipeline, board_id=board)
            for consumer in pipeline.consumers:
                consumer.start()
        client = Collector(f"ws://127.0.0.1:{view.server.port}/ws")
        assert client.connected.wait(10)
        for i, pipeline in enumerate(pipelines.values()):
            samples = np.full(160, 1000 * (i + 1), dtype=np.int16)
            samples.flags.writeable = False
            pipeline.bus.publish(AudioChunk(i, time.monotonic() * 1e3, 16000, samples))
        time.sleep(0.3)
        for pipeline in pipelines.values():
            pipeline.outputs[0].refresh()
            pipeline.bus.close()
            for consumer in pipeline.consumers:
                consumer.finish(5.0)
    finally:
        view.close()
    client.join()
    audio = {messages.parse_audio(b).board_id: messages.parse_audio(b) for b in client.binaries}
    assert set(audio) == {"kitchen", "hall"} and audio["hall"].samples[0] == 2000
    levels = {m["board_id"]: m["rms_dbfs"] for m in client.texts if m["type"] == "level"}
    expected = {"kitchen": dbfs(1000 / 32768, 1.0), "hall": dbfs(2000 / 32768, 1.0)}
    assert levels == pytest.approx(expected, abs=0.01)  # rounded to 0.01 dB on the wire
