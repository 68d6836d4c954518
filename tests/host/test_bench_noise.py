"""The stage benchmark's noisy speech: deterministic noises of the right character, mixing at an exact SNR, a
speech set read from either manifest layout (the fixtures', the paused-speech set's), false starts counted
outside the speech only."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from picomic.bench import noise as bn
from picomic.bench.registry import ENTRIES
from picomic.bench.stages import CONFIGS, SNRS_DB, SPEECH_SET_ENV, false_starts, speech_set
from picomic.errors import ConfigError
from speech_support import FIXTURES


def _band_db(x: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / bn.RATE_HZ)
    return float(10 * np.log10(spectrum[(freqs >= low) & (freqs < high)].sum() / spectrum.sum()))


def test_noises_are_deterministic_unit_rms_and_shaped_like_their_names() -> None:
    voices = bn.load_speech_set(FIXTURES)
    n = bn.RATE_HZ * 4
    for kind in bn.NOISES:
        a, b = bn.noise(kind, n, 3, voices), bn.noise(kind, n, 3, voices)
        assert np.array_equal(a, b) and not np.array_equal(a, bn.noise(kind, n, 4, voices))
        assert np.sqrt(np.mean(a**2)) == pytest.approx(1.0)
    fan, white = bn.fan(n, 1), bn.white(n, 1)
    assert _band_db(fan, 0, 1000) > -1.0  # a fan's energy sits low
    assert _band_db(white, 0, 1000) == pytest.approx(10 * np.log10(1000 / 8000), abs=0.5)  # flat
    babble = bn.babble(n, 1, voices)
    assert _band_db(babble, 100, 4000) > -1.0  # speech band
    with pytest.raises(ConfigError, match="unknown noise 'hiss'"):
        bn.noise("hiss", n, 1, voices)


def test_mix_places_the_speech_between_noise_at_the_exact_snr() -> None:
    utt = bn.load_speech_set(FIXTURES, limit=1)[0]
    noise_unit = bn.white(bn.mixture_length(utt), 5)
    for snr in SNRS_DB:
        mixed, spans = bn.mix(utt, noise_unit, snr)
        lead = int(bn.LEAD_S * bn.RATE_HZ)
        assert len(mixed) == bn.mixture_length(utt) and spans[0][0] == utt.spans[0][0] + lead
        speech_rms = np.sqrt(np.mean(utt.active() ** 2))
        noise_rms = np.sqrt(np.mean(mixed[:lead].astype(np.float64) ** 2))
        assert 20 * np.log10(speech_rms / noise_rms) == pytest.approx(snr, abs=0.3)


def test_a_speech_set_in_the_paused_set_layout_is_read_and_its_noise_files_skipped(tmp_path: Path) -> None:
    pcm = (np.sin(np.arange(16000) / 5) * 3000).astype(np.int16)
    for name in ("p1.flac", "n1.flac"):
        sf.write(tmp_path / name, pcm, 16000)
    sentences = [{"text": "a b", "segments": [[100, 4000], [6000, 9000]]}, {"text": "c", "segments": [[12000, 15000]]}]
    files = [{"file": "p1.flac", "kind": "session", "text": "a b c", "sentences": sentences},
             {"file": "n1.flac", "kind": "noise", "text": ""}]  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
    (utt,) = bn.load_speech_set(tmp_path)
    assert (utt.name, utt.text, utt.spans) == ("p1", "a b c", ((100, 4000), (6000, 9000), (12000, 15000)))
    with pytest.raises(ConfigError, match="needs a manifest.json"):
        bn.load_speech_set(tmp_path / "missing")


def test_false_starts_are_starts_away_from_every_speech_span() -> None:
    spans = ((16000, 32000), (48000, 64000))
    assert false_starts([15000, 40000, 47000, 70000], spans) == 2  # 15000 and 47000 are within 0.3 s


def test_the_stage_bench_is_registered_with_its_targets() -> None:
    entry = next(e for e in ENTRIES if e.name == "stages")
    ids = {f.id for f in entry.figures}
    assert {f"wer_{name}_{snr}db_pct" for name, _ in CONFIGS for snr in SNRS_DB} <= ids
    targets = {f.id: f.target for f in entry.figures if f.target is not None}
    assert set(targets) == {"webrtc_gain_5db_pt", "webrtc_gain_0db_pt", "webrtc_cost_20db_pt",
                            "eos_ns_minus_off_p50_ms"}  # fmt: skip


def test_the_entry_hears_the_paused_speech_set_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SPEECH_SET_ENV, raising=False)
    assert speech_set().resolve() == (FIXTURES / "speechset").resolve()  # the set issue 19 names
    monkeypatch.setenv(SPEECH_SET_ENV, str(FIXTURES))
    assert speech_set() == FIXTURES
