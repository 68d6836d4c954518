"""Host receiver benchmark: decode + publish throughput, copies, pty delivery latency, RSS over an hour.

`run(quick=False) -> dict` returns the numbers (for `picomic bench`); `python -m picomic.bench.host`
prints them as JSON. Throughputs are medians over repeated runs in this one process, 10 ms frames at 16 kHz
fed from memory in 4 KiB reads through the same code the reader thread runs (`FrameRouter.feed`:
decode, clock mapping, AudioChunk, publish, status). The naive baseline runs in the same process on the
same code path with the bus swapped for a per-listener copy into a lock-protected list queue.
"""

from __future__ import annotations

import json
import os
import statistics
import struct
import threading
import time
import zlib
from typing import Any

import numpy as np
import serial

from picomic.bench.report import rss_mb
from picomic.bus.audiobus import AudioBus, AudioChunk, Listener
from picomic.bus.status import PipelineStatus
from picomic.stream.decoder import Decoder
from picomic.stream.router import FrameRouter

RATE_HZ = 16000
SAMPLES = 160  # 10 ms
READ_BYTES = 4096
LISTENER_COUNTS = (1, 3, 8)
_FIELDS = struct.Struct("<BBIIHHHHB")


def synth_frame(ftype: int, seq: int, ts_us: int, rate_hz: int, samples: int, payload: bytes, flags: int = 0) -> bytes:
    """Benchmark INPUT only (production never encodes frames): one frame laid out per docs/protocol.md.
    tests/host checks it byte for byte against the firmware's golden vectors."""
    head = _FIELDS.pack(1, ftype, seq & 0x3FFFFFFF, ts_us & 0x3FFFFFFF, rate_hz, samples, len(payload), 0, flags)
    body = head + bytes([~sum(head) & 0xFF]) + payload
    return b"\xa5\x5a" + body + struct.pack("<I", zlib.crc32(body))


def synth_stream(frames: int, start_seq: int = 0) -> bytes:
    """`frames` 10 ms, 16 kHz AUDIO frames (FIRST on seq 0) for the benchmarks."""
    pcm = (np.sin(np.arange(SAMPLES) * 0.1) * 8000).astype("<i2").tobytes()
    return b"".join(
        synth_frame(1, seq, seq * 10_000, RATE_HZ, SAMPLES, pcm, 8 if seq == 0 else 0)
        for seq in range(start_seq, start_seq + frames)
    )


class NaiveBus(AudioBus):
    """The baseline the bus is measured against: every listener gets its own copy of the samples through
    a lock-protected list (trimmed from the front when over `maxsize`)."""

    def __init__(self, listeners: int, maxsize: int = 256) -> None:
        super().__init__()
        self.queues: list[tuple[threading.Lock, list[np.ndarray]]] = [(threading.Lock(), []) for _ in range(listeners)]
        self.maxsize = maxsize

    def publish(self, chunk: AudioChunk, stream: str = "raw") -> None:
        for lock, queue in self.queues:
            with lock:
                queue.append(chunk.samples.copy())
                if len(queue) > self.maxsize:
                    queue.pop(0)


def _source(listeners: int, naive: bool = False) -> tuple[FrameRouter, list[Listener]]:
    status = PipelineStatus()
    if naive:
        return FrameRouter(NaiveBus(listeners), status), []
    bus = AudioBus(status)
    subs = [bus.subscribe(f"l{i}") for i in range(listeners)]
    return FrameRouter(bus, status), subs


def _timed(data: bytes, listeners: int, naive: bool = False) -> float:
    """Seconds to push `data` through the reader's code path (4 KiB reads) to `listeners` listeners."""
    src, _ = _source(listeners, naive)
    t0 = time.perf_counter()
    for i in range(0, len(data), READ_BYTES):
        src.feed(data[i : i + READ_BYTES])
    return time.perf_counter() - t0


def _decode_only(data: bytes) -> float:
    dec = Decoder()
    t0 = time.perf_counter()
    for i in range(0, len(data), READ_BYTES):
        dec.feed(data[i : i + READ_BYTES])
    return time.perf_counter() - t0


def throughput_samples(frames: int = 20_000, repeats: int = 5) -> dict[str, list[float]]:
    """Per-repeat seconds for `frames` frames: `decode`, and `bus_N` / `naive_N` for N in 1, 3, 8 listeners.
    Ours and the naive baseline alternate within each repeat, so machine noise hits both alike."""
    data = synth_stream(frames)
    out: dict[str, list[float]] = {"decode": []}
    for _ in range(repeats):
        out["decode"].append(_decode_only(data))
        for n in LISTENER_COUNTS:
            out.setdefault(f"bus_{n}", []).append(_timed(data, n))
            out.setdefault(f"naive_{n}", []).append(_timed(data, n, naive=True))
    return out


def throughput(frames: int = 20_000, repeats: int = 5) -> dict[str, object]:
    secs = throughput_samples(frames, repeats)
    audio_s = frames * SAMPLES / RATE_HZ
    out: dict[str, object] = {"frames": frames, "repeats": repeats}
    out["decode_only_frames_per_s"] = round(frames / statistics.median(secs["decode"]))
    for n in LISTENER_COUNTS:
        ours = statistics.median(secs[f"bus_{n}"])
        naive = statistics.median(secs[f"naive_{n}"])
        out[f"listeners_{n}"] = {
            "frames_per_s": round(frames / ours),
            "x_realtime": round(audio_s / ours),
            "naive_frames_per_s": round(frames / naive),
            "speedup_vs_naive": round(naive / ours, 2),
        }
    return out


def copies_per_chunk(frames: int = 200, listeners: int = 3) -> dict[str, object]:
    """Copies after decode, verified by buffer identity: every listener's array must be the same object,
    a view over the decoded frame's payload bytes."""
    src, subs = _source(listeners)
    src.feed(synth_stream(frames))
    copies = 0
    for _ in range(frames):
        got = [lis.recv(timeout=0) for lis in subs]
        chunks = [c for c in got if c is not None]
        base = chunks[0].samples.base
        for c in chunks:
            view = isinstance(base, bytes) and np.shares_memory(c.samples, np.frombuffer(base, np.uint8))
            copies += 0 if view and c.samples is chunks[0].samples else 1
    return {"copies_per_chunk_after_decode": copies / frames, "listeners": listeners}


def rss_growth(audio_s: float = 3600.0) -> dict[str, object]:
    """Push `audio_s` of audio at full speed through decode + publish to 3 listeners (queues bounded,
    one drained by drain_to_latest like a visualizer); RSS growth after a warm-up minute."""
    block = synth_stream(6000)  # one minute, repeated (each repeat is a new epoch: FIRST on seq 0)
    src, subs = _source(3)
    minutes = max(2, round(audio_s / 60))
    t0 = time.perf_counter()
    start_mb = 0.0
    for m in range(minutes):
        for i in range(0, len(block), READ_BYTES):
            src.feed(block[i : i + READ_BYTES])
            subs[0].drain_to_latest()
        if m == 0:
            start_mb = rss_mb()
    return {
        "audio_s": minutes * 60,
        "wall_s": round(time.perf_counter() - t0, 2),
        "rss_growth_mb": round(rss_mb() - start_mb, 3),
        "dropped_chunks": src.status.dropped_chunks,
    }


def pty_latency(frames: int = 500) -> dict[str, object]:
    """Bytes written to a real pty at real-time pace (one 10 ms frame each 10 ms) → listener wake-up,
    the reader side opened with pyserial like a board. p50/p99/max in ms."""
    lat = pty_latencies(frames)
    if not lat:
        return {"frames": frames, "delivered": 0}
    return {
        "frames": frames,
        "delivered": len(lat),
        "p50_ms": round(lat[len(lat) // 2], 3),
        "p99_ms": round(lat[min(len(lat) - 1, int(len(lat) * 0.99))], 3),
        "max_ms": round(lat[-1], 3),
    }


def pty_latencies(frames: int = 500) -> list[float]:
    """The delivery latencies (ms, sorted) of the frames that reached the listener (see `pty_latency`)."""
    master, slave = os.openpty()
    port = serial.Serial(os.ttyname(slave), timeout=0.05)
    src, (lis,) = _source(1)
    data = synth_stream(frames)
    size = len(data) // frames
    written: list[float] = [0.0] * frames
    woke: list[float] = [0.0] * frames
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            chunk = port.read(max(1, port.in_waiting))
            if chunk:
                src.feed(chunk)

    def consumer() -> None:
        for _ in range(frames):
            c = lis.recv(timeout=2.0)
            if c is None:
                return
            woke[c.seq] = time.perf_counter()

    threads = [threading.Thread(target=reader, daemon=True), threading.Thread(target=consumer, daemon=True)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    for i in range(frames):
        time.sleep(max(0.0, start + i * 0.01 - time.perf_counter()))
        written[i] = time.perf_counter()
        os.write(master, data[i * size : (i + 1) * size])
    threads[1].join(timeout=5)
    stop.set()
    threads[0].join(timeout=2)
    port.close()
    os.close(master)
    os.close(slave)
    return sorted((w - s) * 1000 for s, w in zip(written, woke, strict=True) if w)


def run(quick: bool = False) -> dict[str, Any]:
    """All host-receiver benchmarks; `quick` shortens them (CI) without changing what they measure."""
    return {
        "throughput": throughput(frames=3000 if quick else 20_000, repeats=3 if quick else 5),
        "copies": copies_per_chunk(),
        "pty_latency": pty_latency(frames=100 if quick else 500),
        "rss": rss_growth(audio_s=120.0 if quick else 3600.0),
        "targets": {"frames_per_s_3_listeners": 50_000, "rss_growth_mb_per_hour": 2.0, "copies_per_chunk": 0},
    }


def main() -> None:
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv[1:]), indent=2))


if __name__ == "__main__":
    main()
