"""The stage processors with the real libraries: WebRTC noise suppression lowers the noise of a noisy fixture and
keeps the speech, WebRTC auto gain moves the level toward its target, RNNoise suppresses, the high-pass removes DC."""

from __future__ import annotations

import numpy as np
import pytest
from picomic.errors import ConfigError
from picomic.stages.chain import StageSettings, build_processors, process_signal
from picomic.stages.processors import Highpass, Rnnoise, WebRtc
from speech_support import entry, load_pcm, white_noise


def db(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) / 32768.0 + 1e-12))


def noisy_fixture(snr_db: float) -> tuple[np.ndarray, np.ndarray, slice]:
    """utt1 with 2 s of white noise before it, at `snr_db` against the speech: (noisy, noise, speech span)."""
    speech = load_pcm("utt1")
    e = entry("utt1")
    lead = np.zeros(32000, np.int16)
    clean = np.concatenate([lead, speech])
    active = speech[e["speech_start_sample"] : e["speech_end_sample"]]
    noise = white_noise(len(clean) / 16000, 1.0, seed=11).astype(np.float64)
    noise *= 10 ** ((db(active) - snr_db) / 20) * 32768 / np.sqrt(np.mean(noise**2))
    noisy = np.clip(clean + noise, -32768, 32767).astype(np.int16)
    span = slice(32000 + e["speech_start_sample"], 32000 + e["speech_end_sample"])
    return noisy, clean, span


@pytest.mark.parametrize("make", [lambda: WebRtc(noise_suppression=2), Rnnoise], ids=["webrtc", "rnnoise"])
def test_noise_suppression_lowers_the_noise_and_keeps_the_speech(make) -> None:  # type: ignore[no-untyped-def]
    noisy, clean, span = noisy_fixture(snr_db=10)
    out = process_signal([make()], noisy, 16000)
    noise_only = slice(16000, 32000)  # the second half of the lead: the suppressor has adapted
    assert db(out[noise_only]) < db(noisy[noise_only]) - 10  # at least 10 dB less noise
    assert db(out[span]) > db(clean[span]) - 6  # the speech stays within 6 dB
    snr_before = db(noisy[span]) - db(noisy[noise_only])
    assert db(out[span]) - db(out[noise_only]) > snr_before + 8  # speech over noise: 8 dB better at least


def test_auto_gain_moves_a_quiet_talker_toward_its_target() -> None:
    speech = load_pcm("utt2")
    e = entry("utt2")
    quiet = (speech.astype(np.float64) * 10 ** (-20 / 20)).astype(np.int16)  # 20 dB quieter
    active = slice(e["speech_start_sample"], e["speech_end_sample"])
    target = -12.0
    loud = np.tile(quiet, 3)  # AGC adapts over a few seconds
    out = process_signal([WebRtc(auto_gain_dbfs=12)], loud, 16000)
    last = slice(2 * len(quiet) + active.start, 2 * len(quiet) + active.stop)
    before, after = db(loud[last]), db(out[last])
    assert after > before + 6
    assert abs(after - target) < abs(before - target) - 6


def test_highpass_removes_dc_and_keeps_the_voice_band() -> None:
    t = np.arange(16000 * 2) / 16000
    tone = np.sin(2 * np.pi * 440 * t) * 6000
    pcm = (tone + 0.1 * 32768).astype(np.int16)  # 10 % DC offset
    out = process_signal([Highpass(80)], pcm, 16000).astype(np.float64)
    tail = slice(16000, 32000)
    assert abs(out[tail].mean()) < 0.001 * 32768
    assert abs(db(out[tail]) - db(tone[tail])) < 0.5


def test_settings_choose_the_chain_and_bad_values_say_which_setting() -> None:
    chain = build_processors(StageSettings(highpass_hz=60, noise_suppression=3, auto_gain_dbfs=20))
    assert [p.name for p in chain] == ["highpass", "webrtc"]
    assert chain[1].describe() == "WebRTC noise suppression 3, auto gain -20 dBFS"
    chain = build_processors(StageSettings(noise_suppression=1, denoiser="rnnoise", auto_gain_dbfs=20))
    assert [p.name for p in chain] == ["rnnoise", "webrtc"] and chain[1].delay_samples == 0
    assert build_processors(StageSettings()) == []
    with pytest.raises(ConfigError) as info:
        WebRtc(noise_suppression=5)
    assert info.value.settings == ("noise_suppression",)
    with pytest.raises(ConfigError, match="auto gain targets -N dBFS with N 0..31"):
        WebRtc(auto_gain_dbfs=40)
    with pytest.raises(ConfigError, match="high-pass cutoff"):
        Highpass(5)
