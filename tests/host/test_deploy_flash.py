"""`picomic flash` without a board: plans, board detection, the no-board / several-boards / bad-port errors,
mpremote error translation, and the dry run from the board profile alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from picomic.cli import main
from picomic.deploy import boardfs, flash
from picomic.deploy.build import FW_PACKAGE, build_firmware, mpy_cross_exe, mpy_cross_version
from picomic.errors import ConfigError, DeviceError, LinkError


@pytest.fixture(scope="module")
def build() -> flash.FirmwareBuild:
    return build_firmware(board="pico", source=True)


def state_for(build: flash.FirmwareBuild, **over: object) -> boardfs.BoardState:
    files = {rel: ((build.root / rel).stat().st_size, flash.sha256_file(build.root / rel)) for rel in build.files}
    base: dict[str, object] = dict(version="1.24.0", sys_mpy=0, machine="Raspberry Pi Pico with RP2040", uid="e661",
                                   files=files, has_dir=True, main_ours=True, has_backup=False)  # fmt: skip
    base.update(over)
    return boardfs.BoardState(**base)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ plans


def test_plan_for_a_fresh_board_copies_everything(build: flash.FirmwareBuild) -> None:
    plan = flash.make_plan(build, None, "none", "pico")
    assert [c[0] for c in plan.copy] == list(build.files) and plan.mkdir and not plan.noop
    assert {c[2] for c in plan.copy} == {"new"}
    assert plan.copy[0][1] == (build.root / build.files[0]).stat().st_size


def test_identical_board_is_a_noop(build: flash.FirmwareBuild) -> None:
    plan = flash.make_plan(build, state_for(build), "p", "pico")
    assert plan.noop and plan.unchanged == build.files


def test_changed_missing_and_stale_files(build: flash.FirmwareBuild) -> None:
    st = state_for(build)
    files = dict(st.files)
    app = f"{FW_PACKAGE}/app.py"
    files[app] = (files[app][0], "0" * 64)  # same size, other content: only the hash can tell
    del files["main.py"]
    files[f"{FW_PACKAGE}/app.mpy"] = (100, "ab" * 32)  # a stale .mpy would never be imported over .py, still ours
    files[f"{FW_PACKAGE}/gone.py"] = (10, None)
    plan = flash.make_plan(build, state_for(build, files=files), "p", "pico")
    assert {(c[0], c[2]) for c in plan.copy} == {(app, "changed"), ("main.py", "new")}
    assert plan.remove == (f"{FW_PACKAGE}/app.mpy", f"{FW_PACKAGE}/gone.py")
    assert not plan.mkdir


def test_board_without_hashlib_gets_every_file_again(build: flash.FirmwareBuild) -> None:
    files = {k: (v[0], None) for k, v in state_for(build).files.items()}
    plan = flash.make_plan(build, state_for(build, files=files), "p", "pico")
    assert len(plan.copy) == len(build.files) and {c[2] for c in plan.copy} == {"changed"}


def test_user_main_py_is_kept_once(build: flash.FirmwareBuild) -> None:
    plan = flash.make_plan(build, state_for(build, main_ours=False), "p", "pico")
    assert plan.backup_main and "main.py" in {c[0] for c in plan.copy}
    assert any("main.py -> main.py.orig" in line for line in flash.describe(plan, None))
    with pytest.raises(ConfigError, match="main.py.orig already exists"):
        flash.make_plan(build, state_for(build, main_ours=False, has_backup=True), "p", "pico")


def test_chain_and_remove_steps(build: flash.FirmwareBuild) -> None:
    assert boardfs.chain([["a", "1"], ["b"]]) == ["a", "1", "+", "b"]
    steps = flash.remove_steps(state_for(build, has_backup=True))
    flat = [" ".join(s) for s in steps]
    assert f"fs rmdir :{FW_PACKAGE}" in flat and "fs rm :main.py" in flat and "fs rm :board.json" in flat
    assert flat.index("fs rm :main.py") < flat.index("exec import os; os.rename('main.py.orig', 'main.py')")
    user = flash.remove_steps(state_for(build, main_ours=False, files={"main.py": (5, None)}, has_dir=False))
    assert user == []  # a main.py that is not ours stays


# ------------------------------------------------------------------------------------------------ boards


@pytest.mark.parametrize(
    ("machine", "board"),
    [
        ("Raspberry Pi Pico with RP2040", "pico"),
        ("Raspberry Pi Pico W with RP2040", "picow"),
        ("Raspberry Pi Pico2 with RP2350", "pico2"),
        ("Raspberry Pi Pico 2 W with RP2350", "pico2w"),
        ("linux [GCC 14.2.1] version", None),
        ("ESP32 module with ESP32", None),
    ],
)
def test_detect_board(machine: str, board: str | None) -> None:
    assert flash.detect_board(machine) == board


def test_choose_board(build: flash.FirmwareBuild) -> None:
    st = state_for(build, machine="Raspberry Pi Pico 2 W with RP2350")
    assert flash.choose_board(None, st) == "pico2w"
    assert flash.choose_board(None, None) == "pico"
    assert flash.choose_board("pico2", st) == "pico2"
    with pytest.raises(ConfigError, match="use --board pico2w"):
        flash.choose_board("pico", st)
    assert flash.choose_board("pico", state_for(build, machine="linux [GCC] version")) == "pico"  # the sim


def test_unsupported_mpy_version_names_the_supported_one() -> None:
    _, emitted = mpy_cross_version(mpy_cross_exe())
    old = 5 | (4 << 10)  # .mpy v5 (MicroPython 1.12-1.18), armv6m
    with pytest.raises(ConfigError, match=f"supported: .*v{emitted}"):
        build_firmware(board="pico", sys_mpy=old)


def test_sys_mpy_arch_ignores_the_riscv_extension_flags() -> None:
    # RP2350-RISCV firmware carries MICROPY_RV32_EXTENSIONS from bit 16 (py/modsys.c): the arch index is
    # bits 10-13 only, so the board still gets rv32imc code, not an "unknown architecture" error.
    from picomic.deploy.build import parse_sys_mpy

    _, emitted = mpy_cross_version(mpy_cross_exe())
    major, minor = (int(v) for v in emitted.split("."))
    base = major | (minor << 8)
    assert parse_sys_mpy(base | (11 << 10)) == (major, minor, "rv32imc")
    assert parse_sys_mpy(base | (11 << 10) | (0b11 << 16)) == (major, minor, "rv32imc")  # zba, zcmp
    assert parse_sys_mpy(base | (4 << 10) | (1 << 16)) == (major, minor, "armv6m")
    riscv = build_firmware(board="pico2", sys_mpy=base | (11 << 10) | (0b11 << 16))
    assert riscv.arch == "rv32imc" and all(f.endswith(".mpy") for f in riscv.files if f.startswith(FW_PACKAGE))
    with pytest.raises(ConfigError, match="unknown native architecture index 15"):
        parse_sys_mpy(base | (15 << 10) | (1 << 16))


# ------------------------------------------------------------------------------------------------ errors


def test_no_board_error_tells_how_to_install_micropython(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(flash, "list_boards", lambda probe=False: [])
    with pytest.raises(LinkError, match="hold BOOTSEL") as info:
        flash.resolve_port("auto", None, "pico2", dry_run=False)
    assert "https://micropython.org/download/RPI_PICO2/ onto RP2350" in str(info.value)
    assert "\n" not in str(info.value)


def test_several_boards_are_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    boards = [{"port": "/dev/ttyACM0", "serial_number": "AA"}, {"port": "/dev/ttyACM1", "serial_number": "BB"}]
    monkeypatch.setattr(flash, "list_boards", lambda probe=False: boards)
    with pytest.raises(LinkError, match=r"ttyACM0 \(serial AA\); /dev/ttyACM1 \(serial BB\) — choose one"):
        flash.resolve_port("auto", None, None, dry_run=False)


def test_dry_run_without_a_board_plans_from_the_profile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(flash, "list_boards", lambda probe=False: [])
    monkeypatch.setattr(flash, "mpremote", lambda *a, **k: pytest.fail("a dry run without a board ran mpremote"))
    assert main(["flash", "--dry-run", "--board", "pico2"]) == 0
    out = capsys.readouterr().out
    _, emitted = mpy_cross_version(mpy_cross_exe())
    assert f".mpy v{emitted} for armv7emsp" in out and "profile pico2" in out
    assert "no board attached" in out and "dry run: nothing was changed" in out
    assert f"{FW_PACKAGE}/app.mpy" in out and "board.json" in out


def test_dry_run_source_ships_py(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(flash, "list_boards", lambda probe=False: [])
    assert main(["flash", "--dry-run", "--source"]) == 0
    out = capsys.readouterr().out
    assert "source (.py)" in out and f"{FW_PACKAGE}/app.py" in out


def test_fake_port_is_one_clear_line_not_a_traceback() -> None:
    proc = subprocess.run([sys.executable, "-m", "picomic.cli", "flash", "--port", "/dev/ttyACM99"],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert proc.returncode == LinkError.exit_code
    assert proc.stderr.strip() == (
        "picomic: /dev/ttyACM99 not found — is the board plugged in? (`picomic devices` lists boards)"
    )


@pytest.mark.parametrize(
    ("output", "error", "text"),
    [
        ("mpremote: failed to access /dev/ttyACM0", LinkError, "close other programs"),
        ("could not enter raw repl\nmpremote: ...", DeviceError, "ignores Ctrl-C"),
        ("Traceback...\nOSError: 28", DeviceError, "OSError: 28"),
    ],
)
def test_mpremote_errors_say_the_fix(output: str, error: type[Exception], text: str) -> None:
    exc = boardfs._mpremote_error("/dev/ttyACM0", output)
    assert isinstance(exc, error) and text in str(exc)


def test_firmware_version_matches_the_firmware_package() -> None:
    init = Path(flash.firmware_dir()) / FW_PACKAGE / "__init__.py"
    assert f'VERSION = "{flash.firmware_version()}"' in init.read_text()
