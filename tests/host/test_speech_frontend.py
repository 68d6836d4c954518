"""speech/frontend.py: short gaps bridged with silence, real discontinuities restart the 16 kHz timeline."""

from __future__ import annotations

import numpy as np
from picomic.bus.audiobus import DEFAULT_MAX_GAP_S, AudioChunk
from picomic.speech.frontend import Frontend16k, bridge_gap


def _chunk(stream_sample: int, n: int = 320, rate_hz: int = 16000, epoch: int = 0, segment: int = 0) -> AudioChunk:
    samples = np.full(n, 1000, np.int16)
    samples.flags.writeable = False
    return AudioChunk(0, 0.0, rate_hz, samples, stream_sample=stream_sample, epoch=epoch, segment=segment)


def test_bridge_gap_bridges_gaps_up_to_the_recorders_bound_only() -> None:
    limit = int(DEFAULT_MAX_GAP_S * 16000)  # the same bound as the recorder's (DECISIONS 32)
    assert bridge_gap(None, 16000, _chunk(0)) is None
    assert bridge_gap((0, 0, 320), 16000, _chunk(320)) == 0
    assert bridge_gap((0, 0, 320), 16000, _chunk(320 + limit)) == limit
    assert bridge_gap((0, 0, 320), 16000, _chunk(321 + limit)) is None
    assert bridge_gap((0, 0, 320), 16000, _chunk(320 + 3200), max_gap_s=0.1) is None
    assert bridge_gap((0, 0, 320), 16000, _chunk(0)) is None  # a step back
    assert bridge_gap((0, 0, 320), 16000, _chunk(320, epoch=1)) is None
    assert bridge_gap((0, 0, 320), 16000, _chunk(320, segment=1)) is None  # a new segment: the router's call
    assert bridge_gap((0, 0, 320), 48000, _chunk(320)) is None


def test_first_chunk_restarts_without_tail_and_contiguous_chunks_pass_through() -> None:
    fe = Frontend16k()
    chunk = _chunk(1600)
    first = fe.feed(chunk)
    assert first.restart and first.tail is None and first.start16 == 1600
    assert len(first.blocks) == 1 and first.blocks[0] is chunk.float32()  # the shared float32, no copy
    nxt = fe.feed(_chunk(1920))
    assert not nxt.restart and nxt.start16 == 1920 and len(nxt.blocks) == 1


def test_short_gap_comes_as_silence_before_the_chunk() -> None:
    fe = Frontend16k()
    fe.feed(_chunk(0))
    step = fe.feed(_chunk(320 + 160))
    assert not step.restart
    silence, audio = step.blocks
    assert len(silence) == 160 and not silence.any()
    np.testing.assert_array_equal(audio, np.full(320, 1000 / 32768, np.float32))


def test_rate_change_restarts_with_the_old_resamplers_tail() -> None:
    fe = Frontend16k()
    fe.feed(_chunk(0, n=960, rate_hz=48000))
    assert fe.rate_hz == 48000
    step = fe.feed(_chunk(320, rate_hz=16000))
    assert step.restart and step.tail is not None and step.start16 == 320
    assert fe.rate_hz == 16000
    assert len(fe.flush()) == 0  # identity at 16 kHz holds nothing back
