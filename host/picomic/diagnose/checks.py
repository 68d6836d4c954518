"""The doctor's checks: pure functions from samples and counters to findings (no board, no I/O).

`measure_levels` and `estimate_rate` measure; `check_signal`, `check_slots`, `check_rate` and `check_link`
turn measurements into `Finding`s (severity, message, fix); `diagnose` runs them all on a `Capture`.
Thresholds are module constants and documented in docs/hardware.md.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

from picomic.diagnose.rate import MIN_RATE_SPAN_S, RateEstimate, estimate_rate

Severity = Literal["error", "warning", "info"]
Samples = npt.NDArray[np.int16]

FULL_SCALE = 32768.0
INMP441_NOISE_DBFS = -87.0
"""INMP441 datasheet noise floor (its self-noise, referred to digital full scale)."""
NOISE_MARGIN_DB = 20.0
"""A measured floor this far above or below the expected one is a finding."""
DC_WARN, DC_ERROR = 0.01, 0.02
"""|mean| as a fraction of full scale (the INMP441 removes DC itself, so any DC is suspicious)."""
CLIP_WARN, CLIP_ERROR = 1e-4, 1e-2
"""Fraction of samples at full scale."""
RATE_TOLERANCE = 1e-3
"""Sample rate against the host clock: ±0.1 %."""
MISSING_AUDIO_MS = 20.0
"""Device time minus delivered audio beyond this is missing audio (timestamps are exact to ~0.1 ms)."""
FLOOR_WINDOW_MS = 20
FLOOR_PERCENTILE = 5.0
DEAD_DBFS = -110.0
"""A slot quieter than this carries no microphone (mean-removed RMS)."""
SILENT_DBFS = -200.0


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    """Stable identifier: no_data, stuck_high, constant, wrong_slot, dc_offset, clipping, noise_high, ..."""
    severity: Severity
    message: str
    fix: str


@dataclass(frozen=True, slots=True)
class Levels:
    """Level statistics of one channel (16-bit samples)."""

    samples: int
    mean_fs: float
    """Mean as a fraction of full scale (DC offset)."""
    rms_dbfs: float
    """RMS of the mean-removed signal, dBFS (SILENT_DBFS when constant)."""
    floor_dbfs: float
    """Noise floor: the 5th percentile of the RMS of 20 ms windows (each window's mean removed), dBFS."""
    peak: int
    clip_fraction: float
    constant: int | None
    """The value every sample has, or None."""


@dataclass(frozen=True, slots=True)
class Capture:
    """What the doctor collected: mono samples with arrival times, the stereo probe, link counters."""

    rate_hz: int
    mono: Samples
    arrivals_s: npt.NDArray[np.float64]
    """Host monotonic time at which each chunk arrived."""
    ends: npt.NDArray[np.int64]
    """Cumulative sample count at the end of each chunk (same length as arrivals_s)."""
    stereo: Samples | None
    """(n, 2) samples of the diagnostic channels=2 stream, or None."""
    counters: Mapping[str, float]
    gain_bits: int = 0
    link_error: str | None = None
    pins: Mapping[str, object] = field(default_factory=dict)
    device_ms: npt.NDArray[np.float64] | None = None
    """Device capture time of each chunk's first sample (AudioChunk.ts_ms), for the timeline check."""
    device_s: npt.NDArray[np.float64] | None = None
    """The board's own clock (s) at the end of each chunk (AudioChunk.device_us), for `board_clock`."""
    board_clock: bool = False
    """Check the rate against the board's own clock instead of the host's: an emulated Pico runs at about
    half real time, which is reported as "emulated ×0.5", never as a clock fault."""


@dataclass(frozen=True, slots=True)
class Diagnosis:
    findings: tuple[Finding, ...]
    measurements: dict[str, object]

    def healthy(self, strict: bool = False) -> bool:
        bad: tuple[Severity, ...] = ("error", "warning") if strict else ("error",)
        return not any(f.severity in bad for f in self.findings)


# --------------------------------------------------------------------------------------------- measuring


def _dbfs(rms: float) -> float:
    return 20.0 * math.log10(rms / FULL_SCALE) if rms > 0 else SILENT_DBFS


def measure_levels(x: Samples, rate_hz: int) -> Levels:
    """Level statistics of one channel of int16 samples."""
    if len(x) == 0:
        return Levels(0, 0.0, SILENT_DBFS, SILENT_DBFS, 0, 0.0, None)
    xf = x.astype(np.float64)
    mean = float(xf.mean())
    ac = xf - mean
    win = max(1, rate_hz * FLOOR_WINDOW_MS // 1000)
    usable = len(ac) // win * win or len(ac)
    windows = ac[:usable].reshape(-1, min(win, usable))
    window_rms = np.std(windows, axis=1)  # each window's own mean removed: the floor ignores DC
    first = int(x[0])
    return Levels(
        samples=len(x),
        mean_fs=mean / FULL_SCALE,
        rms_dbfs=_dbfs(float(np.sqrt(np.mean(ac**2)))),
        floor_dbfs=_dbfs(float(np.percentile(window_rms, FLOOR_PERCENTILE))),
        peak=int(np.max(np.abs(x.astype(np.int32)))),
        clip_fraction=float(np.mean((x >= 32767) | (x <= -32768))),
        constant=first if bool(np.all(x == first)) else None,
    )


def expected_floor_dbfs(gain_bits: int) -> float:
    """The INMP441's self-noise after `gain_bits` of digital gain, dBFS."""
    return INMP441_NOISE_DBFS + 6.02 * gain_bits


def _pin(pins: Mapping[str, object], name: str) -> str:
    value = pins.get(name)
    return f"GP{value}" if isinstance(value, int) else name.upper()


def check_signal(lv: Levels, gain_bits: int = 0, pins: Mapping[str, object] | None = None) -> list[Finding]:
    """Dead, stuck, DC, clipping and noise-floor findings for the mono stream."""
    pins = pins or {}
    sd, sck, ws = _pin(pins, "sd"), _pin(pins, "sck"), _pin(pins, "ws")
    if lv.samples == 0:
        return []
    if lv.constant is not None:
        return [_constant_finding(lv.constant, sd, sck, ws)]
    out: list[Finding] = []
    expected = expected_floor_dbfs(gain_bits)
    if lv.floor_dbfs < expected - NOISE_MARGIN_DB:
        out.append(Finding(
            "noise_low", "error",
            f"noise floor {lv.floor_dbfs:.0f} dBFS is far below the INMP441's own ({expected:.0f} dBFS): "
            "the samples are mostly constant, so the microphone is not driving SD",
            f"check the SD wire ({sd}), the mic's 3V3 and GND, and that SCK is on {sck} and WS on {ws}",
        ))  # fmt: skip
    elif lv.floor_dbfs > expected + NOISE_MARGIN_DB:
        out.append(Finding(
            "noise_high", "warning",
            f"noise floor {lv.floor_dbfs:.0f} dBFS is far above the INMP441's ({expected:.0f} dBFS): a loud "
            "room, a steady tone/fan, interference on long SD/SCK wires, or a noisy 3V3 supply",
            "test in a quiet room; keep the I2S wires short (< 20 cm) and twisted with GND; power the mic "
            "from the Pico's 3V3 pin, not VBUS",
        ))  # fmt: skip
    out += _dc_findings(lv.mean_fs)
    out += _clip_findings(lv.clip_fraction)
    return out


def _constant_finding(value: int, sd: str, sck: str, ws: str) -> Finding:
    if value == 0:
        return Finding(
            "no_data", "error",
            "no data: every sample is 0 (SD reads low: not connected, or the microphone is unpowered)",
            f"connect the mic's SD to {sd}, VDD to 3V3 and GND to GND; SCK to {sck}, WS to {ws}",
        )  # fmt: skip
    if value == -1:
        return Finding(
            "stuck_high", "error",
            "SD stuck high: every sample is -1 (all bits set)",
            f"SD ({sd}) is tied or shorted to 3V3, or floating without the 100 kΩ pull-down; "
            "check for a solder bridge and that VDD and SD are not swapped",
        )  # fmt: skip
    return Finding(
        "constant", "error",
        f"every sample is {value}: the data line does not change",
        f"check the SD wire ({sd}) and that the clocks reach the mic (SCK {sck}, WS {ws})",
    )  # fmt: skip


def _graded(value: float, warn: float, error: float, code: str, message: str, fix: str) -> list[Finding]:
    """One finding when `value` reaches `warn` (an error from `error` on), else none."""
    if value < warn:
        return []
    return [Finding(code, "error" if value >= error else "warning", message, fix)]


def _dc_findings(mean_fs: float) -> list[Finding]:
    return _graded(
        abs(mean_fs), DC_WARN, DC_ERROR, "dc_offset",
        f"DC offset {mean_fs * 100:+.1f} % of full scale (the INMP441 filters DC out itself)",
        "a different or damaged microphone, or bad data alignment; check the mic is an INMP441 and that "
        "WS is SCK + 1",
    )  # fmt: skip


def _clip_findings(fraction: float) -> list[Finding]:
    return _graded(
        fraction, CLIP_WARN, CLIP_ERROR, "clipping",
        f"clipping: {fraction * 100:.2f} % of the samples are at full scale",
        "lower --gain, move the sound source away from the mic; constant clipping with no loud sound "
        "means a wiring fault on SD",
    )  # fmt: skip


def check_slots(left: Levels, right: Levels) -> list[Finding]:
    """The diagnostic stereo stream: a microphone heard only in the right slot means L/R is not at GND."""
    if left.rms_dbfs <= DEAD_DBFS and right.rms_dbfs > DEAD_DBFS and right.constant is None:
        return [Finding(
            "wrong_slot", "error",
            "the microphone answers in the right I2S slot; the firmware reads the left one",
            "tie the mic's L/R pin to GND (left channel)",
        )]  # fmt: skip
    return []


def check_rate(est: RateEstimate | None, nominal_hz: int, clock: str = "the host clock") -> list[Finding]:
    if est is None:
        return [Finding(
            "rate_unmeasured", "info",
            f"too little audio to measure the sample rate to 0.1 % (need {MIN_RATE_SPAN_S:.0f} s)",
            "run with --seconds 5 or more",
        )]  # fmt: skip
    if abs(est.ppm) <= RATE_TOLERANCE * 1e6:
        return []
    return [Finding(
        "rate_off", "error",
        f"sample rate {est.rate_hz:.1f} Hz is {est.ppm / 1e4:+.2f} % off the nominal {nominal_hz} Hz "
        f"(measured against {clock}; lost audio also shows here)",
        "the board's clock is off (a different crystal, an overclock in boot.py) or the host is "
        "overloaded; reflash with picomic flash and retry on an idle host",
    )]  # fmt: skip


def audio_missing_ms(device_ms: npt.NDArray[np.float64], ends: npt.NDArray[np.int64], rate_hz: int) -> float:
    """Device time elapsed minus audio delivered over the capture, ms: what the I2S buffer lost without
    the board noticing (lost USB frames are already in `ends`, which follows the stream timeline)."""
    if len(device_ms) < 2:
        return 0.0
    return float((device_ms[-1] - device_ms[0]) - (ends[-1] - ends[0]) * 1000.0 / rate_hz)


def check_timeline(missing_ms: float, flagged_overruns: int) -> list[Finding]:
    if missing_ms <= MISSING_AUDIO_MS or flagged_overruns:
        return []
    return [Finding(
        "audio_missing", "error",
        f"about {missing_ms:.0f} ms of audio is missing: the board's clock ran on while the I2S delivered no "
        "samples (an I2S buffer overrun the board did not flag)",
        "the board stalled while reading the microphone: remove code added to boot.py, use a lower --rate, "
        "reflash with picomic flash",
    )]  # fmt: skip


def check_link(counters: Mapping[str, float], link_error: str | None = None) -> list[Finding]:
    """I2S overruns, lost frames, CRC errors, resyncs, reconnects from the PipelineStatus counters."""

    def get(name: str) -> int:
        return int(counters.get(name, 0))

    out: list[Finding] = []
    if link_error:
        out.append(
            Finding(
                "link_lost",
                "error",
                f"the stream broke: {link_error}",
                "check the USB cable and hub; a board that resets under load needs a better supply",
            )
        )
    if get("i2s_overruns"):
        out.append(Finding(
            "i2s_overrun", "error",
            f"{get('i2s_overruns')} I2S overrun(s): the board did not read the microphone in time and audio "
            "was lost inside the board",
            "use a lower --rate or shorter --frame-ms, remove code added to boot.py, reflash with picomic flash",
        ))  # fmt: skip
    lost = get("lost_frames")
    if lost:
        dropped = get("device_dropped")
        why = "the host read too slowly (the board's ring was full)" if dropped else "lost on the USB link"
        out.append(Finding(
            "lost_frames", "error", f"{lost} audio frame(s) lost: {why}",
            "close other programs that load the CPU or the USB bus; use a direct USB port, not a hub",
        ))  # fmt: skip
    if get("crc_errors") or get("resyncs"):
        out.append(Finding(
            "usb_errors", "warning",
            f"{get('crc_errors')} CRC error(s), {get('resyncs')} resync(s) on the USB link",
            "replace the USB cable (short, data-rated), avoid unpowered hubs and long extension leads",
        ))  # fmt: skip
    if get("reconnects"):
        out.append(
            Finding(
                "reconnect",
                "warning",
                f"the board disconnected {get('reconnects')} time(s)",
                "check the USB cable and the board's supply",
            )
        )
    return out


def diagnose(cap: Capture) -> Diagnosis:
    """Every check on one capture; the measurements that back them."""
    mono = measure_levels(cap.mono, cap.rate_hz)
    slots = _slot_levels(cap)
    findings: list[Finding] = []
    if mono.samples == 0:
        findings.append(Finding(
            "no_audio", "error", "no audio frames arrived from the board",
            "the firmware accepted START but sent nothing: reflash with picomic flash and press reset",
        ))  # fmt: skip
    slot = check_slots(*slots) if slots else []
    signal = check_signal(mono, cap.gain_bits, cap.pins)
    if slot:  # the mono stream is dead *because* of the slot: say that, not "SD not connected"
        signal = [f for f in signal if f.code not in ("no_data", "noise_low")]
    findings += slot + signal
    clock_s = cap.device_s if cap.board_clock and cap.device_s is not None else cap.arrivals_s
    rate = estimate_rate(clock_s, cap.ends, cap.rate_hz) if mono.samples else None
    if mono.samples:
        findings += check_rate(rate, cap.rate_hz, "the emulated clock" if cap.board_clock else "the host clock")
    if cap.device_ms is not None:
        missing = audio_missing_ms(cap.device_ms, cap.ends, cap.rate_hz)
        findings += check_timeline(missing, int(cap.counters.get("i2s_overruns", 0)))
    findings += check_link(cap.counters, cap.link_error)
    if any(f.code in ("i2s_overrun", "audio_missing") for f in findings):  # lost audio skews the rate
        findings = [f for f in findings if f.code != "rate_off"]
    return Diagnosis(tuple(findings), _measurements(cap, mono, slots, rate))


def _slot_levels(cap: Capture) -> tuple[Levels, Levels] | None:
    """Levels of the left and right slot of the diagnostic stereo stream, or None without one."""
    if cap.stereo is None or len(cap.stereo) == 0:
        return None
    left = measure_levels(np.ascontiguousarray(cap.stereo[:, 0]), cap.rate_hz)
    right = measure_levels(np.ascontiguousarray(cap.stereo[:, 1]), cap.rate_hz)
    return left, right


def _measurements(
    cap: Capture, lv: Levels, slots: tuple[Levels, Levels] | None, rate: RateEstimate | None
) -> dict[str, object]:
    out: dict[str, object] = {
        "seconds": round(lv.samples / cap.rate_hz, 3),
        "rate_nominal_hz": cap.rate_hz,
        "rms_dbfs": round(lv.rms_dbfs, 1),
        "noise_floor_dbfs": round(lv.floor_dbfs, 1),
        "expected_noise_floor_dbfs": expected_floor_dbfs(cap.gain_bits),
        "dc_percent": round(lv.mean_fs * 100, 3),
        "peak": lv.peak,
        "clip_percent": round(lv.clip_fraction * 100, 3),
        "rate_measured_hz": round(rate.rate_hz, 2) if rate else None,
        "rate_error_ppm": round(rate.ppm) if rate else None,
        "clock_scale": _clock_scale(cap),
    }
    if slots is not None:
        for side, levels in zip(("left", "right"), slots, strict=True):
            out[f"{side}_rms_dbfs"] = round(levels.rms_dbfs, 1)
    for name in ("frames", "lost_frames", "crc_errors", "resyncs", "device_dropped", "i2s_overruns",
                 "reconnects", "clock_drift_ppm"):  # fmt: skip
        out[name] = cap.counters.get(name, 0)
    return out


def _clock_scale(cap: Capture) -> float:
    """Board clock seconds per host second over the capture (1.0 unless the rate is on the board's clock)."""
    if not cap.board_clock or cap.device_s is None or len(cap.device_s) < 2:
        return 1.0
    host = float(cap.arrivals_s[-1] - cap.arrivals_s[0])
    return round(float(cap.device_s[-1] - cap.device_s[0]) / host, 3) if host > 0 else 1.0
