"""The ASR service in-process: the wyoming package's own client gets picomic's transcript; bad requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
from picomic.speech.stt import SttSettings
from picomic.wyoming.access import AccessPolicy
from picomic.wyoming.asr import AsrEngine, AsrService
from picomic.wyoming.limits import Limits
from picomic.wyoming.runner import ServiceRunner
from speech_support import entry, load_pcm, whisper_model
from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming_support import run, transcribe, words


@pytest.fixture
def asr() -> Iterator[ServiceRunner]:
    runner = ServiceRunner(AccessPolicy(), Limits(max_audio_s=20.0))
    service = AsrService(AsrEngine(SttSettings(), model=whisper_model()), runner.guard("asr"))
    runner.add(service.guard, 0, service.handler)
    runner.start()
    yield runner
    runner.stop()
    service.engine.close()


def test_the_wyoming_client_gets_the_transcript_of_a_fixture(asr: ServiceRunner) -> None:
    port = asr.services[0].server.port
    text = run(transcribe(port, load_pcm("utt2_lights")))
    assert words(text) == words(entry("utt2_lights")["text"])


def test_audio_at_another_rate_is_resampled(asr: ServiceRunner) -> None:
    from picomic.audio.resample import resample_i16

    pcm = resample_i16(load_pcm("utt1_box"), 16000, 44100)
    text = run(transcribe(asr.services[0].server.port, pcm, rate_hz=44100))
    assert words(text) == words(entry("utt1_box")["text"])


def test_concurrent_clients_each_get_their_own_transcript(asr: ServiceRunner) -> None:
    port = asr.services[0].server.port
    names = ("utt1_box", "utt2_lights", "utt4_weather")

    async def all_at_once() -> list[str]:
        return list(await asyncio.gather(*(transcribe(port, load_pcm(n)) for n in names)))

    texts = run(all_at_once(), 120)
    assert [words(t) for t in texts] == [words(entry(n)["text"]) for n in names]


def test_describe_names_the_model(asr: ServiceRunner) -> None:
    async def describe() -> Info:
        async with AsyncTcpClient("127.0.0.1", asr.services[0].server.port) as client:
            await client.write_event(Describe().event())
            event = await client.read_event()
            assert event is not None
            return Info.from_event(event)

    info = run(describe())
    assert info.asr[0].models[0].name == "tiny.en" and info.asr[0].models[0].languages == ["en"]


def test_too_much_audio_gets_an_error_and_a_disconnect(asr: ServiceRunner) -> None:
    async def flood() -> tuple[str, object]:
        async with AsyncTcpClient("127.0.0.1", asr.services[0].server.port) as client:
            await client.write_event(AudioStart(16000, 2, 1).event())
            second = np.zeros(16000, np.int16).tobytes()
            for _ in range(21):
                await client.write_event(AudioChunk(16000, 2, 1, second).event())
            event = await client.read_event()
            assert event is not None and Error.is_type(event.type)
            return Error.from_event(event).text, await client.read_event()

    text, after = run(flood())
    assert "more than 20 s" in text and after is None
    assert asr.snapshot()["asr"]["too_large"] == 1


def test_a_bad_audio_format_is_refused(asr: ServiceRunner) -> None:
    async def bad() -> str:
        async with AsyncTcpClient("127.0.0.1", asr.services[0].server.port) as client:
            await client.write_event(AudioStart(96000, 3, 1).event())
            event = await client.read_event()
            assert event is not None and Error.is_type(event.type)
            return Error.from_event(event).text

    assert "rate must be 8000..48000" in run(bad())
    assert asr.snapshot()["asr"]["malformed"] == 1


def test_clients_queue_fairly_one_request_each_in_arrival_order(asr: ServiceRunner) -> None:
    port = asr.services[0].server.port
    pcm = load_pcm("utt1_box")
    done: list[str] = []

    async def greedy(first_sent: asyncio.Event) -> None:
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for i in range(3):
                await client.write_event(Transcribe().event())
                await client.write_event(AudioStart(16000, 2, 1).event())
                await client.write_event(AudioChunk(16000, 2, 1, pcm.tobytes()).event())
                await client.write_event(AudioStop().event())
                first_sent.set()
                while not Transcript.is_type((event := await client.read_event()).type):  # type: ignore[union-attr]
                    pass
                assert event is not None and words(Transcript.from_event(event).text) == words(
                    entry("utt1_box")["text"]
                )
                done.append(f"greedy{i + 1}")

    async def polite(first_sent: asyncio.Event) -> None:
        await first_sent.wait()  # the greedy client's first request is decoding now
        await transcribe(port, pcm)
        done.append("polite")

    async def both() -> None:
        first_sent = asyncio.Event()
        await asyncio.gather(greedy(first_sent), polite(first_sent))

    run(both(), 120)
    assert done == ["greedy1", "polite", "greedy2", "greedy3"]  # it waited for one request, not three
