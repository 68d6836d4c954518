"""The fault benchmarks' toolkit: a known signal, a simulated board, two ways to watch it, and the result row.

    FaultResult                        one row of the fault table plus the named checks that decide it
    random_pcm / write_wav / frames_in the source: full-range pseudo-random 16 kHz audio (every bit matters)
    board(...)                         a started SimBoard, always stopped
    capture(...) -> Capture            a plain host (pyserial + Decoder + PING) from START to END, raw Audio
    count_corrupted / account          chunks that differ from the source at seq × SPF; exact frame counts
    live_source / Collector / finish   a SerialSource on the board, bus listeners on their own threads
    find / locate                      where delivered chunks sit in the source (across epochs and holes)

Used by picomic.bench.faults (live scenarios), .mutations (decoder-level scenarios) and .soak.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import serial
import soundfile as sf

from picomic.bus.audiobus import AudioChunk, Listener
from picomic.bus.events import Event
from picomic.link.source import SerialSource, StartSettings
from picomic.sim.board import SimBoard
from picomic.stream.decoder import DecodedFrame, Decoder
from picomic.stream.protocol import FrameType, encode_command

RATE_HZ = 16000
SPF = 160
"""Samples per 10 ms frame at 16 kHz."""
I16 = npt.NDArray[np.int16]


# ------------------------------------------------------------------------------------------- results


@dataclass
class FaultResult:
    """One row of the fault table plus the checks that decide whether it passed."""

    fault: str
    sent: int = 0
    delivered: int = 0
    lost: int = 0
    crc_errors: int = 0
    resyncs: int = 0
    corrupted: int = 0
    """Delivered chunks whose samples differ from the source at their stream position (must be 0)."""
    recovery: str = "—"
    """Human text: time or frames until the stream was whole again."""
    recovery_ms: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)

    def check(self, name: str, ok: bool) -> None:
        self.checks[name] = bool(ok)

    @property
    def failures(self) -> list[str]:
        return [name for name, ok in self.checks.items() if not ok]

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        return out


def random_pcm(seconds: float, seed: int) -> I16:
    """Full-range pseudo-random 16-bit samples at 16 kHz: every bit of every sample matters."""
    n = round(seconds * RATE_HZ)
    pcm: I16 = np.random.default_rng(seed).integers(-32768, 32768, n).astype(np.int16)
    return pcm


def write_wav(folder: Path, pcm: I16, name: str = "src.wav") -> Path:
    path = folder / name
    sf.write(path, pcm, RATE_HZ, subtype="PCM_16")
    return path


def frames_in(pcm: I16) -> int:
    return -(-len(pcm) // SPF)


@contextmanager
def board(signal: str, **kw: Any) -> Iterator[SimBoard]:
    """A started SimBoard, always stopped."""
    kw.setdefault("seed", 1)
    sim = SimBoard(signal, **kw)
    try:
        sim.start()
        yield sim
    finally:
        sim.stop()


# ------------------------------------------------------------------------------------- raw host harness


@dataclass
class Audio:
    seq: int
    stream_sample: int
    flags: int
    pcm: I16
    t: float
    """time.monotonic() when the frame was decoded."""


@dataclass
class Capture:
    """What a plain host (pyserial + Decoder, PING twice a second) saw from START to END or a timeout."""

    decoder: Decoder = field(default_factory=Decoder)
    audio: list[Audio] = field(default_factory=list)
    end: dict[str, Any] | None = None
    end_seq: int | None = None
    raw: bytearray = field(default_factory=bytearray)
    resumed_at: float | None = None

    def take(self, frames: list[DecodedFrame], now: float) -> None:
        for f in frames:
            if f.type is FrameType.AUDIO:
                self.audio.append(Audio(f.seq, f.stream_sample, f.flags, np.array(f.frame.pcm()), now))
            elif f.type is FrameType.END:
                self.end, self.end_seq = f.frame.json(), f.seq


def capture(
    port: str,
    timeout_s: float,
    *,
    until: Callable[[], bool] | None = None,
    keep_raw: bool = False,
    stall_after_s: float | None = None,
    stall_s: float = 0.0,
) -> Capture:
    """INFO + START on `port` and decode until END (or `until()`: an END may be destroyed by faults).
    With `stall_after_s`, stop reading for `stall_s` seconds that long after the first audio frame (the
    pinger thread keeps the host alive, as a host whose reader thread is blocked)."""
    cap = Capture()
    with serial.Serial(port, timeout=0.02) as ser:
        lock = threading.Lock()
        stop = threading.Event()

        def ping() -> None:
            while not stop.wait(0.5):
                with lock:
                    ser.write(encode_command("PING"))

        pinger = threading.Thread(target=ping, name="faults-ping", daemon=True)
        cap.decoder.expect_epoch()  # as SerialSource does before START: frames lost before the first count
        with lock:
            ser.write(encode_command("STOP") + encode_command("INFO") + encode_command("START", rate=RATE_HZ))
        pinger.start()
        deadline = time.monotonic() + timeout_s + stall_s
        stop_at: float | None = None  # `until()` held: read what is still in the pty for one more second
        try:
            while time.monotonic() < deadline and cap.end is None:
                if stop_at is None and until is not None and until():
                    stop_at = time.monotonic() + 1.0
                if stop_at is not None and time.monotonic() > stop_at:
                    break
                stalled = cap.audio and cap.resumed_at is None and stall_after_s is not None
                if stalled and time.monotonic() - cap.audio[0].t >= (stall_after_s or 0.0):
                    time.sleep(stall_s)
                    cap.resumed_at = time.monotonic()
                data = ser.read(65536)
                if keep_raw:
                    cap.raw += data
                cap.take(cap.decoder.feed(data), time.monotonic())
        finally:
            stop.set()
            pinger.join(2.0)
    return cap


def count_corrupted(audio: list[Audio], pcm: I16) -> int:
    """Chunks whose samples differ from the source at seq × SPF (the signal's sample 0 is frame 0)."""
    bad = 0
    for a in audio:
        want = pcm[a.seq * SPF : a.seq * SPF + len(a.pcm)]
        if len(want) != len(a.pcm) or not np.array_equal(want, a.pcm):
            bad += 1
    return bad


def signal_ended(sim: SimBoard) -> Callable[[], bool]:
    """An `until` for capture(): the board read its whole signal and the relay delivered all it held."""
    return lambda: sim.wait_signal_end(0) and sim.drain(timeout=2.0, quiet_s=0.3)


def account(r: FaultResult, cap: Capture, sent: int) -> None:
    """Fill the counts and the exact accounting checks from a capture."""
    d = cap.decoder
    r.sent, r.delivered = sent, len(cap.audio)
    r.lost, r.crc_errors, r.resyncs = sent - r.delivered, d.crc_errors, d.resyncs
    seqs = [a.seq for a in cap.audio]
    r.check("seq strictly increasing", all(b > a for a, b in zip(seqs, seqs[1:], strict=False)))
    if cap.end_seq is not None:  # the END says how many frames the epoch had: count everything exactly
        r.check("END seq == frames sent", cap.end_seq == sent)
        r.check("delivered + lost_frames == sent", r.delivered + d.lost_frames == sent)
    elif seqs:  # the END was destroyed: what the decoder can know ends at the last frame it saw
        r.check("delivered + lost_frames == last seq + 1", r.delivered + d.lost_frames == seqs[-1] + 1)
    r.details.update(d.counters(), end=cap.end, header_errors=d.header_errors, skipped_bytes=d.skipped_bytes)


# --------------------------------------------------------------------------- live faults, SerialSource


class Collector:
    """A bus listener on its own thread that keeps every chunk with its receipt time."""

    def __init__(self, listener: Listener, block_after: int | None = None, block_s: float = 0.0) -> None:
        self.listener = listener
        self.got: list[tuple[float, AudioChunk]] = []
        self.unblocked_at: float | None = None
        self.caught_up_at: float | None = None
        self._block_after, self._block_s = block_after, block_s
        self._thread = threading.Thread(target=self._run, name=f"faults-{listener.name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self.listener.recv(timeout=30.0)) is not None:
            self.got.append((time.monotonic(), chunk))
            if self._block_after is not None and len(self.got) == self._block_after:
                time.sleep(self._block_s)  # a consumer stuck in a slow call
                self.unblocked_at = time.monotonic()
            if self.unblocked_at is not None and self.caught_up_at is None and self.listener.queue_depth == 0:
                self.caught_up_at = time.monotonic()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def chunks(self) -> list[AudioChunk]:
        return [c for _, c in self.got]


@dataclass
class Live:
    """A SerialSource on a simulated board, with events recorded as (time, event)."""

    source: SerialSource
    events: list[tuple[float, Event]]

    @property
    def status(self) -> dict[str, Any]:
        return self.source.status.snapshot()

    def of(self, kind: type[Any]) -> list[Any]:
        return [e for _, e in self.events if isinstance(e, kind)]


def live_source(sim: SimBoard) -> Live:
    events: list[tuple[float, Event]] = []
    source = SerialSource(
        sim.port, settings=StartSettings(rate_hz=RATE_HZ), emit=lambda e: events.append((time.monotonic(), e))
    )
    return Live(source, events)


def finish(live: Live, timeout_s: float, *collectors: Collector) -> bool:
    """Wait for the stream's end (bounded), stop the source, close the bus, join the collectors."""
    ended = live.source.wait(timeout_s)
    live.source.stop()
    live.source.bus.close()
    for c in collectors:
        c.join(5.0)
    return ended


def find(pcm: I16, samples: npt.NDArray[Any]) -> int | None:
    """Where `samples` occur in `pcm` (random full-range audio: the match is unique), or None."""
    if len(samples) < 4:
        return None
    hits = np.flatnonzero((pcm[:-3] == samples[0]) & (pcm[1:-2] == samples[1]) & (pcm[2:-1] == samples[2]))
    for h in hits.tolist():
        if np.array_equal(pcm[h : h + len(samples)], samples):
            return int(h)
    return None


def locate(chunks: list[AudioChunk], pcm: I16) -> tuple[int, list[tuple[int, int]]]:
    """Check every chunk against the source where the source position is `base + seq × SPF`; when a chunk
    is not there, look for it anywhere (a new epoch, or audio the device lost before it became a frame) and
    re-anchor `base`. Returns (chunks found nowhere — corrupted, [(chunk index, base jump in samples)])."""
    bad, base = 0, None
    jumps: list[tuple[int, int]] = []
    for i, c in enumerate(chunks):
        samples = np.asarray(c.samples)
        pos = None if base is None else base + c.seq * SPF
        if pos is not None and np.array_equal(pcm[pos : pos + c.num_samples], samples):
            continue
        at = find(pcm, samples)
        if at is None:
            bad += 1
            continue
        if base is not None:
            jumps.append((i, at - c.seq * SPF - base))
        base = at - c.seq * SPF
    return bad, jumps
