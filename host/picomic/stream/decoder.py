"""Incremental frame decoder: arbitrary byte chunks in, CRC-checked frames with unwrapped counters out.

The decoder never touches a port (like pyserial's `serial.threaded` protocols): feed it what was read.

Buffer invariant: `_buf[_pos:]` holds the bytes not yet consumed; `_buf[:_pos]` is dead and is deleted at
the end of every `feed` (bytearray deletes from the front in O(1) amortised), so the work per byte is
constant whatever the chunking, 1 byte at a time included.

Counting rules (exact, see the attribute docstrings):
- `resyncs` counts losses of sync: each time the decoder, while in sync, has to discard bytes (garbage
  between frames, a header that fails its check, a CRC failure). Consecutive discards while searching are
  one resync; `skipped_bytes` counts every byte discarded.
- `lost_frames` comes from sequence gaps only (DECISIONS 5), plus the tail an END frame reveals.
- Sequence arithmetic is serial-number arithmetic mod 2^30 with a half range of 2^29 (DECISIONS 39): an audio
  frame behind or equal to the last one (no FIRST flag) is a duplicate, late or replayed frame: dropped and
  counted in `duplicates`, never loss, never an epoch. Ahead by what the elapsed device time (`ts_us`)
  explains (or by at most LOSS_WITHOUT_CLOCK_S of audio) is loss; ahead by more is a `jump`: a discontinuity
  that adds nothing to `lost_frames` (the timeline advances by the elapsed device time only).
- Only a FIRST flag starts a new epoch (besides the first audio frame seen and the first one after an END or a
  START); the loss it reveals (seq > 0) is at most `MAX_EPOCH_START_LOSS` frames.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from picomic.stream.protocol import (
    CRC,
    FRAME_TYPES,
    HEADER,
    HEADER_SIZE,
    MAX_PAYLOAD,
    OVERHEAD,
    SYNC,
    VERSION,
    WRAP,
    WRAP_MASK,
    Flags,
    Frame,
    FrameType,
    header_check,
    header_error,
    version_mismatch,
)

_HALF_WRAP = WRAP // 2
_FIRST = int(Flags.FIRST)
_OVERRUN = int(Flags.I2S_OVERRUN)
_AUDIO = FrameType.AUDIO
_END = FrameType.END
_SYNC0 = SYNC[0]
_MAX_PLAUSIBLE_VERSION = 15  # a version byte above this is noise, not another protocol
LOSS_SLACK_FRAMES = 2
"""A seq step may exceed what the elapsed device time explains by this many frames and still be loss."""
LOSS_WITHOUT_CLOCK_S = 5.0
"""A seq step spanning at most this much audio is loss even when the device clock does not explain it (a
simulated board in fast mode makes audio faster than its clock runs); a longer one needs the clock."""
END_TAIL_SLACK_FRAMES = 64
"""An END may reveal this many lost tail frames beyond what its time explains (it is sent after queued audio)."""
MAX_EPOCH_START_LOSS = 65535
"""Frames an epoch's first frame may say were lost before it (the `dropped` field's range); more is a jump."""


@dataclass(frozen=True, slots=True, eq=False)
class DecodedFrame:
    """A frame that passed every check, with its counters unwrapped and placed on the stream timeline."""

    frame: Frame
    seq: int
    """Unwrapped sequence number within the epoch (END: audio frames the epoch had)."""
    ts_us: int
    """Unwrapped device microseconds (continuous across the decoder's life, may step at a device reset)."""
    epoch: int
    """1 for the first epoch this decoder saw, +1 at every FIRST flag (or sequence restart)."""
    stream_sample: int
    """AUDIO: index of the first sample on the stream timeline (gaps advance it); others: next sample."""
    lost_before: int = 0
    """Audio frames missing just before this one (a seq gap; for END the frames lost at the tail)."""
    new_epoch: bool = False
    """This AUDIO frame starts an epoch (a discontinuity, not a gap)."""
    jump: int = 0
    """AUDIO: sequence numbers skipped by a jump the device time does not explain (not counted as lost)."""

    @property
    def type(self) -> FrameType:
        return self.frame.type

    @property
    def flags(self) -> int:
        return self.frame.flags

    @property
    def payload(self) -> bytes:
        return self.frame.payload


class Decoder:
    """Feed bytes, get `DecodedFrame`s. Not thread-safe: one reader feeds it."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._in_sync = True
        self.bytes: int = 0
        """Bytes fed."""
        self.frames: int = 0
        """Valid frames of any type delivered."""
        self.audio_frames: int = 0
        self.crc_errors: int = 0
        """Frames whose header passed but CRC32 failed (never delivered)."""
        self.header_errors: int = 0
        """Candidate headers (sync marker found) rejected by hcheck or limits."""
        self.resyncs: int = 0
        """Losses of sync (see module docstring)."""
        self.skipped_bytes: int = 0
        """Bytes discarded while searching for a frame."""
        self.lost_frames: int = 0
        """Audio frames missing from sequence gaps (and the tail an END reveals)."""
        self.device_dropped: int = 0
        """Sum of the frames' `dropped` fields: frames the device ring dropped (why frames are lost)."""
        self.i2s_overruns: int = 0
        """AUDIO frames flagged I2S_OVERRUN."""
        self.epochs: int = 0
        """Epochs begun (FIRST flags, plus the first audio seen and the first after an END or START)."""
        self.duplicates: int = 0
        """Audio frames dropped because their seq was behind or equal to the last one (duplicate, late,
        replayed), with no FIRST flag."""
        self.jumps: int = 0
        """Forward sequence jumps larger than the elapsed device time explains (discontinuities, not loss)."""
        self.bytes_without_frame: int = 0
        """Bytes fed since the last valid frame: large values mean the port talks, but not picomic."""
        self._epoch_seq0 = 0  # unwrapped seq and timeline sample of the epoch's first seen frame
        self._epoch_sample0 = 0
        self._samples_per_frame = 0
        self._rate_hz = 16000  # the epoch's rate (END frames carry none)
        self._last_seq: int | None = None  # unwrapped seq of the last audio frame in this epoch
        self._last_raw_seq = 0
        self._last_raw_ts: int | None = None
        self._ts = 0
        self._last_audio_ts = 0  # unwrapped device µs of the last audio frame's first sample
        self.overrun_samples = 0
        """Samples lost to I2S overruns (from the device clock's jump), placed on the timeline as a gap."""
        self._timeline_end = 0  # stream sample just after the last audio frame
        self._pending_advance = 0
        self._epoch_ended = False  # an END closed the last epoch: its successor's frames 0.. are expected
        self._foreign_headers = 0  # headers in a row that passed hcheck with another plausible version

    def counters(self) -> dict[str, int]:
        """The counters PipelineStatus also has (same names), for syncing deltas into it."""
        return {
            "frames": self.frames,
            "bytes": self.bytes,
            "crc_errors": self.crc_errors,
            "resyncs": self.resyncs,
            "lost_frames": self.lost_frames,
            "device_dropped": self.device_dropped,
            "i2s_overruns": self.i2s_overruns,
            "epochs": self.epochs,
            "duplicates": self.duplicates,
        }

    @property
    def buffered(self) -> int:
        """Bytes held while waiting for the rest of a frame (at most one frame)."""
        return len(self._buf) - self._pos

    @property
    def timeline_end(self) -> int:
        """Stream sample just after the last audio frame delivered."""
        return self._timeline_end

    def advance_timeline(self, samples: int) -> None:
        """Advance the stream timeline by `samples` when the next epoch starts (a lost span measured in
        host time, e.g. while the board was unplugged), so stream time keeps pace with real time. Replaces
        an advance not applied yet (safe to call again when a reconnect attempt failed)."""
        if samples < 0:
            raise ValueError("advance_timeline: samples must be >= 0")
        self._pending_advance = samples

    def expect_epoch(self) -> None:
        """The host is sending START: the next audio frame belongs to a new epoch counted from seq 0, so the
        frames missing before it (lost on the wire, or dropped by the device) count as lost and keep their
        place on the timeline."""
        self._last_seq = None
        self._epoch_ended = True

    def reset_buffer(self) -> None:
        """Drop buffered partial bytes (after the link was reopened); counters and timeline are kept."""
        self.skipped_bytes += len(self._buf) - self._pos
        self._buf.clear()
        self._pos = 0
        self._in_sync = True

    def feed(self, data: bytes | bytearray | memoryview) -> list[DecodedFrame]:
        """Consume `data` (any length, 1 byte is fine) and return the frames it completed.

        Raises FrameError on a protocol version mismatch (only for a header whose check passed)."""
        n = len(data)
        self.bytes += n
        self.bytes_without_frame += n
        buf = self._buf
        buf += data
        out: list[DecodedFrame] = []
        try:
            self._scan(buf, out)
        finally:
            if self._pos:
                del buf[: self._pos]
                self._pos = 0
        return out

    def _lose_sync(self, skip: int) -> None:
        self.skipped_bytes += skip
        self._pos += skip
        if self._in_sync:
            self._in_sync = False
            self.resyncs += 1

    def _scan(self, buf: bytearray, out: list[DecodedFrame]) -> None:
        end = len(buf)
        while True:
            pos = self._pos
            if end - pos < 2:
                if end - pos == 1 and buf[pos] != _SYNC0:
                    self._lose_sync(1)
                return
            if buf[pos] != 0xA5 or buf[pos + 1] != 0x5A:
                idx = buf.find(SYNC, pos)
                if idx < 0:
                    idx = end - 1 if buf[end - 1] == _SYNC0 else end
                self._lose_sync(idx - pos)
                continue
            if end - pos < HEADER_SIZE:
                return
            _, version, ftype, seq, ts, rate, samples, length, dropped, flags, hcheck = HEADER.unpack_from(buf, pos)
            if hcheck != header_check(buf, pos):
                self.header_errors += 1
                self._lose_sync(1)
                continue
            if version != VERSION and 0 < version <= _MAX_PLAUSIBLE_VERSION:
                # Noise can make a header pass its 8-bit check with another version byte: only a whole frame
                # with a good CRC, or 3 such headers in a row with no v1 frame between, prove a mismatch.
                if length <= MAX_PAYLOAD and end - pos < OVERHEAD + length:
                    return
                self._foreign_headers += 1
                if self._foreign_headers >= 3 or (
                    length <= MAX_PAYLOAD and _checked_payload(buf, pos, length) is not None
                ):
                    raise version_mismatch(version)
            if version != VERSION or header_error(ftype, rate, samples, length, dropped, flags):
                self.header_errors += 1
                self._lose_sync(1)
                continue
            total = OVERHEAD + length
            if end - pos < total:
                return
            payload = _checked_payload(buf, pos, length)
            self._foreign_headers = 0  # a v1 header that passed every check: evidence of protocol 1
            if payload is None:
                self.crc_errors += 1
                self._lose_sync(2)
                continue
            self._pos = pos + total
            self._in_sync = True
            self.bytes_without_frame = end - self._pos
            frame = Frame(FRAME_TYPES[ftype], seq, ts, rate, samples, dropped, flags, payload)
            placed = self._place(frame)
            if placed is not None:
                out.append(placed)

    def _seq_step(self, raw: int) -> int:
        """Forward distance (mod 2^30) from the last audio frame's masked seq to `raw`."""
        return (raw - self._last_raw_seq) & WRAP_MASK

    def _unwrap_ts(self, raw: int) -> int:
        if self._last_raw_ts is None:
            self._ts = raw
        else:
            step = (raw - self._last_raw_ts) & WRAP_MASK
            self._ts += step - WRAP if step >= _HALF_WRAP else step
        self._last_raw_ts = raw
        return self._ts

    def _place(self, frame: Frame) -> DecodedFrame | None:
        """Unwrap counters and put `frame` on the stream timeline; update the counters. None: a duplicate."""
        if frame.type is not _AUDIO:
            self.frames += 1
            return self._place_reply(frame, self._unwrap_ts(frame.ts_us))
        raw = frame.seq
        last = self._last_seq
        step = self._seq_step(raw)
        first = frame.flags & _FIRST
        if last is not None and not first and (step == 0 or step >= _HALF_WRAP):
            self.duplicates += 1  # behind or equal: duplicate, late or replayed (DECISIONS 39)
            return None
        self.frames += 1
        self.audio_frames += 1
        self.device_dropped += frame.dropped
        if frame.flags & _OVERRUN:
            self.i2s_overruns += 1
        ts = self._unwrap_ts(frame.ts_us)
        if first:  # seq > 0: the device ring dropped the epoch's first frames
            return self._start_epoch(frame, ts, raw, lost=raw)
        if last is None:  # first audio ever (join mid-stream: unknown loss) or after an END (0..raw-1 lost)
            return self._start_epoch(frame, ts, raw, lost=raw if self._epoch_ended else 0)
        if step > self._loss_limit(ts, frame.rate_hz):
            return self._jump(frame, ts, last + step, step)
        seq = last + step
        lost = step - 1
        self.lost_frames += lost
        self._last_seq = seq
        self._last_raw_seq = raw
        if frame.flags & _OVERRUN:
            self._epoch_sample0 += self._overrun_hole(frame, ts, step)
        self._last_audio_ts = ts
        sample = self._epoch_sample0 + (seq - self._epoch_seq0) * self._samples_per_frame
        self._timeline_end = sample + frame.sample_count
        return DecodedFrame(frame, seq, ts, self.epochs, sample, lost)

    def _place_reply(self, frame: Frame, ts: int) -> DecodedFrame:
        """INFO/STATUS/END: the next audio seq; an END also reveals the frames lost at the epoch's tail."""
        lost = 0
        seq = self._next_seq(frame.seq)
        if frame.type is _END and self._last_seq is not None:
            step = self._seq_step(frame.seq)  # END seq = audio frames of the epoch
            explained = self._explained_steps(ts, self._rate_hz) + END_TAIL_SLACK_FRAMES
            lost = step - 1 if 0 < step < _HALF_WRAP and step - 1 <= explained else 0
            self.lost_frames += lost
            self._timeline_end += lost * self._samples_per_frame
            self._last_seq = None  # the epoch is over: the next audio frame starts a new one
            self._epoch_ended = True
        return DecodedFrame(frame, seq, ts, self.epochs, self._timeline_end, lost)

    def _loss_limit(self, ts: int, rate_hz: int) -> int:
        """The largest seq step that is still loss (larger: a jump)."""
        unclocked = int(LOSS_WITHOUT_CLOCK_S * rate_hz) // max(1, self._samples_per_frame)
        return 1 + max(unclocked, self._explained_steps(ts, rate_hz) + LOSS_SLACK_FRAMES)

    def _explained_steps(self, ts: int, rate_hz: int) -> int:
        """Sequence steps beyond one that the device time elapsed since the last audio frame explains."""
        frame_us = self._samples_per_frame * 1_000_000 // max(1, rate_hz)
        if frame_us <= 0:
            return 0
        return max(0, (ts - self._last_audio_ts) // frame_us - 1)

    def _jump(self, frame: Frame, ts: int, seq: int, step: int) -> DecodedFrame:
        """A forward jump the device time does not explain: no loss; the timeline advances by the device
        time elapsed beyond one frame (0 when the clock did not move) and the epoch is re-based here."""
        self.jumps += 1
        rate = frame.rate_hz
        elapsed_us = ts - self._last_audio_ts - self._samples_per_frame * 1_000_000 // rate
        sample = self._timeline_end + max(0, elapsed_us * rate // 1_000_000)
        self._epoch_seq0, self._epoch_sample0 = seq, sample
        self._last_seq = seq
        self._last_raw_seq = frame.seq
        self._last_audio_ts = ts
        self._timeline_end = sample + frame.sample_count
        return DecodedFrame(frame, seq, ts, self.epochs, sample, 0, jump=step - 1)

    def _overrun_hole(self, frame: Frame, ts: int, step: int) -> int:
        """Samples an I2S overrun lost before capture (no seq was skipped; the device clock jumped ahead):
        the timeline makes room for them so stream time keeps pace with the device's clock."""
        expected = self._last_audio_ts + step * self._samples_per_frame * 1_000_000 // frame.rate_hz
        hole = (ts - expected) * frame.rate_hz // 1_000_000
        if hole <= 0:
            return 0
        self.overrun_samples += hole
        return hole

    def _next_seq(self, raw: int) -> int:
        """Unwrap a non-audio frame's seq (the next audio seq number) against the current epoch."""
        if self._last_seq is None:
            return raw
        return self._last_seq + self._seq_step(raw)

    def _start_epoch(self, frame: Frame, ts: int, seq: int, lost: int) -> DecodedFrame:
        """A new epoch: FIRST flag, the first audio frame seen, or the first after an END or START. `lost` =
        frames of the new epoch known missing before this one (its seq counts from 0 then), at most
        MAX_EPOCH_START_LOSS (a larger seq is a jump: the rest is not loss)."""
        lost = min(lost, MAX_EPOCH_START_LOSS)
        self.epochs += 1
        self._rate_hz = frame.rate_hz
        self.lost_frames += lost
        self._epoch_ended = False
        self._samples_per_frame = frame.sample_count
        base = self._timeline_end + self._pending_advance
        self._pending_advance = 0
        self._epoch_seq0 = seq - lost
        self._epoch_sample0 = base
        sample = base + (seq - self._epoch_seq0) * frame.sample_count
        self._last_seq = seq
        self._last_raw_seq = seq
        self._last_audio_ts = ts
        self._timeline_end = sample + frame.sample_count
        return DecodedFrame(frame, seq, ts, self.epochs, sample, lost, new_epoch=True)


def _checked_payload(buf: bytearray, pos: int, length: int) -> bytes | None:
    """The payload of the whole frame at `pos` (its header already checked) if its CRC32 matches, else None."""
    body_end = pos + HEADER_SIZE + length
    with memoryview(buf) as view:
        if zlib.crc32(view[pos + 2 : body_end]) != CRC.unpack_from(buf, body_end)[0]:
            return None
        return bytes(view[pos + HEADER_SIZE : body_end])
