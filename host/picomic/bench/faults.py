"""Reliability under faults: the simulated board (real firmware, real pty) with injected faults, one table.

Every scenario streams a full-range pseudo-random signal (every bit matters), so a delivered chunk is checked
sample for sample against the source at its stream position (seq × frame samples): `corrupted` counts chunks
that differ and must be 0. `sent` comes from sequence numbers (the END frame's seq, or the source length
when the END itself was destroyed), and `delivered + lost == sent` is checked exactly.

    picomic bench --faults                 # full lengths (5 s host stall, 10 s slow consumer)
    picomic bench --faults --quick         # CI lengths; --json FILE for the raw numbers

`run(quick) -> dict` is the `picomic bench` entry (figures: FIGURES); tests/reliability asserts the same
checks on the same scenario functions. This module holds the live scenarios (wire faults through the relay,
unplug, host stall, I2S overrun, slow consumer) and the table; the wire-level decoder scenarios (bursts,
dropped/inserted bytes, truncated frames, joining mid-frame) are in .mutations, the shared harness in
.faultkit.
"""

from __future__ import annotations

import math
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from picomic.bench.faultkit import (
    I16,
    RATE_HZ,
    SPF,
    Audio,
    Collector,
    FaultResult,
    account,
    board,
    capture,
    count_corrupted,
    find,
    finish,
    frames_in,
    live_source,
    locate,
    random_pcm,
    signal_ended,
    write_wav,
)
from picomic.bench.mutations import clean_stream, decoder_faults
from picomic.bus.audiobus import AudioChunk
from picomic.bus.events import Discontinuity, StreamEnd
from picomic.outputs.recorder import AudioFile
from picomic.stream.protocol import Flags

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
        cap = capture(sim.port, 30.0 + seconds, until=signal_ended(sim))
        r.check("board read the whole signal", sim.wait_signal_end(0))
    sent = frames_in(pcm)
    account(r, cap, sent)
    r.corrupted = count_corrupted(cap.audio, pcm)
    r.check("zero corrupted frames delivered", r.corrupted == 0)
    r.check("no device drops (fast mode)", cap.decoder.device_dropped == 0)
    if ber == 0 and drop_bytes == 0:
        r.check("clean link: everything delivered", r.delivered == sent and r.crc_errors == 0 and r.resyncs == 0)
    else:
        r.check("losses were detected", r.lost == 0 or r.crc_errors + r.resyncs > 0)
    r.details.update(ber=ber, drop_bytes=drop_bytes, seconds=seconds)
    return r


# --------------------------------------------------------------------------- live faults, SerialSource


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
    account(r, cap, frames_in(pcm))
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


def _spliced_frames(chunks: list[AudioChunk], pcm: I16, jumps: list[tuple[int, int]]) -> int:
    """1 when the chunk just before the (single) jump is the source up to some sample, then the source after
    the hole: the frame the hole starts inside. Else 0."""
    if len(jumps) != 1 or jumps[0][0] < 1:
        return 0
    j, hole = jumps[0]
    first = np.asarray(chunks[0].samples)
    at0 = find(pcm, first)
    if at0 is None:
        return 0
    c = chunks[j - 1]
    s = np.asarray(c.samples)
    pos = at0 - chunks[0].seq * SPF + c.seq * SPF
    if np.array_equal(pcm[pos : pos + len(s)], s):
        return 0
    for k in range(1, len(s)):
        after = pcm[pos + k + hole : pos + hole + len(s)]
        if np.array_equal(s[:k], pcm[pos : pos + k]) and np.array_equal(s[k:], after):
            return 1
    return 0


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
    # rp2's 20,000-byte buffer (2,496 frames in whole DMA blocks) is not a whole number of frames, so the hole
    # usually starts inside a frame: that one frame holds the audio before the hole, then the audio after it.
    # It is the device's (and rp2's) data, not corruption; anything else found nowhere is.
    spliced = _spliced_frames(chunks, pcm, jumps)
    r.corrupted -= spliced
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
    shift = chunks[-1].stream_sample - chunks[-1].seq * SPF if chunks else 0  # room the timeline made for the hole
    r.check("the stream timeline makes room for the lost 100 ms (±1 frame)", abs(shift - 1600) <= SPF)
    r.recovery = f"flag at {flagged[0].start_s:.2f} s" if flagged else "—"
    hole = chunks[jumps[0][0]].start_s if jumps else None
    r.check("at most one frame holds the hole's two sides", spliced <= 1)
    r.details.update(
        spliced_frames=spliced,
        overrun_at_s=at_s,
        device_dropped=st["device_dropped"],
        hole_at_stream_s=hole,
        hole_samples=jumps[0][1] if jumps else None,
        timeline_shift_samples=shift,
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
    from picomic.bench.report import Figure, Target

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
