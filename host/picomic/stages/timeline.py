"""A stage's input: bus chunks as 10 ms blocks of 16 kHz int16 on the source's timeline, with the metadata each
derived chunk keeps (DECISIONS 43).

`Reblocker` reads chunks through the speech front end (`Frontend16k`: any rate to 16 kHz, gaps up to the bound
bridged with silence, discontinuities reported) and cuts the 16 kHz stream into `BLOCK_SAMPLES` blocks. Each
block remembers where it lies (`position`, 16 kHz samples since START) and the source chunk that holds its
first sample (`Anchor`): a derived chunk takes that chunk's `seq`, `epoch`, `segment` and flags, and its capture
time (`ts_ms`) and device clock advanced by the block's offset into it. With the default 16 kHz 10 ms frames
a block is exactly one source chunk. A block wholly inside a bridged gap has no anchor: it is processed (the
processor's state runs on through the silence) but never published, so the derived stream has the same gap.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from picomic.audio.pcm import I16
from picomic.audio.resample import TARGET_RATE_HZ
from picomic.bus.audiobus import AudioChunk
from picomic.speech.frontend import Frontend16k
from picomic.stages.processors import BLOCK_SAMPLES, to_i16
from picomic.stream.protocol import Flags

_FORMAT_FLAGS = int(Flags.WIDTH32 | Flags.STEREO)  # a derived chunk is always int16 mono


@dataclass(frozen=True, slots=True)
class Anchor:
    """Where one source chunk lies on the 16 kHz timeline."""

    start16: int
    end16: int
    chunk: AudioChunk


@dataclass(slots=True)
class Block:
    """One 10 ms input block of a stage."""

    position: int
    """16 kHz timeline position of its first sample."""
    samples: I16
    anchor: Anchor | None
    """The source chunk holding its first real sample; None inside a bridged gap (never published)."""
    length: int = BLOCK_SAMPLES
    """Real samples (the last block before a discontinuity is padded with zeros up to BLOCK_SAMPLES)."""

    def derived(self, samples: I16) -> AudioChunk:
        """The derived chunk carrying `samples` (the processed block) at this block's place and times."""
        assert self.anchor is not None
        a = self.anchor
        offset = self.position - a.start16
        samples = samples[: self.length]
        samples.flags.writeable = False
        return AudioChunk(
            seq=a.chunk.seq,
            ts_ms=a.chunk.ts_ms + offset * 1000.0 / TARGET_RATE_HZ,
            sample_rate=TARGET_RATE_HZ,
            samples=samples,
            stream_sample=self.position,
            epoch=a.chunk.epoch,
            flags=a.chunk.flags & ~_FORMAT_FLAGS,
            device_us=a.chunk.device_us + offset * 1_000_000 // TARGET_RATE_HZ,
            segment=a.chunk.segment,
        )


@dataclass(frozen=True, slots=True)
class Cut:
    """What one chunk gives a stage: a discontinuity to close first (`restart`), then whole blocks."""

    restart: bool
    closing: tuple[Block, ...]
    """Before a restart: the old stream's last blocks (the final one padded); empty otherwise."""
    blocks: tuple[Block, ...]


class Reblocker:
    """Source chunks in, 16 kHz 10 ms blocks out, positioned. Not thread-safe (the stage's thread)."""

    def __init__(self) -> None:
        self._frontend = Frontend16k()
        self._anchors: deque[Anchor] = deque()
        self._pending = np.zeros(0, np.float32)
        self._position = 0  # timeline position of self._pending[0]
        self._started = False

    def feed(self, chunk: AudioChunk) -> Cut:
        step = self._frontend.feed(chunk)
        closing: tuple[Block, ...] = ()
        if step.restart:
            if step.tail is not None:
                self._append(step.tail)
            closing = tuple(self._drain(final=True)) if self._started else ()
            self._anchors.clear()
            self._pending, self._position, self._started = np.zeros(0, np.float32), step.start16, True
        end16 = step.start16 + chunk.num_samples * TARGET_RATE_HZ // chunk.sample_rate
        self._anchors.append(Anchor(step.start16, end16, chunk))
        for part in step.blocks:
            self._append(part)
        return Cut(step.restart, closing, tuple(self._drain(final=False)))

    def finish(self) -> tuple[Block, ...]:
        """End of stream: what the resampler held and the last (padded) block."""
        if not self._started:
            return ()
        self._append(self._frontend.flush())
        return tuple(self._drain(final=True))

    def _append(self, part: np.ndarray) -> None:
        if len(part):
            self._pending = np.concatenate([self._pending, part]) if len(self._pending) else part

    def _drain(self, final: bool) -> Iterator[Block]:
        while len(self._pending) >= BLOCK_SAMPLES or (final and len(self._pending)):
            part = self._pending[:BLOCK_SAMPLES]
            self._pending = self._pending[BLOCK_SAMPLES:]
            length = len(part)
            samples = to_i16(part)
            if length < BLOCK_SAMPLES:
                samples = np.concatenate([samples, np.zeros(BLOCK_SAMPLES - length, np.int16)])
            yield Block(self._position, samples, self._anchor_for(self._position, length), length)
            self._position += length

    def _anchor_for(self, position: int, length: int) -> Anchor | None:
        """The chunk holding the first real sample of [position, position + length), or None (a gap)."""
        anchors = self._anchors
        while anchors and anchors[0].end16 <= position and len(anchors) > 1:
            anchors.popleft()
        for a in anchors:
            if a.end16 > position and a.start16 < position + length:
                return a
        return None
