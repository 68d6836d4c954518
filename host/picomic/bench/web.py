"""The web view under 20 WebSocket clients at real time, with and without one stalled client, side by side.

The wiring is `listen --web`'s (`WebView.attach` on a pipeline's bus): a producer thread publishes 10 ms, 16 kHz
chunks on the bus at real-time pace and, every 100 ms, a partial transcript through the web output (stamped
with `perf_counter` just before). Twenty aiohttp clients in a child process (their own interpreter, as browsers
are) read everything (audio, levels, events) and note when each transcript arrives. Phases alternate: `clean`
(the 20 alone) and `stalled` (plus a raw-socket client that completed the handshake and never reads, with a 4 KiB
receive buffer; the phase starts once its queue is dropping, so it is really backed up; the bench keeps it
connected rather than let the stall timeout close it). Delivery latency = arrival − publish, per event and
client, pooled per phase.
"""

from __future__ import annotations

import asyncio
import base64
import multiprocessing
import os
import socket
import threading
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
import numpy as np

from picomic.bench.report import Figure, Target, percentile
from picomic.bus.audiobus import AudioChunk
from picomic.bus.events import Transcript
from picomic.errors import PicomicError
from picomic.pipeline import Pipeline
from picomic.web.live import WebView
from picomic.web.server import WebSettings

CLIENTS = 20
EVENT_EVERY_CHUNKS = 10
RATE_HZ = 16000
CHUNK_SAMPLES = 160


def stalled_client(port: int, host: str = "127.0.0.1") -> socket.socket:
    """A WebSocket client that completes the handshake on /ws and then never reads (4 KiB receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10.0)
    sock.connect((host, port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 4096:
        head += sock.recv(1)
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise PicomicError(f"the web view refused the stalled client: {head[:60]!r}")
    return sock


class Producer:
    """Real-time audio on the bus and a stamped partial transcript every 100 ms through the web output."""

    def __init__(self, pipeline: Pipeline) -> None:
        self._pipeline = pipeline
        self.published: dict[int, float] = {}
        """Event number → perf_counter just before it was handed to the output."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-web-producer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5.0)

    def _run(self) -> None:
        output = self._pipeline.outputs[0]
        tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(CHUNK_SAMPLES) / RATE_HZ)).astype(np.int16)
        tone.flags.writeable = False
        t0, seq = time.monotonic(), 0
        while not self._stop.is_set():
            chunk = AudioChunk(seq, time.monotonic() * 1e3, RATE_HZ, tone, stream_sample=seq * CHUNK_SAMPLES)
            self._pipeline.bus.publish(chunk)
            if seq % EVENT_EVERY_CHUNKS == 0:
                n = seq // EVENT_EVERY_CHUNKS
                self.published[n] = time.perf_counter()
                output.on_event(Transcript(f"bench {n}", False, 0.0, seq / 100, None))
            output.refresh()
            seq += 1
            delay = t0 + seq * CHUNK_SAMPLES / RATE_HZ - time.monotonic()
            if delay > 0:
                time.sleep(delay)


class Clients:
    """CLIENTS aiohttp WebSocket clients in a child process (its own interpreter, like a browser), one event loop;
    each notes when every transcript arrives (`perf_counter`: CLOCK_MONOTONIC, one clock for both processes)."""

    def __init__(self, url: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_client_process, args=(url, child), name="bench-web-clients", daemon=True)
        self.arrivals: list[dict[int, float]] = []
        self.audio_messages: list[int] = []

    def start(self) -> None:
        self._proc.start()
        if not self._conn.poll(60.0) or self._conn.recv() != "connected":
            raise PicomicError("the bench's WebSocket clients did not connect within 60 s")

    def stop(self) -> None:
        """Close the clients and collect what they saw."""
        if self._proc.is_alive():
            self._conn.send("stop")
            if self._conn.poll(30.0):
                self.arrivals, self.audio_messages = self._conn.recv()
        self._proc.join(10.0)
        if self._proc.is_alive():
            self._proc.kill()


def _client_process(url: str, conn: Connection) -> None:
    asyncio.run(_clients(url, conn))


async def _clients(url: str, conn: Connection) -> None:
    arrivals: list[dict[int, float]] = [{} for _ in range(CLIENTS)]
    audio = [0] * CLIENTS
    async with aiohttp.ClientSession() as session:
        sockets = [await session.ws_connect(url, max_msg_size=0) for _ in range(CLIENTS)]
        conn.send("connected")
        readers = [asyncio.create_task(_read(ws, arrivals[i], audio, i)) for i, ws in enumerate(sockets)]
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "stop"
        for ws in sockets:
            await ws.close()
        await asyncio.gather(*readers, return_exceptions=True)
    conn.send((arrivals, audio))


async def _read(
    ws: aiohttp.ClientWebSocketResponse[bool], arrivals: dict[int, float], audio: list[int], i: int
) -> None:
    prefix = '{"type":"transcript","text":"bench '
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.BINARY:
            audio[i] += 1
        elif msg.type == aiohttp.WSMsgType.TEXT and msg.data.startswith(prefix):
            arrivals[int(msg.data[len(prefix) : msg.data.index('"', len(prefix))])] = time.perf_counter()


def _phase(producer: Producer, seconds: float) -> range:
    """The events published during the next `seconds`."""
    first = max(producer.published, default=-1) + 1
    time.sleep(seconds)
    return range(first, max(producer.published, default=-1) + 1)


def _latencies(producer: Producer, clients: Clients, events: list[range]) -> list[float]:
    """Latency (ms) of each of these events at each client; inf where one never arrived."""
    out = []
    for n in (n for r in events for n in r):
        sent = producer.published[n]
        out += [(arr[n] - sent) * 1000.0 if n in arr else float("inf") for arr in clients.arrivals]
    return out


def _stalled_phase(view: WebView, producer: Producer, seconds: float) -> tuple[range, int]:
    """A phase with the stalled client connected and backed up; (its events, messages the stalled one lost)."""
    stats = view.server.stats
    before = stats["dropped"]
    sock = stalled_client(view.server.port)
    try:
        deadline = time.monotonic() + 60.0
        while stats["dropped"] == before:
            if time.monotonic() > deadline:
                raise PicomicError("the stalled client never backed up within 60 s")
            time.sleep(0.05)
        events = _phase(producer, seconds)
        return events, stats["dropped"] - before
    finally:
        sock.close()
        time.sleep(0.3)


def run(quick: bool) -> dict[str, Any]:
    return measure(*((3.0, 4) if quick else (4.0, 8)))


def measure(phase_s: float, repeats: int) -> dict[str, Any]:
    """`repeats` pairs of (clean, stalled) phases of `phase_s` each, the order alternating per pair; a pair's
    p99 change is taken within the pair, so a load spike on the machine moves one pair, not the median."""
    pipeline = Pipeline()
    view = WebView(WebSettings(port=0, max_clients=CLIENTS + 4, stall_timeout_s=3600.0))
    view.attach(pipeline)
    for consumer in pipeline.consumers:
        consumer.start()
    producer, clients = Producer(pipeline), Clients(f"ws://127.0.0.1:{view.server.port}/ws")
    clean: list[range] = []
    stalled: list[range] = []
    stalled_lost = 0
    try:
        clients.start()
        producer.start()
        time.sleep(2.0)  # warm-up
        for rep in range(repeats):
            for kind in ("clean", "stalled") if rep % 2 == 0 else ("stalled", "clean"):
                if kind == "clean":
                    clean.append(_phase(producer, phase_s))
                else:
                    events, lost = _stalled_phase(view, producer, phase_s)
                    stalled.append(events)
                    stalled_lost += lost
        time.sleep(0.5)  # the last events arrive
    finally:
        producer.stop()
        pipeline.bus.close()
        for consumer in pipeline.consumers:
            consumer.finish(5.0)
        clients.stop()
        view.close()
    pairs = [
        (_latencies(producer, clients, [c]), _latencies(producer, clients, [s]))
        for c, s in zip(clean, stalled, strict=True)
    ]
    return _results(pipeline, view, clients, pairs, stalled_lost)


def _results(
    pipeline: Pipeline, view: WebView, clients: Clients, pairs: list[tuple[list[float], list[float]]], lost: int
) -> dict[str, Any]:
    clean = [x for c, _ in pairs for x in c]
    stalled = [x for _, s in pairs for x in s]
    finite = _finite(clean), _finite(stalled)
    changes = [percentile(_finite(s), 99) - percentile(_finite(c), 99) for c, s in pairs]
    return {
        "clients": CLIENTS,
        "pairs": len(pairs),
        "clean_ms": [round(x, 3) for x in finite[0]],
        "stalled_ms": [round(x, 3) for x in finite[1]],
        "p99_change_ms": [round(x, 3) for x in changes],
        "events_lost": len(clean) + len(stalled) - len(finite[0]) - len(finite[1]),
        "bus_dropped": pipeline.status.dropped_chunks,
        "stalled_client_dropped": lost,
        "audio_messages_per_client": min(clients.audio_messages, default=0),
        "server_stats": dict(view.server.stats),
    }


def _finite(xs: list[float]) -> list[float]:
    return [x for x in xs if x != float("inf")]


def figures() -> tuple[Figure, ...]:
    latency = "event delivery, 20 clients"
    return (
        Figure("clean_ms", f"{latency}, p50", "ms", over="deliveries", stat=50, digits=2, name="p50_ms"),
        Figure("clean_ms", f"{latency}, p99", "ms", Target("<", 50.0), "deliveries", 99, digits=2, name="p99_ms"),
        Figure("stalled_ms", "  p99 with one stalled client beside them", "ms", over="deliveries", stat=99, digits=2,
               name="p99_stalled_ms"),  # fmt: skip
        Figure("p99_change_ms", "  p99 change the stalled client causes (per pair)", "ms", Target("<=", 10.0), "pairs",
               digits=2),  # fmt: skip
        Figure("bus_dropped", "bus chunks dropped (web feed and meter)", "", Target("==", 0), digits=0),
        Figure("events_lost", "events lost by the 20 reading clients", "", Target("==", 0), digits=0),
        Figure("stalled_client_dropped", "  messages the stalled client lost (its own queue)", "", digits=0),
    )
