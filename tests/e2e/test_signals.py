"""SIGNAL specs and the INMP441 word model (host side, no MicroPython)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from picomic.errors import ConfigError
from picomic.sim.mic import MicOptions, dma_bytes, i2s_stream, mic_words, parse_mic_fault
from picomic.sim.signals import FileSignal, Noise, Silence, Sine, StreamSignal, parse_signal
from picomic.stream.protocol import SETTLE_SAMPLES


def test_specs_parse():
    assert isinstance(parse_signal(None), Silence) and parse_signal(None).length(16000) is None
    s = parse_signal("sine:440:-6dBFS", duration_s=0.5)
    assert isinstance(s, Sine) and s.length(48000) == 24000
    assert np.abs(s.render(16000, 0, 16000)).max() == round(32767 * 10 ** (-6 / 20))
    assert isinstance(parse_signal("noise"), Noise)
    assert isinstance(parse_signal("-", stdin=io.BytesIO(b"")), StreamSignal)


@pytest.mark.parametrize("spec", ["sine:abc", "sine:440:loud", "noise:+3dBFS", "/no/such/file.wav"])
def test_bad_specs_are_config_errors(spec):
    with pytest.raises(ConfigError):
        parse_signal(spec)


def test_unreadable_file_names_the_path(tmp_path):
    bad = tmp_path / "junk.wav"
    bad.write_bytes(b"not audio at all" * 10)
    with pytest.raises(ConfigError, match="junk.wav"):
        parse_signal(str(bad))


def test_file_exact_at_its_rate_and_resampled_otherwise(tmp_path):
    pcm = (np.sin(np.arange(16000) * 2 * np.pi * 300 / 16000) * 10000).astype(np.int16)
    stereo = np.column_stack((pcm, pcm))
    soundfile.write(tmp_path / "m.wav", pcm, 16000, subtype="PCM_16")
    soundfile.write(tmp_path / "s.flac", stereo, 16000)
    mono = FileSignal(tmp_path / "m.wav")
    assert np.array_equal(mono.render(16000, 0, 16000), pcm)
    up = mono.render(48000, 0, 48000)
    assert abs(len(up) - 48000) <= 48 and np.abs(up[::3][1000:15000] - pcm[1000:15000]).max() < 200
    assert np.abs(FileSignal(tmp_path / "s.flac").render(16000, 0, 16000) - pcm).max() <= 1


def test_loop_and_stdin():
    looped = parse_signal("sine:1000", duration_s=None, loop=True)
    assert looped.length(16000) is None
    s = StreamSignal(io.BytesIO(np.arange(100, dtype="<i2").tobytes()))
    assert list(s.render(16000, 10, 5)) == [10, 11, 12, 13, 14]
    assert len(s.render(16000, 95, 10)) == 5
    with pytest.raises(ConfigError):
        parse_signal("-", loop=True, stdin=io.BytesIO())


def test_words_are_exact_with_junk_low_byte_and_faults():
    pcm = np.array([-32768, -1, 0, 1, 32767], np.int16)
    left, right = mic_words(pcm, 0, MicOptions())
    assert np.array_equal(left >> 16, pcm) and np.array_equal(left >> 8, pcm.astype(np.int32) << 8)
    assert set((left & 0xFF).tolist()) <= {0, 0xF8, 0xC0} and not right.any()
    assert not any(mic_words(pcm, 0, parse_mic_fault("stuck-low"))[0])
    assert (mic_words(pcm, 0, parse_mic_fault("stuck-high"))[0] == -1).all()
    wl, wr = mic_words(pcm, 0, parse_mic_fault("wrong-slot"))
    assert not wl.any() and np.array_equal(wr, left)
    dc = mic_words(np.zeros(4, np.int16), 0, parse_mic_fault("dc:0.5"))[0] >> 8
    assert (abs(dc - (1 << 22)) <= 1).all()
    clip = mic_words(np.array([8000, -8000], np.int16), 0, parse_mic_fault("clip"))[0] >> 8
    assert list(clip) == [(1 << 23) - 1, -(1 << 23)]
    with pytest.raises(ConfigError, match="stuck-low"):
        parse_mic_fault("broken")


def test_noise_floor_level():
    words = mic_words(np.zeros(48000, np.int16), 0, MicOptions(noise_dbfs=-87.0))[0] >> 8
    rms_dbfs = 20 * np.log10(np.sqrt(np.mean(words.astype(np.float64) ** 2)) / (1 << 23))
    assert rms_dbfs == pytest.approx(-87.0, abs=0.5)


def test_dma_layouts():
    left = np.array([0x12345678, -0x100], np.int32)
    right = np.array([0x0ABC0000, 0], np.int32)
    assert dma_bytes(left, right, 16, False) == bytes.fromhex("3412 ffff")
    assert dma_bytes(left, right, 16, True) == bytes.fromhex("3412 bc0a ffff 0000")
    assert dma_bytes(left, right, 32, False) == bytes.fromhex("78563412 00ffffff")


def test_stream_starts_with_exactly_4096_settle_frames():
    data = b"".join(i2s_stream(parse_signal("sine:440", duration_s=0.1), MicOptions(), 16000, 16, False, 0))
    assert len(data) == (SETTLE_SAMPLES + 1600) * 2
    body = np.frombuffer(data, "<i2")[SETTLE_SAMPLES:]
    assert np.array_equal(body, parse_signal("sine:440").render(16000, 0, 1600))
