"""The web view in a real headless Chromium (Debian's chromium driven by playwright), fed by `picomic listen
--web` with the simulated board playing a speech fixture in real time: the page shows the final transcript, a
moving meter, a spectrogram that is not blank and a clean link; it reconnects by itself when the server
restarts. The page as it looks then is saved as a PNG: to docs/web-view.png (shown in the README) with
PICOMIC_UPDATE_DOCS=1, else in the test's temporary folder (a test run leaves the checkout as it was)."""

from __future__ import annotations

import json
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiers import CHROMIUM_ARGS, require_chromium

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
DOCS_SCREENSHOT = ROOT / "docs" / "web-view.png"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


class Listen:
    """`picomic listen --web PORT ...` as a user runs it, its stderr read by a thread (every wait bounded)."""

    def __init__(self, *args: str) -> None:
        cmd = [sys.executable, "-m", "picomic.cli", "listen", *args]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.err: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.stdout = ""
        threading.Thread(target=self._read_stdout, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)
            self.lines.put(line)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def url(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "".join(self.err)
                continue
            match = re.search(r"web view on (http://\S+)", line)
            if match:
                return match.group(1)
        raise AssertionError(f"no web view URL within {timeout_s} s: {''.join(self.err)}")

    def wait(self, timeout_s: float = 60.0) -> int:
        return self.proc.wait(timeout_s)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def listen() -> Iterator[Any]:
    runs: list[Listen] = []

    def start(*args: str) -> Listen:
        runs.append(Listen(*args))
        return runs[-1]

    yield start
    for r in runs:
        r.stop()


@pytest.fixture
def page() -> Iterator[Any]:
    chromium = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=list(CHROMIUM_ARGS))
        try:
            pg = browser.new_page(viewport={"width": 1000, "height": 860})
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            pg.errors = errors
            yield pg
        finally:
            browser.close()


def fixture_text(name: str) -> str:
    manifest = json.loads((FIXTURES / "manifest.json").read_text())
    return str(next(e["text"] for e in manifest["files"] if e["file"] == name))


def words(text: str) -> list[str]:
    return "".join(c.lower() if c.isalnum() or c.isspace() else " " for c in text).split()


LIT_PIXELS_JS = """(sel) => {
  const c = document.querySelector(sel);
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lit = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] + d[i + 1] + d[i + 2] > 3 * 60) lit++;
  return lit / (c.width * c.height);
}"""


def _sample_until_final(page: Any, timeout_s: float) -> tuple[set[str], list[float]]:
    """The meter's dBFS text and the frames/s shown, sampled every 50 ms until a final transcript line shows."""
    seen: set[str] = set()
    rates: list[float] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seen.add(page.text_content("[data-field=rms_dbfs]") or "")
        rate = page.text_content("[data-field=frames_per_s]") or "—"
        rates += [float(rate)] if rate != "—" else []
        if page.query_selector(".transcript .final") is not None:
            return seen, rates
        page.wait_for_timeout(50)
    raise AssertionError(f"no final transcript on the page within {timeout_s} s")


def test_the_page_shows_what_a_simulated_board_hears(listen, page, tmp_path: Path) -> None:
    name = "utt2_lights.flac"
    run = listen("--sim", str(FIXTURES / name), "--web", "0", "--partials")
    url = run.url()
    page.goto(url)
    page.wait_for_selector("#connection[data-state=open]", timeout=10_000)
    meter_texts, rates = _sample_until_final(page, 90.0)
    assert run.wait(60) == 0, "".join(run.err)
    page.wait_for_selector("#connection[data-state=closed]", timeout=10_000)  # the server has gone

    final = page.text_content(".transcript .final .text") or ""
    assert words(final) == words(fixture_text(name))
    assert re.fullmatch(r"\[00:00\.[2-6]–00:0[3-4]\.\d\]", page.text_content(".transcript .final .t") or "")
    levels = {float(t.split()[0]) for t in meter_texts if t.endswith("dBFS")}
    assert len(levels) >= 5 and max(levels) > -40 and min(levels) < -60, levels  # it moved with the speech
    assert int(page.get_attribute(".board", "data-level-updates") or 0) >= 20
    assert page.evaluate(LIT_PIXELS_JS, "canvas.spectrogram") > 0.02  # speech lit the spectrogram
    assert page.evaluate(LIT_PIXELS_JS, "canvas.waveform") > 0.01
    assert page.text_content("[data-field=crc_errors]") == "0"
    assert page.text_content("[data-field=lost_frames]") == "0"
    assert page.text_content("[data-field=dropped_chunks]") == "0"
    assert rates and 80 <= statistics.median(rates) <= 120, rates  # 10 ms frames while streaming
    assert "pico" in (page.text_content(".board h2 .info") or "")
    assert page.errors == []

    # the server restarts on the same port: the page reconnects by itself and carries on
    port = url.rsplit(":", 1)[1].strip("/")
    session = page.get_attribute("#connection", "data-session")
    again = listen("--sim", str(FIXTURES / "utt1_box.flac"), "--web", port, "--no-stt", "--seconds", "3.5")
    again.url()
    page.wait_for_selector("#connection[data-connects='2'][data-state=open]", timeout=20_000)
    assert page.get_attribute("#connection", "data-session") != session
    levels_before = int(page.get_attribute(".board", "data-level-updates") or 0)
    page.wait_for_selector("[data-field=vad][data-speech=true]", timeout=20_000)  # the new stream is live
    page.wait_for_function(
        "(n) => +document.querySelector('.board').dataset.levelUpdates > n", arg=levels_before + 5, timeout=20_000
    )  # a function, not a string: the page's CSP forbids eval
    page.wait_for_timeout(700)
    shot = DOCS_SCREENSHOT if os.environ.get("PICOMIC_UPDATE_DOCS") == "1" else tmp_path / "web-view.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert 50 <= float(page.text_content("[data-field=frames_per_s]") or 0) <= 120  # counted afresh, not across runs
    assert again.wait(60) == 0, "".join(again.err)
    assert words(page.text_content(".transcript .final .text") or "") == words(fixture_text(name))  # kept
    assert page.errors == []


def test_the_pages_fft_and_audio_parser_agree_with_the_host(page) -> None:
    """The page's own modules in Chromium: the FFT finds a 1 kHz tone at its bin with its amplitude, and the
    binary parser reads what `picomic.web.messages.audio_message` builds (24-bit and a board id included)."""
    import numpy as np
    from picomic.bus.audiobus import AudioChunk
    from picomic.web.messages import audio_message
    from picomic.web.server import WebServer, WebSettings

    wide = np.array([-(2**23), 2**23 - 1, 4096, -1], dtype=np.int32)
    wide.flags.writeable = False
    data = audio_message(AudioChunk(5, 0.0, 48000, wide, stream_sample=2**33 + 7), "bench-2")
    with WebServer(WebSettings(port=0)) as server:
        page.goto(f"http://127.0.0.1:{server.port}/")
        result = page.evaluate(
            """async (bytes) => {
              const { FFT } = await import('/scope.js');
              const { parseAudio } = await import('/wire.js');
              const n = 512, fft = new FFT(n), x = new Float32Array(n), out = new Float32Array(n / 2);
              for (let i = 0; i < n; i++) x[i] = 0.5 * Math.sin(2 * Math.PI * 1000 * i / 16000);
              const mags = Array.from(fft.magnitudes(x, out));
              const peak = mags.indexOf(Math.max(...mags));
              const a = parseAudio(new Uint8Array(bytes).buffer);
              return { peak, amplitude: mags[peak], far: mags[100], audio: { ...a, samples: Array.from(a.samples) } };
            }""",
            list(data),
        )
    assert result["peak"] == 32 and abs(result["amplitude"] - 0.5) < 0.02 and result["far"] < 1e-3
    audio = result["audio"]
    assert audio["boardId"] == "bench-2" and audio["sampleRate"] == 48000 and audio["seq"] == 5
    assert audio["streamSample"] == 2**33 + 7
    assert audio["samples"] == pytest.approx([-1.0, 1 - 2**-23, 4096 / 2**23, -(2**-23)])


def test_each_board_id_gets_its_own_panel(page) -> None:
    """Messages of two boards (audio headers, levels, events with `board_id`) build two panels, each with its own
    meter, transcript and link figures."""
    import numpy as np
    from picomic.bus.audiobus import AudioChunk
    from picomic.outputs.view import MeterReading
    from picomic.web import messages
    from picomic.web.server import WebServer, WebSettings

    with WebServer(WebSettings(port=0)) as server:
        page.goto(f"http://127.0.0.1:{server.port}/")
        page.wait_for_selector("#connection[data-state=open]")
        for i, board in enumerate(("kitchen", "hall")):
            tone = (8000 * np.sin(np.arange(1600) * (0.3 + i))).astype(np.int16)
            tone.flags.writeable = False
            for k in range(10):
                chunk = AudioChunk(k, 0.0, 16000, tone[k * 160 : (k + 1) * 160], stream_sample=k * 160)
                server.publish(messages.audio_message(chunk, board))
            server.publish(messages.level_text(MeterReading(-20.0 - 10 * i, -6.0, -6.0, False, 16000, 1), board))
            final = {"type": "transcript", "board_id": board, "text": f"hello {board}", "final": True,
                     "start_s": 1.0, "end_s": 2.0, "latency_ms": 700.0}  # fmt: skip
            server.publish(messages.event_text(final))
            server.publish(messages.event_text({"type": "status", "board_id": board, "frames": 10, "crc_errors": i}))
        page.wait_for_selector("[data-board=hall] .transcript .final")
        assert page.eval_on_selector_all(".board", "els => els.map(e => e.dataset.board)") == ["kitchen", "hall"]
        for board, dbfs, crc in (("kitchen", "-20.0 dBFS", "0"), ("hall", "-30.0 dBFS", "1")):
            assert page.text_content(f"[data-board={board}] [data-field=rms_dbfs]") == dbfs
            assert page.text_content(f"[data-board={board}] .final .text") == f"hello {board}"
            assert page.text_content(f"[data-board={board}] [data-field=crc_errors]") == crc
    assert page.errors == []
