"""The voice front end in `doctor`: the captured mono stream through the stages the flags turn on, and the noise
floor and level before and after them (the same processors and stages a pipeline runs, `stages.process_signal`)."""

from __future__ import annotations

from picomic.audio.resample import TARGET_RATE_HZ
from picomic.diagnose.checks import Capture, measure_levels
from picomic.stages.chain import process_signal
from picomic.stages.processors import Processor


def stage_measurements(cap: Capture, processors: list[Processor]) -> dict[str, object]:
    """`stages`, `noise_floor_after_dbfs`, `noise_floor_change_db` (after − before), `rms_after_dbfs`."""
    before = measure_levels(cap.mono, cap.rate_hz)
    processed = process_signal(processors, cap.mono, cap.rate_hz)
    after = measure_levels(processed, TARGET_RATE_HZ)
    return {
        "stages": " → ".join(p.describe() for p in processors),
        "noise_floor_after_dbfs": round(after.floor_dbfs, 1),
        "noise_floor_change_db": round(after.floor_dbfs - before.floor_dbfs, 1),
        "rms_after_dbfs": round(after.rms_dbfs, 1),
    }
