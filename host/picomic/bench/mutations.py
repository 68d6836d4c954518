"""Decoder-level faults: byte mutations of a clean stream captured once from the simulated board.

    clean_stream() -> CleanStream    the real firmware's bytes (fast mode, no faults), indexed frame by frame
    mutated(clean, name, edits)      apply (start, end, replacement) edits, decode in random chunks, check
    decoder_faults(clean)            the table's rows: bursts, dropped/inserted bytes, truncated frames,
                                     joining mid-frame

Every check is exact: precisely the untouched audio frames are delivered, none corrupted, resyncs equal the
damaged regions, lost_frames equals the gaps. Live (real-time, real pty) faults are in .faults.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from picomic.bench.faultkit import I16, Audio, FaultResult, board, capture, count_corrupted, random_pcm, write_wav
from picomic.stream.decoder import Decoder
from picomic.stream.protocol import HEADER, OVERHEAD, FrameType


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
