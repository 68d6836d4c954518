"""`picomic listen` with voice front-end stages, as a user runs it: the simulated board, real files, real models."""

from __future__ import annotations

from pathlib import Path

import jiwer
import numpy as np
import soundfile as sf
from test_cli import FIXTURES, events, fixture_text, run, words


def _noisy(tmp_path: Path) -> tuple[Path, np.ndarray]:
    speech, rate = sf.read(FIXTURES / "utt2_lights.flac", dtype="int16")
    noise = np.random.default_rng(5).standard_normal(len(speech) + 16000) * 600
    pcm = np.clip(np.concatenate([np.zeros(16000), speech]) + noise, -32768, 32767).astype(np.int16)
    path = tmp_path / "noisy.wav"
    sf.write(path, pcm, rate, subtype="PCM_16")
    return path, pcm


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)))


def test_listen_with_noise_suppression_records_raw_or_processed_and_transcribes_the_processed(tmp_path: Path) -> None:
    src, pcm = _noisy(tmp_path)
    raw_out, ns_out = tmp_path / "raw.wav", tmp_path / "ns.wav"
    common = ["listen", "--sim", str(src), "--json", "--fast", "--noise-suppression", "3"]
    proc = run(*common, "--record", str(raw_out))
    assert proc.returncode == 0, proc.stderr
    evs = events(proc.stdout)
    finals = [e for e in evs if e["type"] == "transcript" and e["final"]]
    # the processed stream is what STT heard: its one final is the sentence, within one word (tiny.en hears
    # "front floor" for "front door" in the suppressed audio with faster-whisper 1.2.1 / CTranslate2 4.8.5)
    assert len(finals) == 1
    assert jiwer.process_words(" ".join(words(fixture_text("utt2_lights.flac"))),
                               " ".join(words(str(finals[0]["text"])))).wer <= 1 / 11  # fmt: skip
    last = evs[-1]
    assert last["type"] == "status"
    assert last["listeners"]["vad"]["stream"] == "webrtc" and last["listeners"]["stt"]["stream"] == "webrtc"
    assert last["listeners"]["recorder"]["stream"] == "raw"
    stream = last["streams"]["webrtc"]
    assert stream["state"] == "ended" and stream["input_dropped"] == 0 and stream["source"] == "raw"
    raw, rate = sf.read(raw_out, dtype="int16")
    assert rate == 16000 and np.array_equal(raw, pcm)  # --record stays raw unless asked

    proc = run(*common, "--no-stt", "--record", str(ns_out), "--record-stream", "webrtc")
    assert proc.returncode == 0, proc.stderr
    ns, rate = sf.read(ns_out, dtype="int16")
    assert rate == 16000 and len(ns) == len(pcm)
    lead = slice(8000, 16000)  # noise only, after the suppressor adapted
    assert _rms(ns[lead]) < _rms(pcm[lead]) / 4


def test_a_stream_that_is_not_on_is_a_one_line_error() -> None:
    proc = run("listen", "--sim", "--json", "--record-stream", "webrtc", "--record", "/tmp/x.wav", "--no-stt")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "picomic: --record-stream webrtc: that stage is not on; the streams here are raw"
    ]
    proc = run("listen", "--sim", "--noise-suppression", "7")
    assert proc.returncode == 2 and "--noise-suppression: must be 0..4 (0: off), got 7" in proc.stderr


def test_doctor_reports_the_noise_floor_before_and_after_the_stages() -> None:
    import json

    proc = run("doctor", "--sim", "--seconds", "2", "--noise-suppression", "3", "--highpass", "80", "--json")
    assert proc.returncode == 0, proc.stderr
    m = json.loads(proc.stdout)["measurements"]
    assert m["stages"] == "high-pass 80 Hz → WebRTC noise suppression 3"
    assert m["noise_floor_change_db"] < -10
    assert abs(m["noise_floor_after_dbfs"] - (m["noise_floor_dbfs"] + m["noise_floor_change_db"])) <= 0.2
    text = run("doctor", "--sim", "--seconds", "2", "--noise-suppression", "3")
    assert "stages WebRTC noise suppression 3: noise floor" in text.stdout


def test_the_plain_view_says_which_stream_its_meter_shows(tmp_path: Path) -> None:
    src, _ = _noisy(tmp_path)
    proc = run("listen", "--sim", str(src), "--fast", "--no-stt", "--auto-gain", "20")
    assert proc.returncode == 0, proc.stderr
    assert "level (webrtc)" in proc.stdout
    proc = run("listen", "--sim", str(src), "--fast", "--no-stt", "--auto-gain", "20", "--meter-stream", "raw")
    assert proc.returncode == 0 and "level (webrtc)" not in proc.stdout and "level " in proc.stdout
