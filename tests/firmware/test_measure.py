"""Budget checks on the unix port (tools/fw_measure.py prints the full table)."""

from __future__ import annotations

from fwhelpers import load_tool


def test_default_stream_budget() -> None:
    rows = load_tool("fw_measure").measure(frames=2000)
    default = rows[0]
    print("\nfirmware on the unix port:", *rows, sep="\n  ")
    assert default["payload_bytes"] == 320 and default["ring_frames"] == 32
    assert default["overhead_pct"] == 7.51
    # measured on the wire: 26 bytes of header+CRC per frame, plus a 72-byte PING reply every 100 frames
    assert 346 <= default["wire_bytes_per_frame"] < 348
    assert default["ram_at_start_bytes"] < 24 * 1024  # ring (32 x 346 B) + views + metadata
    assert default["loop_us_per_frame"] < default["frame_us"] / 20  # generous: ~40 µs measured here
    assert all(r["streaming"] for r in rows)
