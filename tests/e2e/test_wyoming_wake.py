"""The wake word for real: `listen --wake-word` transcribes only what follows the phrase; `serve --wake-port`
is a Wyoming wake service; `picomic satellite` is what Home Assistant connects to (run-satellite, detection,
run-pipeline, the audio after the wake word, no snd)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import numpy as np
import pytest
import soundfile as sf
from picomic.speech.transcribe import transcribe_pcm
from wyoming.asr import Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.event import Event
from wyoming.info import Describe, Info
from wyoming.pipeline import PipelineStage, RunPipeline
from wyoming.satellite import RunSatellite
from wyoming.wake import Detect, Detection, NotDetected
from wyoming_proc import FIXTURES, PICOMIC, Proc, serve
from wyoming_support import read_until, run, words

WAKE = json.loads((FIXTURES / "wake.json").read_text())
WAKE_FILE = FIXTURES / WAKE["file"]


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.close()


def _listen_json(*args: str) -> list[dict[str, object]]:
    p = Proc([*PICOMIC, "listen", "--json", "--fast", *args])
    try:
        assert p.proc.wait(120) == 0, "".join(p.err)
    finally:
        p.close()
    out = []
    while not p.out.empty():
        out.append(json.loads(p.out.get()))
    return out


def test_listen_with_a_wake_word_transcribes_only_the_command() -> None:
    evs = _listen_json("--sim", str(WAKE_FILE), "--wake-word", "okay_nabu")
    finals = [e for e in evs if e["type"] == "transcript" and e["final"]]
    assert [words(str(e["text"])) for e in finals] == [words(WAKE["command"])]
    detections = [e for e in evs if e["type"] == "detection"]
    assert len(detections) == 1 and detections[0]["name"] == "okay_nabu"
    assert WAKE["segments"][1][1] / 16000 - 0.2 <= float(detections[0]["t_s"]) <= WAKE["segments"][2][0] / 16000


def test_speech_without_the_wake_word_is_not_transcribed() -> None:
    evs = _listen_json("--sim", str(FIXTURES / "utt2_lights.flac"), "--wake-word", "okay_nabu")
    assert [e for e in evs if e["type"] in ("transcript", "detection")] == []
    assert any(e["type"] == "vad" for e in evs)  # it was heard, just not after a wake word


async def _detect(port: int, pcm: np.ndarray) -> Event:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Detect(names=["okay_nabu"]).event())
        await client.write_event(AudioStart(16000, 2, 1).event())
        data = pcm.astype("<i2").tobytes()
        for i in range(0, len(data), 3200):
            await client.write_event(AudioChunk(16000, 2, 1, data[i : i + 3200]).event())
        await client.write_event(AudioStop().event())
        events = await read_until(client, lambda e: Detection.is_type(e.type) or NotDetected.is_type(e.type))
        return events[-1]


def test_the_wake_service_detects_the_phrase_and_nothing_else(procs: list[Proc]) -> None:
    procs.append(p := serve("--wake-port", "0"))
    port = p.ports(("wake",))["wake"]
    wake_pcm, _ = sf.read(WAKE_FILE, dtype="int16")
    hit = run(_detect(port, wake_pcm))
    assert Detection.is_type(hit.type) and Detection.from_event(hit).name == "okay_nabu"
    ms = Detection.from_event(hit).timestamp or 0
    assert WAKE["segments"][1][1] / 16 - 200 <= ms <= WAKE["segments"][2][0] / 16
    other, _ = sf.read(FIXTURES / "utt2_lights.flac", dtype="int16")
    assert NotDetected.is_type(run(_detect(port, other)).type)


async def _home_assistant(port: int, mode: str) -> tuple[Info, list[Event], bytes]:
    """What Home Assistant's Wyoming integration does: describe, run-satellite, take the pipeline's audio."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        info = Info.from_event((await read_until(client, lambda e: Info.is_type(e.type)))[-1])
        await client.write_event(RunSatellite().event())
        events = await read_until(client, lambda e: RunPipeline.is_type(e.type))
        audio = b""
        while len(audio) < (3.0 if mode == "wake" else 1.0) * 32000:
            event = await asyncio.wait_for(client.read_event(), 30)
            assert event is not None
            events.append(event)
            if AudioChunk.is_type(event.type):
                audio += AudioChunk.from_event(event).audio
            elif AudioStop.is_type(event.type):  # the board's signal ended first (a slow run): so did the run
                events += await read_until(client, lambda e: e.type == "streaming-stopped")
                return info, events, audio
        await client.write_event(Transcript(text="turn on the kitchen lights").event())
        if mode == "wake":
            events += await read_until(client, lambda e: e.type == "streaming-stopped")
        return info, events, audio


def test_the_satellite_streams_what_follows_the_wake_word(procs: list[Proc]) -> None:
    procs.append(p := Proc([*PICOMIC, "satellite", "--satellite-port", "0", "--sim", str(WAKE_FILE)]))
    info, events, audio = run(_home_assistant(p.ports(("satellite",))["satellite"], "wake"), 90)
    assert info.satellite is not None and info.satellite.active_wake_words == ["okay_nabu"]
    assert info.snd == [] and info.mic[0].mic_format.rate == 16000  # no speaker on a picomic board
    types = [e.type for e in events]
    assert types[:2] == ["detection", "run-pipeline"]
    pipeline = RunPipeline.from_event(events[1])
    assert (pipeline.start_stage, pipeline.end_stage) == (PipelineStage.ASR, PipelineStage.HANDLE)
    assert pipeline.wake_word_name == "okay_nabu"
    assert types[-2:] == ["audio-stop", "streaming-stopped"]  # Home Assistant's transcript ended the run
    heard = transcribe_pcm(np.frombuffer(audio, dtype="<i2").copy())
    assert words(" ".join(t.text for t in heard)) == words(WAKE["command"])  # the command, not the phrase


def test_the_satellite_streams_always_in_always_mode(procs: list[Proc]) -> None:
    procs.append(
        p := serve("--satellite-port", "0", "--satellite-mode", "always", "--sim", "sine:440", "--seconds", "20")
    )
    _info, events, audio = run(_home_assistant(p.ports(("satellite",))["satellite"], "always"), 90)
    pipeline = RunPipeline.from_event(events[0])
    assert pipeline.start_stage == PipelineStage.WAKE and pipeline.restart_on_end
    assert len(audio) >= 32000
