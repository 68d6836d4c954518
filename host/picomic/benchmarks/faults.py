"""Reliability under faults: the simulated board (real firmware, real pty) with injected faults, one table.

Every scenario streams a full-range pseudo-random signal (every bit matters), so a delivered chunk is checked
sample for sample against the source at its stream position (seq × frame samples): `corrupted` counts chunks
that differ and must be 0. `sent` comes from sequence numbers (the END frame's seq, or the source length
when the END itself was destroyed), and `delivered + lost == sent` is checked exactly.

    python -m picomic.benchmarks.faults            # full lengths (5 s host stall, 10 s slow consumer)
    python -m picomic.benchmarks.faults --quick    # CI lengths; --json FILE for the raw numbers

`run(quick) -> dict` is the `picomic bench` entry (figures: FIGURES); tests/reliability asserts the same
checks on the same scenario functions. Wire-level decoder scenarios (bursts, dropped/inserted bytes,
truncated frames, joining mid-frame) mutate a clean byte stream captured once from the simulated board.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
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

from ..bus import AudioChunk, Listener
from ..decoder import DecodedFrame, Decoder
from ..events import Discontinuity, Event, StreamEnd
from ..protocol import HEADER, OVERHEAD, Flags, FrameType, encode_command
from ..serial_source import SerialSource, StartSettings
from ..sim import SimBoard
from ..sinks import AudioFile

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


def _ended(sim: SimBoard) -> Callable[[], bool]:
    return lambda: sim.wait_signal_end(0) and sim.drain(timeout=2.0, quiet_s=0.3)


def _account(r: FaultResult, cap: Capture, sent: int) -> None:
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


# -------------------------------------------------------------------------------------- live wire faults


def wire_fault(
    name: str, *, ber: float = 0.0, drop_bytes: float = 0.0, seconds: float = 5.0, seed: int = 5
) -> FaultResult:
    """Bit errors / lost bytes on the live link (relay board → host), fast mode: nothing is lost on the
    device, so every missing frame is a wire loss and `sent` is the source length."""
    r = FaultResult(name)
    pcm = random_pcm(seconds, seed)
    with (
        tempfile.TemporaryDirectory() as tmp,
        board(str(write_wav(Path(tmp), pcm)), fast=True, ber=ber, drop_bytes=drop_bytes, seed=seed) as sim,
    ):
        cap = capture(sim.port, 30.0 + seconds, until=_ended(sim))
        r.check("board read the whole signal", sim.wait_signal_end(0))
    sent = frames_in(pcm)
    _account(r, cap, sent)
    r.corrupted = count_corrupted(cap.audio, pcm)
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    r.check("no device drops (fast mode)", cap.decoder.device_dropped == 0)
    if ber == 0 and drop_bytes == 0:
        r.check("clean link: everything delivered", r.delivered == sent and r.crc_errors == 0 and r.resyncs == 0)
    else:
        r.check("losses were detected", r.lost == 0 or r.crc_errors + r.resyncs > 0)
    r.details.update(ber=ber, drop_bytes=drop_bytes, seconds=seconds)
    return r


# ----------------------------------------------------------------------------- decoder-level mutations


@dataclass(frozen=True, slots=True)
class Span:
    start: int
    end: int
    type: int
    seq: int


@dataclass
class CleanStream:
    """A clean byte stream from the simulated board, split into its frames."""

    raw: bytes
    spans: list[Span]
    pcm: I16

    @property
    def audio(self) -> list[Span]:
        return [s for s in self.spans if s.type == FrameType.AUDIO]


def clean_stream(seconds: float = 3.0, seed: int = 11) -> CleanStream:
    """Capture the real firmware's bytes once (fast mode, no faults) and index every frame."""
    pcm = random_pcm(seconds, seed)
    with tempfile.TemporaryDirectory() as tmp, board(str(write_wav(Path(tmp), pcm)), fast=True, seed=seed) as sim:
        cap = capture(sim.port, 30.0, keep_raw=True)
    raw = bytes(cap.raw)
    spans, pos = [], 0
    while pos < len(raw):
        _, _, ftype, seq, *_rest, length, _dropped, _flags, _h = HEADER.unpack_from(raw, pos)
        spans.append(Span(pos, pos + OVERHEAD + length, ftype, seq))
        pos += OVERHEAD + length
    if pos != len(raw) or cap.end is None:
        raise RuntimeError("the clean capture is not a whole stream of frames")
    return CleanStream(raw, spans, pcm)


def _feed_chunked(data: bytes, rng: np.random.Generator, join: bool = False) -> tuple[Decoder, list[Audio]]:
    """Feed `data` in random chunk sizes (1..4096 bytes, some single bytes) to a fresh decoder; `join`: a
    host joining a running stream (loss before the first frame is unknown), else one that sent START."""
    dec, out = Decoder(), []
    if not join:
        dec.expect_epoch()
    pos = 0
    while pos < len(data):
        n = int(rng.integers(1, 4097)) if rng.random() > 0.1 else 1
        for f in dec.feed(data[pos : pos + n]):
            if f.type is FrameType.AUDIO:
                out.append(Audio(f.seq, f.stream_sample, f.flags, np.array(f.frame.pcm()), 0.0))
        pos += n
    return dec, out


def mutated(
    clean: CleanStream, name: str, edits: list[tuple[int, int, bytes]], *, skip_to: int = 0, seed: int = 3
) -> FaultResult:
    """Apply `edits` (start, end, replacement) to the clean stream (from byte `skip_to`), decode it in random
    chunks and check: exactly the untouched audio frames are delivered (so resync takes at most the damaged
    frame: the next whole frame always comes through), none corrupted, counters exact."""
    r = FaultResult(name)
    raw = clean.raw
    pieces: list[bytes] = []
    pos = skip_to
    for start, end, repl in sorted(edits):
        pieces += [raw[pos:start], repl]
        pos = end
    pieces.append(raw[pos:])
    damaged = [s for s in clean.spans if s.start < skip_to or _hit(s, edits)]
    touched = {s.start for s in damaged}
    dec, got = _feed_chunked(b"".join(pieces), np.random.default_rng(seed), join=skip_to > 0)
    intact = [s.seq for s in clean.audio if s.start not in touched]
    sent = len(clean.audio)
    r.sent, r.delivered, r.lost = sent, len(got), sent - len(got)
    r.crc_errors, r.resyncs = dec.crc_errors, dec.resyncs
    r.corrupted = count_corrupted(got, clean.pcm)
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    r.check("every untouched frame delivered (resync within one frame)", [a.seq for a in got] == intact)
    regions = _damaged_regions(clean.spans, touched, edits, skip_to)
    r.check(f"resyncs == damaged regions ({regions})", dec.resyncs == regions)
    end_ok = clean.spans[-1].start not in touched
    first = 0 if skip_to == 0 else (got[0].seq if got else 0)
    want_lost = (sent if end_ok else (got[-1].seq + 1 if got else 0)) - first - len(got)
    r.check(f"lost_frames exact ({want_lost})", dec.lost_frames == want_lost)
    worst = max((b.seq - a.seq - 1 for a, b in zip(got, got[1:], strict=False)), default=0)
    r.recovery = "≤ 1 frame" if [a.seq for a in got] == intact else "> 1 frame"
    r.details.update(dec.counters(), edits=len(edits), damaged_frames=len(damaged), longest_gap_frames=worst)
    return r


def _hit(s: Span, edits: list[tuple[int, int, bytes]]) -> bool:
    """An edit damages a frame when it changes, removes or inserts a byte strictly inside it."""
    for start, end, _ in edits:
        if end > start and start < s.end and end > s.start:  # replaced/removed bytes overlap the frame
            return True
        if end == start and s.start < start < s.end:  # an insertion inside the frame
            return True
    return False


def _damaged_regions(spans: list[Span], touched: set[int], edits: list[tuple[int, int, bytes]], skip: int) -> int:
    """Runs of consecutive damaged things in stream order: damaged frames, and insertions at a boundary."""
    marks: list[tuple[int, bool]] = [(s.start, s.start in touched) for s in spans]
    marks += [(st, True) for st, en, repl in edits if st == en and repl and any(st == s.start for s in spans)]
    marks.sort(key=lambda m: (m[0], not m[1]))  # a boundary insertion comes before the frame it precedes
    regions, prev = 0, False
    for _, bad in marks:
        regions += bad and not prev
        prev = bad
    return regions


def decoder_faults(clean: CleanStream, seed: int = 21) -> list[FaultResult]:
    """Bursts, dropped and inserted bytes, truncated frames, joining mid-frame — on real firmware bytes."""
    rng = np.random.default_rng(seed)
    n = len(clean.raw)
    audio = clean.audio
    out = []

    def xor_burst(start: int, length: int) -> tuple[int, int, bytes]:
        orig = np.frombuffer(clean.raw[start : start + length], np.uint8)
        return start, start + length, (orig ^ rng.integers(1, 256, len(orig)).astype(np.uint8)).tobytes()

    def apart(count: int, gap: int) -> list[int]:  # positions at least `gap` bytes apart
        picks = sorted(rng.choice(np.arange(0, n - 2 * gap, gap), count, replace=False).tolist())
        return [int(p + rng.integers(0, gap // 2)) for p in picks]

    frame = audio[1].end - audio[1].start
    for length in (1, 16, 200, 3 * frame):
        edits = [xor_burst(p, length) for p in apart(12, 4 * frame + length)]
        out.append(mutated(clean, f"burst {length} B ×12", edits))
    out.append(mutated(clean, "dropped bytes ×20", [(p, p + 1, b"") for p in apart(20, 2 * frame)]))
    junk = [rng.integers(0, 256, int(rng.integers(1, 40))).astype(np.uint8).tobytes() for _ in range(20)]
    ins = [(p, p, j) for p, j in zip(apart(20, 2 * frame), junk, strict=True)]
    ins += [(audio[40].start, audio[40].start, b"\xa5\x5a\x01")]  # a false sync marker between two frames
    out.append(mutated(clean, "inserted bytes ×21", ins))
    cut = [(s.end - int(rng.integers(1, s.end - s.start)), s.end, b"") for s in audio[10:-10:25]]
    out.append(mutated(clean, f"truncated frames ×{len(cut)}", cut))
    mid = audio[7].start + 100
    out.append(mutated(clean, "start mid-frame", [], skip_to=mid))
    return out


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
        sim.port, start=StartSettings(rate_hz=RATE_HZ), emit=lambda e: events.append((time.monotonic(), e))
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


def unplug(seconds: float = 3.0, unplug_at: float = 1.3, seed: int = 7) -> FaultResult:
    """Unplug and replug mid-stream (real time): reconnect < 1 s after the port is back, exactly one
    discontinuity, the recording keeps file time = stream time with the gap as silence."""
    r = FaultResult(f"unplug {UNPLUG_TEXT}")
    pcm = random_pcm(seconds, seed)
    replugs: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        with board(
            str(write_wav(Path(tmp), pcm)),
            unplug_at=unplug_at,
            seed=seed,
            on_replug=lambda _p: replugs.append(time.monotonic()),
        ) as sim:
            live = live_source(sim)
            col = Collector(live.source.bus.subscribe("check", maxsize=100_000))
            rec = AudioFile(str(Path(tmp) / "rec.wav"), RATE_HZ)
            live.source.start()
            ended = finish(live, seconds + 15.0, col)
        for c in col.chunks:
            rec.write_chunk(c)
        rec.close()
        file_pcm, _ = sf.read(Path(tmp) / "rec.wav", dtype="int16")
    chunks = col.chunks
    st = live.status
    r.delivered, r.lost = len(chunks), int(st["lost_frames"])
    r.sent = r.delivered + r.lost
    r.crc_errors, r.resyncs = int(st["crc_errors"]), int(st["resyncs"])
    r.corrupted, jumps = locate(chunks, pcm)
    first_new = next((i for i, c in enumerate(chunks) if c.epoch != chunks[0].epoch), None)
    r.check("audio continues the signal; it jumps only at the new epoch", [i for i, _ in jumps] == [first_new])
    disc = live.of(Discontinuity)
    r.check("stream ended at the signal's end", ended and [e.reason for e in live.of(StreamEnd)] == ["signal_end"])
    r.check("exactly one discontinuity (reconnect)", [d.reason for d in disc] == ["reconnect"])
    r.check("reconnects == 1", st["reconnects"] == 1 and len(replugs) == 1)
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    new = [(t, c) for t, c in col.got if c.epoch == chunks[-1].epoch]
    if replugs and new and disc:
        r.recovery_ms = (new[0][0] - replugs[0]) * 1000.0
        reconnect_ms = (next(t for t, e in live.events if isinstance(e, Discontinuity)) - replugs[0]) * 1000.0
        r.recovery = f"{r.recovery_ms:.0f} ms to audio ({reconnect_ms:.0f} ms to START)"
        r.details.update(reconnect_ms=reconnect_ms, first_audio_ms=r.recovery_ms, gap_s=disc[0].gap_s)
    r.check("reconnected < 1 s after the port came back", r.recovery_ms is not None and r.recovery_ms < 1000.0)
    _check_recording(r, chunks, file_pcm, col.got)
    return r


UNPLUG_TEXT = "+ replug"


def _check_recording(
    r: FaultResult, chunks: list[AudioChunk], file_pcm: I16, got: list[tuple[float, AudioChunk]]
) -> None:
    """File time == stream time: every chunk sits at its stream position, the rest is silence."""
    if not chunks:
        r.check("recording has audio", False)
        return
    origin = chunks[0].stream_sample
    span = chunks[-1].stream_sample + chunks[-1].num_samples - origin
    covered = np.zeros(len(file_pcm), bool)
    placed = len(file_pcm) == span
    for c in chunks:
        at = c.stream_sample - origin
        placed = placed and np.array_equal(file_pcm[at : at + c.num_samples], c.samples)
        covered[at : at + c.num_samples] = True
    gap = int((~covered).sum())
    r.check("recording: file samples == stream timeline, chunks at their positions", placed)
    r.check("recording: the gap is silence", gap > 0 and not file_pcm[~covered].any())
    wall_s = got[-1][0] - got[0][0] + chunks[-1].num_samples / RATE_HZ
    r.check("recording: file time ≈ wall time (±0.3 s)", abs(len(file_pcm) / RATE_HZ - wall_s) < 0.3)
    r.details.update(file_s=len(file_pcm) / RATE_HZ, wall_s=round(wall_s, 3), silence_s=gap / RATE_HZ)


def host_stall(stall_s: float = 5.0, seed: int = 8) -> FaultResult:
    """The receiver stops reading for `stall_s` (real time): the device keeps capturing, drops the oldest
    frames of its ring and says so; streaming resumes in the same epoch, without a reset."""
    r = FaultResult(f"host stall {stall_s:g} s")
    pcm = random_pcm(stall_s + 2.5, seed)
    with tempfile.TemporaryDirectory() as tmp, board(str(write_wav(Path(tmp), pcm)), seed=seed) as sim:
        cap = capture(sim.port, len(pcm) / RATE_HZ + 10.0, stall_after_s=0.5, stall_s=stall_s)
        r.check("board never rebooted", sim.reboots == 0 and sim.exited is None)
    d = cap.decoder
    _account(r, cap, frames_in(pcm))
    r.corrupted = count_corrupted(cap.audio, pcm)
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    r.check("END signal_end received", cap.end is not None and cap.end.get("reason") == "signal_end")
    r.check("device drops counted (device_dropped > 0)", d.device_dropped > 0)
    r.check("every lost frame is a device drop (lost == device_dropped)", d.lost_frames == d.device_dropped)
    r.check(
        "device's own count agrees (END dropped)", cap.end is not None and cap.end.get("dropped") == d.device_dropped
    )
    r.check("same epoch: no reset, no restart", d.epochs == 1 and d.i2s_overruns == 0)
    after = [a for a in cap.audio if cap.resumed_at is not None and a.flags & Flags.DEVICE_DROP]
    if after and cap.resumed_at is not None:
        r.recovery_ms = (after[0].t - cap.resumed_at) * 1000.0
        r.recovery = f"{r.recovery_ms:.0f} ms after reading again"
    r.check("stream resumed after the stall", bool(after) and after[-1].seq < cap.audio[-1].seq + 1)
    r.details.update(stall_s=stall_s, device_dropped=d.device_dropped)
    return r


def overrun(seconds: float = 2.5, at_s: float = 0.5, seed: int = 9) -> FaultResult:
    """A forced I2S overflow on the device (real time): one frame flagged, i2s_overruns == 1 in status."""
    r = FaultResult("I2S overrun (device)")
    pcm = random_pcm(seconds, seed)
    with tempfile.TemporaryDirectory() as tmp, board(str(write_wav(Path(tmp), pcm)), overrun_at=at_s, seed=seed) as sim:
        live = live_source(sim)
        col = Collector(live.source.bus.subscribe("check", maxsize=100_000))
        live.source.start()
        ended = finish(live, seconds + 15.0, col)
    chunks, st = col.chunks, live.status
    flagged = [c for c in chunks if c.flags & Flags.I2S_OVERRUN]
    r.delivered, r.lost = len(chunks), int(st["lost_frames"])
    r.sent = r.delivered + r.lost
    r.crc_errors, r.resyncs = int(st["crc_errors"]), int(st["resyncs"])
    r.corrupted, jumps = locate(chunks, pcm)
    # The hole is where the full I2S buffer refused new DMA blocks: up to a buffer length after the frame the
    # timing check flags (that frame holds the oldest buffered audio). About 100 ms, in 16-frame DMA blocks.
    flag_i = next((i for i, c in enumerate(chunks) if c.flags & Flags.I2S_OVERRUN), -1)
    r.check(
        "one hole of 100 ms (±16 samples) after the flagged frame",
        len(jumps) == 1 and jumps[0][0] >= flag_i >= 0 and abs(jumps[0][1] - 1600) <= 16,
    )
    r.check("stream ended at the signal's end", ended and [e.reason for e in live.of(StreamEnd)] == ["signal_end"])
    r.check("exactly one frame flagged I2S_OVERRUN", len(flagged) == 1)
    r.check("status i2s_overruns == 1", st["i2s_overruns"] == 1)
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    r.check("lost frames are device drops", st["lost_frames"] == st["device_dropped"] and st["crc_errors"] == 0)
    end = frames_in(pcm) - round(0.1 * RATE_HZ / SPF)  # ~100 ms never became frames (16-frame DMA blocks)
    r.check("delivered + lost ≈ sent − 100 ms (±1 frame)", abs(r.sent - end) <= 1)
    r.recovery = f"flag at {flagged[0].start_s:.2f} s" if flagged else "—"
    hole = chunks[jumps[0][0]].start_s if jumps else None
    r.details.update(
        overrun_at_s=at_s,
        device_dropped=st["device_dropped"],
        hole_at_stream_s=hole,
        hole_samples=jumps[0][1] if jumps else None,
    )
    return r


def slow_consumer(block_s: float = 10.0, seed: int = 10, maxsize: int = 50) -> FaultResult:
    """One listener blocked for `block_s` (real time): other listeners and the capture are untouched; the
    slow one loses exactly what overflowed its queue, counted per listener and in dropped_chunks."""
    r = FaultResult(f"slow consumer {block_s:g} s")
    pcm = random_pcm(block_s + 2.0, seed)
    with tempfile.TemporaryDirectory() as tmp, board(str(write_wav(Path(tmp), pcm)), seed=seed) as sim:
        live = live_source(sim)
        bus = live.source.bus
        fast = [Collector(bus.subscribe(f"fast{i}", maxsize=100_000)) for i in range(2)]
        slow = Collector(bus.subscribe("slow", maxsize=maxsize), block_after=20, block_s=block_s)
        live.source.start()
        ended = finish(live, block_s + 20.0, *fast, slow)
    st = live.status
    published = len(fast[0].got)
    lis = slow.listener
    chunks = fast[0].chunks
    r.sent, r.delivered = frames_in(pcm), published
    r.lost, r.crc_errors, r.resyncs = r.sent - published, int(st["crc_errors"]), int(st["resyncs"])
    r.corrupted = count_corrupted([Audio(c.seq, 0, 0, np.asarray(c.samples), 0) for c in chunks], pcm)
    seqs = [c.seq for c in slow.chunks]
    jumps = [b - a - 1 for a, b in zip(seqs, seqs[1:], strict=False) if b - a != 1]
    r.check("stream ended at the signal's end", ended and [e.reason for e in live.of(StreamEnd)] == ["signal_end"])
    r.check("capture untouched: every frame delivered", published == r.sent and st["lost_frames"] == 0)
    r.check(
        "other listeners got every chunk, none dropped",
        all(f.chunks == chunks and f.listener.dropped == 0 for f in fast),
    )
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    r.check("slow: received + dropped == published", len(slow.got) + lis.dropped == published)
    r.check("slow: one jump of exactly `dropped` chunks", jumps == [lis.dropped] and lis.dropped > 0)
    r.check("status dropped_chunks == slow.dropped", st["dropped_chunks"] == lis.dropped)
    lags = [t * 1000.0 - c.ts_ms for t, c in fast[0].got]
    r.details.update(slow_dropped=lis.dropped, fast_lag_p99_ms=float(np.percentile(lags, 99)), block_s=block_s)
    if slow.caught_up_at is not None and slow.unblocked_at is not None:
        r.recovery_ms = (slow.caught_up_at - slow.unblocked_at) * 1000.0
        r.recovery = f"slow one caught up in {r.recovery_ms:.1f} ms"
    return r


# ---------------------------------------------------------------------------------------------- report

BER_LEVELS = (1e-5, 1e-4, 1e-3, 1e-2)


def scenarios(quick: bool) -> list[Callable[[], list[FaultResult]]]:
    """The table's rows, as thunks (each returns its rows). Quick: CI lengths, same properties."""
    audio_s = 5.0 if quick else 30.0
    rows: list[Callable[[], list[FaultResult]]] = [lambda: [wire_fault("clean link", seconds=audio_s)]]
    rows += [lambda b=b: [wire_fault(f"BER {b:.0e}", ber=b, seconds=audio_s)] for b in BER_LEVELS]  # type: ignore[misc]
    rows.append(lambda: [wire_fault("dropped bytes 1e-4", drop_bytes=1e-4, seconds=audio_s)])
    rows.append(lambda: decoder_faults(clean_stream(3.0 if quick else 10.0)))
    rows.append(lambda: [unplug()])
    rows.append(lambda: [host_stall(2.5 if quick else 5.0)])
    rows.append(lambda: [overrun()])
    rows.append(lambda: [slow_consumer(2.5 if quick else 10.0)])
    return rows


COLUMNS = ("fault", "sent", "delivered", "lost", "CRC err", "resyncs", "corrupted", "recovery", "ok")


def table(rows: list[FaultResult]) -> str:
    cells = [
        (
            r.fault,
            str(r.sent),
            str(r.delivered),
            str(r.lost),
            str(r.crc_errors),
            str(r.resyncs),
            str(r.corrupted),
            r.recovery,
            "yes" if r.passed else "NO",
        )
        for r in rows
    ]
    widths = [max(len(c[i]) for c in [COLUMNS, *cells]) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) if i in (0, 7) else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in [COLUMNS, *cells]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for r in rows:
        lines += [f"  FAILED {r.fault}: {name}" for name in r.failures]
    return "\n".join(lines)


def run(quick: bool = False, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Every fault scenario once; the `picomic bench` entry (see FIGURES) and the table's data."""
    rows: list[FaultResult] = []
    t0 = time.perf_counter()
    for thunk in scenarios(quick):
        got = thunk()
        rows += got
        if progress is not None:
            for r in got:
                progress(f"{r.fault}: {'ok' if r.passed else 'FAILED ' + ', '.join(r.failures)}")
    by = {r.fault: r for r in rows}
    unplug_row = next((r for r in rows if r.fault.startswith("unplug")), None)
    stall_row = next((r for r in rows if r.fault.startswith("host stall")), None)
    return {
        "quick": quick,
        "wall_s": round(time.perf_counter() - t0, 1),
        "rows": [r.to_json() for r in rows],
        "table": table(rows),
        "corrupted_delivered": sum(r.corrupted for r in rows),
        "failed_checks": sum(len(r.failures) for r in rows),
        "reconnect_ms": _num(unplug_row.recovery_ms if unplug_row else None),
        "stall_recovery_ms": _num(stall_row.recovery_ms if stall_row else None),
        "ber_1e-3_delivered_pct": _pct(by.get("BER 1e-03")),
    }


def _num(x: float | None) -> float:
    return math.nan if x is None else round(x, 1)


def _pct(r: FaultResult | None) -> float:
    return math.nan if r is None or not r.sent else round(100.0 * r.delivered / r.sent, 2)


def figures() -> tuple[Any, ...]:
    """Figures for a `picomic bench` Entry (imported lazily so this module does not need bench's report)."""
    from .report import Figure, Target

    return (
        Figure("corrupted_delivered", "corrupted frames delivered, all faults", "", Target("==", 0), "exact", digits=0),
        Figure(
            "failed_checks",
            "failed reliability checks (accounting, events, recording)",
            "",
            Target("==", 0),
            "exact",
            digits=0,
        ),
        Figure(
            "reconnect_ms",
            "unplug: port back → first audio (incl. 256 ms mic settle)",
            "ms",
            Target("<", 1000),
            digits=0,
        ),
        Figure("stall_recovery_ms", "host stall: reading again → first frame after the gap", "ms", digits=0),
        Figure("ber_1e-3_delivered_pct", "frames delivered at BER 1e-3 (10 ms frames)", "%", over="exact"),
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m picomic.benchmarks.faults", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI lengths (2.5 s stall and slow consumer, 5 s audio)")
    p.add_argument("--json", metavar="FILE", type=Path, help="write every row with its checks as JSON")
    args = p.parse_args(argv)
    out = run(args.quick, progress=lambda s: print(f"faults: {s}", file=sys.stderr, flush=True))
    print(out["table"])
    print(
        f"\n{len(out['rows'])} faults, {out['corrupted_delivered']} corrupted frames delivered, "
        f"{out['failed_checks']} failed checks, {out['wall_s']} s"
    )
    if args.json is not None:
        args.json.write_text(json.dumps(out, indent=1, default=str) + "\n")
    return 1 if out["failed_checks"] or out["corrupted_delivered"] else 0


if __name__ == "__main__":
    sys.exit(main())
