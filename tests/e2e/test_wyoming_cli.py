"""`serve`/`satellite`/`listen`'s Wyoming flags as a user meets them: one clear line and exit 2 for what cannot
work, the TOML config file (flags win), the security defaults."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest
from wyoming_proc import ENV, PICOMIC, ROOT, serve


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PICOMIC, *args], capture_output=True, text=True, timeout=120, env=ENV, cwd=ROOT)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["serve"], 2, "nothing to serve"),
        (["serve", "--mic-port", "0", "--host", "0.0.0.0", "--sim"], 2, "Wyoming has no authentication"),
        (["serve", "--asr-port", "0", "--allow", "10.0.0.0/33", "--host", "0.0.0.0"], 2, "not an address"),
        (["serve", "--wake-port", "0", "--wake-word", "okay_google"], 6, "the packaged ones are: alexa"),
        (["serve", "--satellite-port", "0", "--satellite-mode", "never"], 2, "invalid choice"),
        (["serve", "--mic-port", "0", "--zeroconf", "x", "--sim"], 2, "no other machine can reach"),
        (["listen", "--sim", "--asr-fallback"], 2, "--asr-fallback needs --asr-uri"),
        (["listen", "--sim", "--asr-uri", "http://h:1"], 2, "must be tcp://HOST:PORT"),
        (["listen", "--sim", "--asr-uri", "tcp://h:1", "--partials"], 2, "drop --partials"),
        (["listen", "--sim", "--wake-word", "okay_nabu", "--no-vad"], 2, "needs VAD and STT"),
    ],
)
def test_what_cannot_work_fails_in_one_line(args: list[str], code: int, message: str) -> None:
    proc = _run(*args)
    assert proc.returncode == code, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr


def test_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        proc = _run("serve", "--asr-port", str(busy.getsockname()[1]), "--seconds", "1")
    assert proc.returncode == 2 and "cannot serve Wyoming asr on 127.0.0.1:" in proc.stderr


def test_the_config_file_sets_what_the_flags_do_and_flags_win(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('asr-port = 0\nwake_port = 0\nwake_word = "hey_jarvis"\nmax_clients = 4\nseconds = 30\n')
    p = serve("--config", str(config), "--wake-word", "okay_nabu", "--seconds", "2")
    try:
        assert set(p.ports(("asr", "wake"))) == {"asr", "wake"}
        assert p.proc.wait(60) == 0  # --seconds 2 from the command line, not 30 from the file
    finally:
        p.close()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mic_prot = 1\n", "unknown setting 'mic_prot'"),
        ('asr_port = "many"\n', "asr_port: not a TCP port number"),
        ("allow = '10.0.0.0/8'\n", "allow must be a list"),
        ("json = 1\n", "json must be true or false"),
        ("asr_port = [\n", "is not TOML"),
    ],
)
def test_a_bad_config_file_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    proc = _run("serve", "--config", str(config))
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr


def test_metrics_count_the_wyoming_clients() -> None:
    import re
    import urllib.request

    p = serve("--wake-port", "0", "--metrics-port", "0", "--seconds", "30")
    try:
        port = p.ports(("wake",))["wake"]
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        url = ""
        for _ in range(100):
            url = next((m.group(0) for line in p.err if (m := re.search(r"http://\S+/metrics", line))), "")
            if url:
                break
            time.sleep(0.1)
        body = ""
        for _ in range(50):
            body = urllib.request.urlopen(url, timeout=5).read().decode()
            if 'picomic_wyoming_connections_total{service="wake"} 1.0' in body:
                break
            time.sleep(0.1)
        assert 'picomic_wyoming_connections_total{service="wake"} 1.0' in body
        assert 'picomic_wyoming_too_large_total{service="wake"} 0.0' in body and "picomic_frames_total" in body
    finally:
        p.close()
