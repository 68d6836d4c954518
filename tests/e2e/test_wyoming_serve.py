"""`picomic serve` started for real, with the wyoming package's own TCP client: the mic service streams a simulated
board's audio sample-exact (and resampled from another rate), the ASR service transcribes a speech fixture."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile as sf
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming_proc import FIXTURES, Proc, free_port, serve, wait_listening
from wyoming_support import run, transcribe, words


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.close()


async def _record(port: int) -> tuple[Info, list[AudioChunk], bool]:
    """Describe, then every audio chunk until audio-stop (True when it came)."""
    chunks: list[AudioChunk] = []
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info: Info | None = None
        while (event := await asyncio.wait_for(client.read_event(), 30)) is not None:
            if Info.is_type(event.type):
                info = Info.from_event(event)
            elif AudioStart.is_type(event.type):
                assert AudioStart.from_event(event).rate == 16000
            elif AudioChunk.is_type(event.type):
                chunks.append(AudioChunk.from_event(event))
            elif AudioStop.is_type(event.type):
                assert info is not None
                return info, chunks, True
    assert info is not None
    return info, chunks, False


@pytest.mark.parametrize("bits", ["16", "24"])
def test_the_mic_service_streams_the_board_sample_exact(procs: list[Proc], bits: str) -> None:
    src = FIXTURES / "utt1_box.flac"
    pcm, _ = sf.read(src, dtype="int16")
    procs.append(p := serve("--mic-port", "0", "--sim", str(src), "--bits", bits, "--json"))
    info, chunks, stopped = run(_record(p.ports(("mic",))["mic"]), 90)
    assert stopped and info.mic[0].name == "picomic-sim"
    assert (info.mic[0].mic_format.rate, info.mic[0].mic_format.width, info.mic[0].mic_format.channels) == (16000, 2, 1)
    for chunk in chunks:  # every sample delivered is the file's, at the place its timestamp says
        at = (chunk.timestamp or 0) * 16
        got = np.frombuffer(chunk.audio, dtype="<i2")
        assert np.array_equal(got, pcm[at : at + len(got)]), f"chunk at {at} differs"
    assert p.proc.wait(60) == 0
    status = [json.loads(line) for line in p.out.queue if '"type":"status"' in line][-1]
    joined = (chunks[0].timestamp or 0) * 16  # the client may connect after the first frames
    missing = len(pcm) - joined - sum(len(c.audio) // 2 for c in chunks)
    lost = status["lost_frames"] + status["dropped_chunks"]
    # all of it, unless a loaded machine made the simulated board lose frames: then each one is counted
    assert missing <= lost * 160, f"{missing} samples missing, but only {lost} frames counted as lost or dropped"
    assert "Wyoming mic: connections=1" in "".join(p.err)


def test_the_mic_service_resamples_a_48_khz_board_to_16_khz(procs: list[Proc]) -> None:
    procs.append(p := serve("--mic-port", "0", "--sim", "sine:1000", "--rate", "48000", "--seconds", "3"))
    _info, chunks, _stopped = run(_record(p.ports(("mic",))["mic"]), 90)
    got = np.frombuffer(b"".join(c.audio for c in chunks), dtype="<i2").astype(np.float64)
    assert chunks[0].rate == 16000 and len(got) > 16000
    spectrum = np.abs(np.fft.rfft(got[-16000:] * np.hanning(16000)))
    assert abs(int(np.argmax(spectrum)) - 1000) <= 2  # 1 Hz bins: the tone is still at 1 kHz
    peak_dbfs = 20 * np.log10(np.max(np.abs(got[-16000:])) / 32768)
    assert -21.0 < peak_dbfs < -19.0  # sine:1000 plays at a -20 dBFS peak


def test_the_asr_service_transcribes_for_the_wyoming_client(procs: list[Proc]) -> None:
    procs.append(p := serve("--asr-port", "0"))
    port = p.ports(("asr",))["asr"]
    pcm, _ = sf.read(FIXTURES / "utt2_lights.flac", dtype="int16")
    assert words(run(transcribe(port, pcm), 90)) == words("Please turn on the kitchen lights and open the front door.")
    p.proc.send_signal(signal.SIGTERM)
    assert p.proc.wait(30) == 128 + signal.SIGTERM
    assert "Wyoming asr: connections=1" in "".join(p.err)


def test_several_boards_get_a_mic_service_each_on_ports_counting_up(procs: list[Proc]) -> None:
    # DECISIONS 44: board 0 on the port given, board 1 on the next; each streams its own board, sample-exact
    files = [FIXTURES / "utt1_box.flac", FIXTURES / "utt2_lights.flac"]
    base = free_port()
    procs.append(p := serve("--mic-port", str(base), "--sim", str(files[0]), "--sim", str(files[1]), "--json"))
    for port in (base, base + 1):
        wait_listening(port, proc=p)

    async def both() -> list[tuple[Info, list[AudioChunk], bool]]:
        return list(await asyncio.gather(_record(base), _record(base + 1)))

    for (info, chunks, _), src in zip(run(both(), 90), files, strict=True):
        pcm, _ = sf.read(src, dtype="int16")
        assert chunks and info.mic[0].mic_format.rate == 16000
        for chunk in chunks:
            at = (chunk.timestamp or 0) * 16
            got = np.frombuffer(chunk.audio, dtype="<i2")
            assert np.array_equal(got, pcm[at : at + len(got)]), f"{src.name}: chunk at {at} differs"
    assert p.proc.wait(60) == 0
    events = [json.loads(line) for line in list(p.out.queue)]
    assert {e.get("board_id") for e in events if e["type"] == "device"} == {"utt1_box", "utt2_lights"}
    assert any(f"Wyoming mic of utt2_lights on tcp://127.0.0.1:{base + 1}" in line for line in p.err)
