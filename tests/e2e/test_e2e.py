"""End to end: signal → simulated I2S → the real firmware in real MicroPython → pty → host decoder."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile
from picomic.bus.events import Discontinuity, Event, StreamEnd
from picomic.link.source import SerialSource, StartSettings
from picomic.stream.protocol import Flags
from simhost import stream


def _ended(board) -> bool:
    return board.wait_signal_end(0) and board.drain(timeout=1.0, quiet_s=0.3)


@pytest.mark.parametrize("source", [False, True], ids=["mpy", "source"])
def test_wav_arrives_bit_exact(sim, wav16, source):
    path, pcm = wav16
    board = sim(str(path), fast=True, source=source)
    cap = stream(board.port, timeout_s=20, rate=16000)
    d = cap.decoder
    assert cap.end is not None and cap.end["reason"] == "signal_end", board.log()
    assert np.array_equal(cap.samples(), pcm)  # 16 → 24 (s16 << 8, junk low byte) → top 16 bits: exact
    assert cap.starts == list(range(0, len(pcm), 160))  # continuous seq, no gap
    assert (d.crc_errors, d.lost_frames, d.resyncs, d.device_dropped) == (0, 0, 0, 0)
    assert board.first_audio_s is not None and board.first_audio_s < 5.0
    assert board.wait_signal_end(2.0)


def test_48k_real_time_resampled_file_without_loss(sim, wav16):
    path, _ = wav16
    board = sim(str(path), duration_s=1.0)  # real-time pacing
    t0 = time.monotonic()
    cap = stream(board.port, timeout_s=10, rate=48000)
    took = time.monotonic() - t0
    assert cap.end is not None and cap.end["reason"] == "signal_end", board.log()
    assert len(cap.samples()) == 48000
    assert (cap.decoder.lost_frames, cap.decoder.i2s_overruns, cap.decoder.crc_errors) == (0, 0, 0)
    assert 1.0 + 4096 / 48000 - 0.05 < took < 3.0  # paced: about settle + 1 s


def test_bit_errors_are_counted_and_never_delivered(sim, wav16):
    path, pcm = wav16
    board = sim(str(path), fast=True, ber=1e-3, seed=5)
    cap = stream(board.port, timeout_s=20, until=lambda: _ended(board), rate=16000)
    d = cap.decoder
    # 1e-3 per bit and 2768 bits per 10 ms frame: about 6 % of the frames survive
    assert d.crc_errors > 100 and d.lost_frames > 100, d.counters()
    assert len(cap.pcm) >= 3
    for seq, chunk in zip(cap.seqs, cap.pcm, strict=True):  # by stream position: seq is assigned at capture
        assert np.array_equal(chunk, pcm[seq * 160 : seq * 160 + len(chunk)])


def test_dropped_bytes_resync(sim, wav16):
    path, pcm = wav16
    board = sim(str(path), fast=True, drop_bytes=2e-4, seed=9)
    cap = stream(board.port, timeout_s=20, until=lambda: _ended(board), rate=16000)
    assert cap.decoder.lost_frames > 0 and cap.decoder.resyncs > 0
    for seq, chunk in zip(cap.seqs, cap.pcm, strict=True):
        assert np.array_equal(chunk, pcm[seq * 160 : seq * 160 + len(chunk)])


def test_unplug_reconnects_with_exactly_one_discontinuity(sim):
    replugs: list[str] = []
    board = sim("sine:440", duration_s=2.5, unplug_at=1.0, on_replug=replugs.append)
    events: list[Event] = []
    src = SerialSource(board.port, settings=StartSettings(rate_hz=16000), emit=events.append)
    src.start()
    try:
        assert src.wait(15.0), board.log()
    finally:
        src.stop()
    kinds = [e for e in events if isinstance(e, Discontinuity)]
    assert len(kinds) == 1 and kinds[0].reason == "reconnect", events
    assert [e.reason for e in events if isinstance(e, StreamEnd)] == ["signal_end"]
    assert len(replugs) == 1 and replugs[0].startswith("/dev/pts/")
    assert src.status.snapshot()["reconnects"] == 1


def test_overrun_at_is_flagged_by_the_firmware(sim):
    board = sim("sine:440", duration_s=2.5, overrun_at=0.5)  # real time: the firmware's timing check sees it
    cap = stream(board.port, timeout_s=10, rate=16000)
    d = cap.decoder
    overrun = [s for s, f in zip(cap.seqs, cap.flags, strict=True) if f & Flags.I2S_OVERRUN]
    assert d.i2s_overruns == 1 and 45 <= overrun[0] <= 60, overrun
    # After the stall the firmware reads the 1 s backlog faster than the link drains: its ring may drop
    # frames, and every frame lost on the wire is one the device says it dropped.
    assert d.lost_frames == d.device_dropped and d.crc_errors == 0
    lost = 16000 * 5 // 2 - len(cap.samples()) - d.lost_frames * 160
    assert abs(lost - 1600) <= 64, lost  # ~100 ms never reached the firmware (16-frame DMA blocks)


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("stuck-low", lambda s, f: not s.any()),
        ("clip", lambda s, f: all(x & Flags.CLIPPED for x in f) and np.abs(s).max() == 32767),
        ("dc:0.25", lambda s, f: abs(s.mean() - 0.25 * 32767) < 200),
    ],
)
def test_mic_faults_reach_the_host(sim, fault, check):
    board = sim("sine:440:-12dBFS", fast=True, duration_s=0.3, mic_fault=fault)
    cap = stream(board.port, timeout_s=10, rate=16000)
    assert cap.end is not None and len(cap.samples()) == 4800
    assert check(cap.samples(), cap.flags)


def test_mpremote_after_ctrl_c_out_of_the_idle_loop(sim):
    board = sim(None, fast=True)
    mpremote = str(Path(sys.executable).parent / "mpremote")
    for expr, want in (("print(1+1)", "2"), ("import os; print('main.py' in os.listdir())", "True")):
        r = subprocess.run(
            [mpremote, "connect", board.port, "resume", "exec", expr], capture_output=True, text=True, timeout=20
        )
        assert r.returncode == 0 and r.stdout.strip() == want, (r.stdout, r.stderr, board.log())


def test_sim_command_prints_json_and_exits_at_signal_end(tmp_path, wav16):
    path, pcm = wav16
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import argparse, sys; from picomic.cli import sim;"
            "p = argparse.ArgumentParser(); sim.add_arguments(p); sys.exit(sim.run(p.parse_args()))",
            str(path),
            "--fast",
            "--json",
            "--seed",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["tty"].startswith("/dev/pts/") and ready["pid"] > 0
        cap = stream(ready["port"], timeout_s=20, rate=16000)
        assert np.array_equal(cap.samples(), pcm)
        assert proc.wait(10) == 0
        assert json.loads(proc.stdout.readline()) == {"event": "signal_end"}
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)


def test_board_keeps_running_when_the_host_stalls(sim):
    # Nobody reads for 4 s: the relay and pty fill, the board's writes come back short, its ring drops the
    # oldest frames; when the host reads again the stream goes on and the loss is counted, not hidden.
    board = sim("sine:440", duration_s=6.0)
    import serial
    from picomic.stream.decoder import Decoder
    from picomic.stream.protocol import encode_command

    with serial.Serial(board.port, timeout=0.05) as ser:
        ser.write(encode_command("START", rate=16000))
        stop = threading.Event()

        def ping() -> None:
            while not stop.wait(0.5):
                ser.write(encode_command("PING"))

        t = threading.Thread(target=ping, daemon=True)
        t.start()
        time.sleep(4.0)
        d = Decoder()
        end = None
        deadline = time.monotonic() + 10
        while end is None and time.monotonic() < deadline:
            for f in d.feed(ser.read(65536)):
                if f.type.name == "END":
                    end = f.frame.json()
        stop.set()
        t.join(2)
    assert end is not None and end["reason"] == "signal_end"
    assert d.lost_frames > 0 and d.device_dropped > 0 and d.crc_errors == 0
    assert board.exited is None


def test_fast_mode_sustains_10x_real_time_at_16k(sim, tmp_path):
    pcm = np.random.default_rng(3).integers(-30000, 30000, 16000 * 10).astype(np.int16)
    soundfile.write(tmp_path / "ten.wav", pcm, 16000, subtype="PCM_16")
    board = sim(str(tmp_path / "ten.wav"), fast=True)
    t0 = time.monotonic()
    cap = stream(board.port, timeout_s=20, rate=16000)
    took = time.monotonic() - t0
    assert np.array_equal(cap.samples(), pcm)
    assert 10.0 / took >= 10.0, f"only {10.0 / took:.1f}x real time"


def test_24_bit_mode_gets_the_injected_24_bit_sample(sim, wav16):
    path, pcm = wav16
    board = sim(str(path), fast=True, duration_s=0.5)
    cap = stream(board.port, timeout_s=10, rate=16000, bits=24)
    assert cap.end is not None and cap.samples().dtype == np.int32
    assert np.array_equal(cap.samples(), pcm[:8000].astype(np.int32) << 8)


def test_stdin_pcm_signal_at_the_requested_rate(sim):
    import io

    pcm = (np.arange(24000) % 2000 - 1000).astype("<i2")
    board = sim("-", fast=True, stdin=io.BytesIO(pcm.tobytes()))
    cap = stream(board.port, timeout_s=10, rate=48000)
    assert np.array_equal(cap.samples(), pcm)
