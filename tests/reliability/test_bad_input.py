"""Every misuse of `picomic` gets one clear line (`picomic: …` or argparse's `picomic X: error: …`), a non-zero
exit code and no traceback — before any board or model starts. Real subprocesses, run a few at a time."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from relsupport import ENV, PICOMIC, ROOT

FIXTURE = str(ROOT / "tests" / "fixtures" / "utt1_box.flac")
# CI runs as root, so permission errors are injected (DECISIONS 27): open() of a *deny.* path fails EACCES.
DENY = (
    "import builtins, errno, sys\n"
    "_open = builtins.open\n"
    "def _deny(f, *a, **k):\n"
    "    if 'deny.' in str(f):\n"
    "        raise PermissionError(errno.EACCES, 'Permission denied', str(f))\n"
    "    return _open(f, *a, **k)\n"
    "builtins.open = _deny\n"
    "from picomic.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]
    code: int
    message: str
    inject: bool = False


def cases(tmp: Path, busy_port: int) -> dict[str, Case]:
    folder = tmp / "folder.wav"
    folder.mkdir(exist_ok=True)
    sim = ("listen", "--sim", "--no-stt")
    return {
        "negative seconds": Case(("listen", "--sim", "--seconds", "-1"), 2, "--seconds: must be > 0 seconds"),
        "nan seconds (record)": Case(("record", str(tmp / "a.wav"), "--sim", "--seconds", "nan"), 2, "must be > 0"),
        "frame-ms 3": Case(("listen", "--sim", "--frame-ms", "3"), 2, "frame length must be 5..64 ms"),
        "gain 99": Case(("listen", "--sim", "--gain", "99"), 2, "gain must be 0..8 bits"),
        "rate x frame not whole": Case(("listen", "--sim", "--rate", "44100", "--frame-ms", "7"), 2, "whole samples"),
        "rate not a number": Case(("listen", "--rate", "abc"), 2, "invalid int value: 'abc'"),
        "ber 2": Case((*sim, "--ber", "2"), 2, "--ber must be a probability in [0, 1)"),
        "drop-bytes -1": Case((*sim, "--drop-bytes", "-1"), 2, "--drop-bytes must be a probability"),
        "unplug-at nan": Case((*sim, "--unplug-at", "nan"), 2, "--unplug-at must be >= 0 seconds"),
        "drift 1e9": Case((*sim, "--drift-ppm", "1e9"), 2, "--drift-ppm must be within"),
        "mic-fault bogus": Case((*sim, "--mic-fault", "bogus"), 2, "unknown --mic-fault 'bogus'"),
        "metrics-port 70000": Case((*sim, "--metrics-port", "70000"), 2, "70000 is not a TCP port"),
        "metrics-port busy": Case((*sim, "--metrics-port", str(busy_port)), 2, "Address already in use"),
        "record to a folder": Case((*sim, "--record", str(tmp)), 2, "use a .wav or .flac file name"),
        "record to a folder.wav": Case((*sim, "--record", str(folder)), 2, "it is a folder"),
        "record, no such folder": Case((*sim, "--record", "/nonexistent/x.wav"), 2, "does not exist"),
        "record unwritable": Case((*sim, "--record", str(tmp / "deny.wav")), 2, "Permission denied", inject=True),
        "record - in listen": Case(("listen", "--sim", "--record", "-"), 2, "use picomic record -"),
        "transcript unwritable": Case(
            (*sim, "--transcript", str(tmp / "deny.jsonl")), 2, "Permission denied", inject=True
        ),
        "transcript to a folder": Case((*sim, "--transcript", str(tmp)), 2, "Is a directory"),
        "partials 0": Case(("listen", "--sim", "--partials", "0"), 2, "must be >= 100 ms"),
        "unknown --board on listen": Case(("listen", "--sim", "--board", "nope"), 2, "unrecognized arguments"),
        "sim unknown board": Case(("sim", "--board", "nope"), 2, "unknown board 'nope'"),
        "sim bad signal": Case(("sim", "sine:abc"), 2, "bad signal 'sine:abc'"),
        "sim missing file": Case(("sim", "nope.wav"), 2, "does not exist"),
        "sim noise floor +50": Case(("sim", "--noise-floor", "50"), 2, "--noise-floor must be within"),
        "sim loop stdin": Case(("sim", "--loop", "-"), 2, "--loop cannot replay stdin"),
        "record without OUT": Case(("record",), 2, "required: OUT"),
        "record .mp3": Case(("record", "out.mp3", "--sim"), 2, "use a .wav or .flac"),
        "listen a non-audio file": Case(("listen", "--sim", "/etc/hostname", "--no-stt"), 2, "/etc/hostname"),
        "transcribe non-audio": Case(("transcribe", "/etc/hostname"), 2, "cannot decode /etc/hostname as audio"),
        "transcribe a folder": Case(("transcribe", str(tmp)), 2, "a folder"),
        "transcribe unknown model": Case(("transcribe", "--model", "nope", FIXTURE), 6, "unknown model 'nope'"),
        "language with an English-only model": Case(
            ("transcribe", "--language", "de", FIXTURE), 6, "--language de needs a multilingual model"
        ),
        "port is not a tty": Case(("listen", "--port", "/dev/null", "--no-stt"), 3, "is not a serial port"),
        "no board": Case(("listen", "--no-stt"), 3, "no board found"),
        "unknown command": Case(("nosuch",), 2, "invalid choice: 'nosuch'"),
        "bench unknown entry": Case(("bench", "--only", "nope"), 2, "unknown bench entry nope"),
    }


@dataclass
class Ran:
    code: int
    out: str
    err: str
    seconds: float


def _run(case: Case) -> Ran:
    cmd = [sys.executable, "-c", DENY, *case.args] if case.inject else [*PICOMIC, *case.args]
    t0 = time.monotonic()
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=ENV, cwd=ROOT, stdin=subprocess.DEVNULL)
    return Ran(p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Ran]]:
    tmp = tmp_path_factory.mktemp("bad")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        table = cases(tmp, busy.getsockname()[1])
        with ThreadPoolExecutor(max_workers=3) as pool:
            ran = dict(zip(table, pool.map(_run, table.values()), strict=True))
        yield {name: ran[name] for name in table}


@pytest.mark.parametrize("name", list(cases(Path("/tmp"), 1)))
def test_misuse_gets_one_clear_error(results: dict[str, Ran], name: str, tmp_path: Path) -> None:
    case = cases(tmp_path, 1)[name]
    r = results[name]
    assert r.code == case.code, (r.code, r.err)
    assert "Traceback" not in r.err, r.err
    last = r.err.strip().splitlines()[-1]
    assert last.startswith("picomic") and case.message in last, r.err
    assert len([x for x in r.err.splitlines() if x.startswith("picomic")]) == 1, r.err
    assert r.seconds < 15.0, f"{name}: the error came after {r.seconds:.1f} s (a board or model started?)"


def test_devices_with_no_board_is_not_an_error() -> None:
    r = _run(Case(("devices",), 0, ""))
    assert r.code == 0 and "no board found" in r.out and "picomic flash" not in r.err
    assert "use --sim" in r.out
