"""The README's Python example runs as written (against the simulated board)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_python_example_runs() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1
    proc = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seq, rate, *_rest, crc_errors = proc.stdout.split()
    assert seq == "0" and rate == "16000" and crc_errors == "0"


def test_readme_commands_match_ci() -> None:
    text = README.read_text(encoding="utf-8")
    commands = re.findall(r"```sh\n(python3 -m venv .*?)\n```", text)
    assert len(commands) == 2, "README has exactly two set-up commands"
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci, ".ci/run must run the README's test command verbatim"
    assert commands[0].endswith("picomic listen --sim")
