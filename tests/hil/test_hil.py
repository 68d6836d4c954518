"""The hardware-in-the-loop suite: flashing, handshake and versions, a gap-free stream at the nominal rate
measured against the host clock, a live signal, STOP back to a working REPL, reconnect after a reset, the
doctor's verdict, and clear errors for a port that does not exist. Tests run in file order and each leaves
the board running the picomic firmware, idle."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hil_support import MakeBoard, Target
from picomic.bus.audiobus import AudioBus
from picomic.bus.events import Discontinuity, Event
from picomic.bus.status import PipelineStatus
from picomic.deploy import boardfs, flash
from picomic.deploy.build import known_boards
from picomic.diagnose import capture as doctor
from picomic.diagnose import checks as diagnosis
from picomic.diagnose.capture import SLOWEST_CLOCK
from picomic.errors import LinkError
from picomic.link.ports import probe_port
from picomic.link.source import SerialSource, StartSettings
from picomic.stream.protocol import VERSION

RATE = 16000
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FRAME_MS = 10


@dataclass
class Run:
    """A stream collected from the board: samples, sequence numbers, arrival times, status and events."""

    status: PipelineStatus
    pcm: list[np.ndarray] = field(default_factory=list)
    seqs: list[tuple[int, int]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    device_s: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    source: SerialSource = field(init=False)

    def emit(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)


def open_stream(port: str, **kw: object) -> tuple[Run, object]:
    status = PipelineStatus()
    bus = AudioBus(status)
    listener = bus.subscribe("hil", maxsize=1 << 16)
    run = Run(status)
    settings = StartSettings(rate_hz=RATE, frame_ms=FRAME_MS)
    run.source = SerialSource(port, settings=settings, bus=bus, status=status, emit=run.emit, **kw)  # type: ignore[arg-type]
    run.source.start()
    return run, listener


def collect(run: Run, listener: object, seconds: float, until: object = None) -> None:
    """Receive `seconds` of audio on the stream timeline (so an emulated board at half real time delivers as
    much as a real one), or until `until()` is true; bounded either way."""
    deadline = time.monotonic() + seconds / SLOWEST_CLOCK + 5.0
    first: int | None = None
    while time.monotonic() < deadline:
        if first is not None and run.ends[-1] - first >= seconds * RATE:
            return
        if callable(until) and until():
            return
        chunk = listener.recv(timeout=0.1)  # type: ignore[attr-defined]
        if chunk is None:
            assert not run.source.finished, f"the stream ended early: {run.source.error}"
            continue
        first = first if first is not None else chunk.stream_sample
        run.pcm.append(chunk.samples)
        run.seqs.append((chunk.epoch, chunk.seq))
        run.arrivals.append(time.monotonic())
        run.ends.append(chunk.stream_sample + len(chunk.samples))
        run.device_s.append((chunk.device_us + len(chunk.samples) * 1_000_000 // RATE) / 1e6)


def mpremote(port: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "resume", *args],
                          capture_output=True, text=True, timeout=30)  # fmt: skip


def reboot(target: Target) -> dict[str, object]:
    """`mpremote reset` and the INFO handshake once the board is back (the firmware runs again)."""
    return boardfs.reset_and_handshake(target.port, "")


# -------------------------------------------------------------------------------------------- flashing


def test_flash_is_current_and_a_reflash_changes_nothing(target: Target) -> None:
    for _ in range(2):
        proc = subprocess.run([sys.executable, "-m", "picomic.cli", "flash", "--port", target.port],
                              capture_output=True, text=True, timeout=180)  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert f"picomic {flash.firmware_version()} answers" in proc.stdout
    assert "already up to date" in proc.stdout and "0 file(s), 0 bytes to copy" in proc.stdout


# ------------------------------------------------------------------------------------------- handshake


def test_handshake_and_versions(target: Target) -> None:
    result = probe_port(target.port)
    info = result.get("info")
    assert isinstance(info, dict), result
    assert info["fw"] == flash.firmware_version() and info["proto"] == VERSION
    assert info["board"] in known_boards() and info["streaming"] is False
    assert isinstance(info["uid"], str) and len(info["uid"]) >= 8
    assert info["defaults"]["rate"] == RATE and info["limits"]["max_payload"] == 24576  # type: ignore[index]
    mpy = str(info["mpy"]).split(".")
    assert len(mpy) == 3 and (int(mpy[0]), int(mpy[1])) >= (1, 23), info["mpy"]


# --------------------------------------------------------------------------------------------- stream


@pytest.fixture(scope="module")
def stream(target: Target, stream_seconds: float) -> Run:
    run, listener = open_stream(target.port, reconnect=False)
    try:
        collect(run, listener, stream_seconds)
    finally:
        run.source.stop()
    return run


def test_stream_has_no_gaps(stream: Run, stream_seconds: float) -> None:
    snap = stream.status.snapshot()
    assert snap["lost_frames"] == 0 and snap["crc_errors"] == 0 and snap["resyncs"] == 0, snap
    assert snap["device_dropped"] == 0 and snap["i2s_overruns"] == 0 and snap["reconnects"] == 0, snap
    epochs = {e for e, _ in stream.seqs}
    seqs = [s for _, s in stream.seqs]
    assert len(epochs) == 1 and seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    assert stream.ends[-1] - stream.ends[0] == (len(seqs) - 1) * RATE * FRAME_MS // 1000
    assert len(seqs) >= stream_seconds * 1000 / FRAME_MS * 0.98


def test_stream_rate_within_0_1_percent_of_nominal(target: Target, stream: Run, stream_seconds: float) -> None:
    """Against the host clock — or, on the emulated Pico (about half real time), against its own clock."""
    emulated = target.kind == "emulated"
    clock = np.asarray(stream.device_s if emulated else stream.arrivals)
    est = diagnosis.estimate_rate(clock, np.asarray(stream.ends, np.int64), RATE)
    assert est is not None and est.span_s >= stream_seconds * 0.9
    where = "the emulated clock" if emulated else "the host clock"
    assert abs(est.ppm) <= 1000, f"rate {est.rate_hz:.2f} Hz ({est.ppm:+.0f} ppm) against {where}"


def test_signal_is_alive(stream: Run) -> None:
    x = np.concatenate(stream.pcm)
    lv = diagnosis.measure_levels(x, RATE)
    assert lv.constant is None and len(np.unique(x[: RATE * 2])) > 8, "stuck signal"
    assert lv.floor_dbfs > diagnosis.INMP441_NOISE_DBFS - diagnosis.NOISE_MARGIN_DB, lv
    assert lv.clip_fraction < diagnosis.CLIP_WARN and abs(lv.mean_fs) < diagnosis.DC_WARN, lv


# ---------------------------------------------------------------------------------------- REPL, reset


def test_stop_returns_to_a_working_repl(target: Target) -> None:
    run, listener = open_stream(target.port, reconnect=False)
    try:
        collect(run, listener, 1.0)
    finally:
        run.source.stop()
    assert run.pcm, "no audio before STOP"
    proc = mpremote(target.port, "exec", "import sys; print('mp', sys.implementation.version[:3])")
    assert proc.returncode == 0, proc.stderr
    info = reboot(target)
    assert proc.stdout.strip() == "mp " + repr(tuple(int(v) for v in str(info["mpy"]).split(".")))


def test_reconnect_after_a_reset_mid_stream(target: Target) -> None:
    """RESET reboots the board under a running stream (USB drops and re-enumerates); the host finds the same
    board again (by its serial number on real hardware), starts a new epoch and the audio goes on."""
    info = probe_port(target.port).get("info")
    serial = str(info["uid"]) if target.real and isinstance(info, dict) and info.get("uid") else None
    reboots = target.reboots  # the suite shares one simulated (or emulated) board
    run, listener = open_stream(target.port, serial_number=serial, reconnect=True, reconnect_timeout_s=20.0)
    try:
        collect(run, listener, 1.0)
        run.source.reset_board()
        collect(run, listener, 20.0, until=lambda: run.status.reconnects >= 1 and run.seqs[-1][0] > run.seqs[0][0])
        collect(run, listener, 1.0)
    finally:
        run.source.stop()
    if not target.real:
        assert target.reboots == reboots + 1, f"machine.reset() did not reboot the {target.kind} board"
    assert run.status.reconnects == 1
    assert run.seqs[-1][0] == run.seqs[0][0] + 1, "no new epoch after the reconnect"
    assert any(isinstance(e, Discontinuity) and e.reason == "reconnect" for e in run.events)  # type: ignore[attr-defined]
    assert sum(1 for e, _ in run.seqs if e == run.seqs[-1][0]) >= 80, "little audio after the reconnect"


# --------------------------------------------------------------------------------------------- doctor


def test_doctor_says_healthy(target: Target) -> None:
    cap, info = doctor.capture(target.port, StartSettings(rate_hz=RATE, frame_ms=FRAME_MS), 3.0)
    diag = diagnosis.diagnose(replace(cap, board_clock=target.kind == "emulated"))
    assert diag.healthy(), [f"{f.severity}: {f.message}" for f in diag.findings]
    assert info["fw"] == flash.firmware_version()


def _doctor(port: str) -> set[str]:
    cap, _ = doctor.capture(port, StartSettings(rate_hz=RATE, frame_ms=FRAME_MS), 2.0)
    return {f.code for f in diagnosis.diagnose(cap).findings if f.severity == "error"}


def test_doctor_names_a_stuck_low_sd(make_board: MakeBoard) -> None:
    assert "no_data" in _doctor(make_board("noise:-40dBFS", mic_fault="stuck-low"))


def test_doctor_names_a_wrong_slot_wiring(make_board: MakeBoard) -> None:
    assert "wrong_slot" in _doctor(make_board("noise:-40dBFS", mic_fault="wrong-slot"))


# -------------------------------------------------------------------------------------------- record


def test_record_of_a_wav_is_bit_exact(make_board: MakeBoard, tmp_path: Path) -> None:
    """A WAV through the board's I2S (the simulated INMP441 on the real pins) comes back sample for sample."""
    src = FIXTURES / "utt1_box.flac"
    port = make_board(str(src))
    out = tmp_path / "rec.wav"
    proc = subprocess.run([sys.executable, "-m", "picomic.cli", "record", str(out), "--port", port, "--seconds",
                           "8"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    got, _ = sf.read(out, dtype="int16")
    want, _ = sf.read(src, dtype="int16")
    assert len(got) >= RATE, f"only {len(got)} samples recorded"
    n = min(len(got), len(want))
    assert np.array_equal(got[:n], want[:n])
    assert not got[n:].any(), "after the file's end the board hears silence"


# ------------------------------------------------------------------------------------- errors, no board


@pytest.mark.parametrize("command", [["flash"], ["doctor"], ["record", "-", "--seconds", "1"]])
def test_missing_port_is_a_clear_error(command: list[str]) -> None:
    proc = subprocess.run([sys.executable, "-m", "picomic.cli", *command, "--port", "/dev/ttyACM99"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == LinkError.exit_code, proc.stderr
    assert proc.stderr.startswith("picomic: /dev/ttyACM99 not found") and "Traceback" not in proc.stderr


def test_missing_port_from_python() -> None:
    with pytest.raises(LinkError, match="not found — is the board plugged in"):
        SerialSource("/dev/ttyACM99").start()
