"""A `picomic serve` (or any Wyoming server) subprocess whose stderr is read in a thread: its bound URIs."""

from __future__ import annotations

import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
PICOMIC = [sys.executable, "-m", "picomic.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
_URI = re.compile(r"picomic: Wyoming (\w+) on tcp://([\d.]+):(\d+)")


class Proc:
    """A subprocess with stdout/stderr lines on queues (never blocks the test); killed at `close`."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ENV, cwd=ROOT
        )
        self.out: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        self._err_q: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.out, None), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, self._err_q, self.err), daemon=True).start()

    @staticmethod
    def _pump(stream: object, q: queue.Queue[str], keep: list[str] | None) -> None:
        for line in stream:  # type: ignore[attr-defined]
            q.put(line)
            if keep is not None:
                keep.append(line)

    def ports(self, names: tuple[str, ...], timeout_s: float = 60.0) -> dict[str, int]:
        """The ports `picomic serve` says it bound, by service name."""
        found: dict[str, int] = {}
        deadline = time.monotonic() + timeout_s
        while set(names) - set(found):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.proc.poll() is not None and self._err_q.empty():
                raise AssertionError(f"serve did not bind {names}: {''.join(self.err)}")
            try:
                line = self._err_q.get(timeout=min(remaining, 0.5))
            except queue.Empty:
                continue
            if m := _URI.search(line):
                found[m.group(1)] = int(m.group(3))
        return found

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def serve(*args: str) -> Proc:
    return Proc([*PICOMIC, "serve", *args])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout_s: float = 120.0, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"the server exited: {''.join(proc.err)}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")
