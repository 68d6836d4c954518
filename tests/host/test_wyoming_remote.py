"""RemoteAsr (the `--asr-uri` transcriber) against picomic's own ASR service in-process: transcripts; the server
gone → one unreachable event, the fallback, backoff; back → one reachable event."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
from picomic.audio.pcm import to_float32
from picomic.bus.events import Event, RemoteAsrEvent
from picomic.errors import ConfigError
from picomic.speech.stt import SttSettings
from picomic.wyoming.access import AccessPolicy
from picomic.wyoming.asr import AsrEngine, AsrService
from picomic.wyoming.limits import Limits
from picomic.wyoming.remote import RemoteAsr, RemoteAsrSettings
from picomic.wyoming.runner import ServiceRunner
from speech_support import entry, load_pcm, whisper_model
from wyoming_support import words


def _server(port: int = 0) -> ServiceRunner:
    runner = ServiceRunner(AccessPolicy(), Limits())
    service = AsrService(AsrEngine(SttSettings(), model=whisper_model()), runner.guard("asr"))
    runner.add(service.guard, port, service.handler)
    runner.start()
    return runner


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_utterance_goes_to_the_server_and_its_transcript_comes_back() -> None:
    runner = _server()
    try:
        events: list[Event] = []
        asr = RemoteAsr(RemoteAsrSettings(f"tcp://127.0.0.1:{runner.services[0].server.port}"), events.append)
        assert words(asr(to_float32(load_pcm("utt1_box")))) == words(entry("utt1_box")["text"])
        assert (asr.remote, asr.local, asr.lost, events) == (1, 0, 0, [])
    finally:
        runner.stop()


def test_unreachable_then_back_with_backoff_and_fallback() -> None:
    port = _free_port()
    events: list[Event] = []
    settings = RemoteAsrSettings(f"tcp://127.0.0.1:{port}", backoff_min_s=0.3, backoff_max_s=0.3)
    asr = RemoteAsr(settings, events.append, fallback=lambda audio: f"local {len(audio)}")
    audio = to_float32(load_pcm("utt2_lights"))
    assert asr(audio) == f"local {len(audio)}"
    assert asr(audio) == f"local {len(audio)}"  # within the backoff: not even tried
    assert len(events) == 1 and isinstance(events[0], RemoteAsrEvent) and events[0].state == "unreachable"
    assert "cannot connect" in events[0].message and "the local model transcribes" in events[0].message
    runner = _server(port)
    try:
        time.sleep(0.35)
        assert words(asr(audio)) == words(entry("utt2_lights")["text"])
        assert [e.state for e in events if isinstance(e, RemoteAsrEvent)] == ["unreachable", "reachable"]
        assert (asr.remote, asr.local) == (1, 2)
    finally:
        runner.stop()


def test_without_fallback_utterances_are_counted_as_lost() -> None:
    events: list[Event] = []
    asr = RemoteAsr(RemoteAsrSettings(f"tcp://127.0.0.1:{_free_port()}"), events.append)
    assert asr(np.zeros(16000, np.float32)) == ""
    assert asr.lost == 1 and "not transcribed" in events[0].message  # type: ignore[union-attr]


def test_a_server_that_never_answers_times_out() -> None:
    with socket.socket() as silent:  # accepts (the backlog) but never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        events: list[Event] = []
        settings = RemoteAsrSettings(f"tcp://127.0.0.1:{silent.getsockname()[1]}", timeout_s=0.5)
        t0 = time.monotonic()
        assert RemoteAsr(settings, events.append)(np.zeros(1600, np.float32)) == ""
        assert time.monotonic() - t0 < 5.0
        assert "sent no transcript within 0.5 s" in events[0].message  # type: ignore[union-attr]


@pytest.mark.parametrize("uri", ["http://x:1", "tcp://host", "tcp://:99", "tcp://h:99999"])
def test_a_bad_uri_is_a_config_error(uri: str) -> None:
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        RemoteAsrSettings(uri).address  # noqa: B018
