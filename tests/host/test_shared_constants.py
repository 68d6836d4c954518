"""Values the firmware, the simulated board and the host must agree on, each defined once per language: this
test reads the MicroPython sources (their `_NAME = const(N)` lines, the sim config's defaults) and fails when a
copy drifts from the host's."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from picomic.sim import board as simboard
from picomic.stream import protocol

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"


def consts(path: Path) -> dict[str, int]:
    """`NAME = const(N)` lines of a MicroPython file."""
    found = re.findall(r"^(\w+)\s*=\s*const\((0x[0-9A-Fa-f]+|\d+)\)", path.read_text(), re.M)
    return {name: int(value, 0) for name, value in found}


def test_settle_samples_agree() -> None:
    assert consts(FIRMWARE / "picomic_fw" / "capture.py")["SETTLE_SAMPLES"] == protocol.SETTLE_SAMPLES
    assert consts(FIRMWARE / "sim" / "machine.py")["_SETTLE"] == protocol.SETTLE_SAMPLES


def test_sync_and_version_agree() -> None:
    fw = consts(FIRMWARE / "picomic_fw" / "proto.py")
    assert bytes((fw["SYNC0"], fw["SYNC1"])) == protocol.SYNC
    assert fw["PROTO"] == protocol.VERSION


def test_reboot_exit_status_agrees() -> None:
    assert consts(FIRMWARE / "sim" / "machine.py")["_RESET_EXIT"] == simboard.RESET_EXIT


def test_sim_config_keys_agree(tmp_path: Path) -> None:
    tree = ast.parse((FIRMWARE / "sim" / "_simcfg.py").read_text())
    defaults = next(
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "_DEFAULTS" for t in node.targets)
    )
    assert isinstance(defaults, ast.Dict)
    board_keys = {k.value for k in defaults.keys if isinstance(k, ast.Constant)}
    sim = simboard.SimBoard("silence", seed=1)
    sim._write_config(tmp_path)  # noqa: SLF001 - the file the board reads is what is compared
    host_keys = set(json.loads((tmp_path / "sim.json").read_text()))
    assert host_keys == board_keys
