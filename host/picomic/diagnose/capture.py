"""`picomic doctor`: stream a few seconds, then say what is wrong with the microphone, its wiring or the link.

Two streams: the normal mono START for ``--seconds`` (levels, noise floor, DC, clipping, sample rate against
the host clock, link counters), then a short diagnostic START with ``channels=2`` that reads both I2S slots
(a microphone answering in the right slot means L/R is not tied to GND). The checks are pure functions over
numpy arrays and counters (`check_*`, `diagnose`), so each can be tested without a board.

Verdict: *unhealthy* when any finding is an error (``--strict``: also a warning); exit 0 healthy,
1 unhealthy; a board that cannot be reached at all is a PicomicError (exit 2-5, like every command).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from picomic.bus.audiobus import AudioBus
from picomic.bus.status import PipelineStatus
from picomic.bus.text import printable
from picomic.deploy.build import board_profile, known_boards
from picomic.diagnose.checks import Capture, Diagnosis, Samples
from picomic.errors import ConfigError, FrameError
from picomic.link.source import SerialSource, StartSettings

FIRST_AUDIO_TIMEOUT_S = 3.0
SLOWEST_CLOCK = 0.25
"""The slowest board clock the capture waits for, relative to the host's (the emulated Pico runs at ~0.5)."""
STEREO_SECONDS = 1.0


# --------------------------------------------------------------------------------------------- streaming


@dataclass
class _Stream:
    parts: list[Samples] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    ends: list[int] = field(default_factory=list)
    device_ms: list[float] = field(default_factory=list)
    device_us: list[int] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)
    info: dict[str, object] = field(default_factory=dict)
    error: str | None = None


def stream(port: str, settings: StartSettings, seconds: float, serial_number: str | None = None) -> _Stream:
    """Stream `seconds` of audio (on the stream timeline, so an emulated board slower than real time still
    delivers that much; at most SLOWEST_CLOCK times longer in wall time) and collect it with arrival times.
    Handshake failures raise (LinkError, FrameError, DeviceError); a link lost mid-way is recorded."""
    status = PipelineStatus()
    bus = AudioBus(status)
    listener = bus.subscribe("doctor", maxsize=1 << 16)
    source = SerialSource(port, serial_number=serial_number, settings=settings, bus=bus, status=status,
                          reconnect=False)  # fmt: skip
    try:
        source.start()
    except FrameError:  # the INFO reply may be hit by the very bit errors the doctor is there to find: once more
        source.start()
    out = _Stream(info=dict(source.info))
    deadline = time.monotonic() + FIRST_AUDIO_TIMEOUT_S
    first_sample = 0
    try:
        while time.monotonic() < deadline:
            chunk = listener.recv(timeout=0.1)
            if chunk is None:
                if source.finished:
                    break
                continue
            now = time.monotonic()
            if not out.parts:
                deadline = now + seconds / SLOWEST_CLOCK
                first_sample = chunk.stream_sample
            out.parts.append(chunk.samples)
            out.arrivals.append(now)
            out.ends.append(chunk.stream_sample + len(chunk.samples))
            out.device_ms.append(chunk.ts_ms)
            out.device_us.append(chunk.device_us + len(chunk.samples) * 1_000_000 // settings.rate_hz)
            if out.ends[-1] - first_sample >= seconds * settings.rate_hz:
                break
    finally:
        source.stop()
    out.error = str(source.error) if source.error is not None else None
    out.counters = {k: v for k, v in status.snapshot().items() if isinstance(v, (int, float))}
    return out


def capture(
    port: str, settings: StartSettings, seconds: float, serial_number: str | None = None
) -> tuple[Capture, dict[str, object]]:
    """`seconds` of the mono stream, then the diagnostic stereo one, as one Capture (plus the board's INFO)."""
    if not seconds > 0:
        raise ConfigError(f"the doctor's capture must be > 0 seconds, got {seconds}", settings=("seconds",))
    mono = stream(port, settings, seconds, serial_number)
    stereo: Samples | None = None
    if mono.error is None:
        pair = stream(port, replace(settings, channels=2), STEREO_SECONDS, serial_number)
        stereo = np.concatenate(pair.parts) if pair.parts else np.zeros((0, 2), np.int16)
    cap = Capture(
        rate_hz=settings.rate_hz,
        mono=np.concatenate(mono.parts) if mono.parts else np.zeros(0, np.int16),
        arrivals_s=np.asarray(mono.arrivals, np.float64),
        ends=np.asarray(mono.ends, np.int64),
        stereo=stereo,
        counters=mono.counters,
        gain_bits=settings.gain,
        link_error=mono.error,
        pins=_pins(mono.info),
        device_ms=np.asarray(mono.device_ms, np.float64),
        device_s=np.asarray(mono.device_us, np.float64) / 1e6,
    )
    return cap, mono.info


def _pins(info: Mapping[str, object]) -> dict[str, object]:
    board = info.get("board")
    if isinstance(board, str) and board in known_boards():
        return board_profile(board)
    return {}


# ------------------------------------------------------------------------------------------------ report


def report_json(diag: Diagnosis, info: Mapping[str, object], port: str, strict: bool) -> str:
    healthy = diag.healthy(strict)
    return json.dumps({
        "type": "doctor", "verdict": "healthy" if healthy else "unhealthy", "healthy": healthy,
        "port": port, "board": info.get("board"), "fw": info.get("fw"), "mpy": info.get("mpy"),
        "findings": [asdict(f) for f in diag.findings], "measurements": diag.measurements,
    })  # fmt: skip


def report_text(diag: Diagnosis, info: Mapping[str, object], port: str, strict: bool) -> Iterator[str]:
    """The report as terminal lines; every string from the board is escaped (DECISIONS 33)."""
    m = diag.measurements
    board, fw, mpy = (printable(info.get(key, "?"), 64) for key in ("board", "fw", "mpy"))
    yield (f"picomic doctor: board {board} (picomic fw {fw}, MicroPython "
           f"{mpy}) on {printable(port)}, {m['seconds']} s at {m['rate_nominal_hz']} Hz")  # fmt: skip
    yield (
        f"  level  {m['rms_dbfs']} dBFS rms, peak {m['peak']}, noise floor {m['noise_floor_dbfs']} dBFS "
        f"(INMP441: {m['expected_noise_floor_dbfs']:.0f}), DC {m['dc_percent']:+} %, clipped {m['clip_percent']} %"
    )
    if "stages" in m:
        yield (f"  stages {m['stages']}: noise floor {m['noise_floor_after_dbfs']} dBFS "
               f"({m['noise_floor_change_db']:+} dB), rms {m['rms_after_dbfs']} dBFS")  # fmt: skip
    if m["rate_measured_hz"] is not None:
        scale = float(m.get("clock_scale", 1.0))  # type: ignore[arg-type]
        clock = "the host clock" if scale == 1.0 else f"the emulated clock; emulated ×{scale:.2f}"
        yield f"  rate   {m['rate_measured_hz']} Hz ({m['rate_error_ppm']:+} ppm against {clock})"
    if "left_rms_dbfs" in m:
        yield f"  slots  left {m['left_rms_dbfs']} dBFS, right {m['right_rms_dbfs']} dBFS (rms)"
    yield (
        f"  link   {m['frames']} frames, {m['lost_frames']} lost, {m['crc_errors']} CRC errors, "
        f"{m['i2s_overruns']} I2S overruns, {m['reconnects']} reconnects"
    )
    for f in diag.findings:
        yield f"{f.severity.upper():8} {printable(f.message, 1000)}"
        yield f"{'':8} fix: {printable(f.fix, 1000)}"
    counts = {s: sum(1 for f in diag.findings if f.severity == s) for s in ("error", "warning")}
    verdict = "healthy" if diag.healthy(strict) else "unhealthy"
    yield f"verdict: {verdict} ({counts['error']} error(s), {counts['warning']} warning(s))"
