"""Budget checks on the unix port (tools/fw_measure.py prints the full table)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from fwhelpers import REPO


def _fw_measure() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fw_measure", REPO / "tools" / "fw_measure.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_stream_budget() -> None:
    rows = _fw_measure().measure(frames=2000)
    default = rows[0]
    print("\nfirmware on the unix port:", *rows, sep="\n  ")
    assert default["payload_bytes"] == 320 and default["ring_frames"] == 32
    assert default["overhead_pct"] == 7.51
    assert default["ram_at_start_bytes"] < 24 * 1024  # ring (32 x 346 B) + views + metadata
    assert default["loop_us_per_frame"] < default["frame_us"] / 20  # generous: ~40 µs measured here
    assert all(r["streaming"] for r in rows)
