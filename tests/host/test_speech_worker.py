"""The decode pool several boards share, with the real model (tiny.en): the model serves every worker, turns go
round robin, a final goes before a partial, each worker's finals stay in order, a closed worker leaves the pool."""

from __future__ import annotations

import threading
import time

import numpy as np
from picomic.bench.stt import wer_counts
from picomic.bus.events import Event, Transcript
from picomic.speech.decode import DecodeOptions
from picomic.speech.worker import DecodePool, DecodeWorker, Job
from speech_support import entry, load_pcm, whisper_model


def _speech(name: str) -> np.ndarray:
    e = entry(name)
    pcm = load_pcm(name)[e["speech_start_sample"] - 1600 : e["speech_end_sample"] + 1600]
    return pcm.astype(np.float32) / 32768.0


class Log:
    """Every Transcript emitted, as (worker name, text, final), in emission order."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: list[tuple[str, str, bool]] = []

    def emit_for(self, name: str):  # type: ignore[no-untyped-def]
        def emit(event: Event) -> None:
            if isinstance(event, Transcript):
                with self.lock:
                    self.items.append((name, event.text, event.final))

        return emit


def _workers(pool: DecodePool, log: Log, names: str) -> dict[str, DecodeWorker]:
    model = whisper_model()
    return {n: DecodeWorker(model, DecodeOptions(), log.emit_for(n), None, pool=pool) for n in names}


def _wait(cond, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_boards_take_turns_and_each_keeps_its_order() -> None:
    pool, log = DecodePool(), Log()
    try:
        w = _workers(pool, log, "ab")
        box, lights, coffee = _speech("utt1"), _speech("utt2"), _speech("utt3")
        for i, audio in enumerate((box, lights, coffee)):  # board a queues three finals at once
            w["a"].submit(Job(audio, i, i + 1))
        w["b"].submit(Job(box, 0, 1))  # then board b one: it must not wait for all of a's
        _wait(lambda: len(log.items) == 4)
        assert [name for name, _, _ in log.items] == ["a", "b", "a", "a"]
        a_texts = [text for name, text, _ in log.items if name == "a"]
        errors, words = wer_counts([entry(n)["text"] for n in ("utt1", "utt2", "utt3")], a_texts)
        assert errors <= 2 and words > 25, a_texts  # the right audio behind the right text, in stream order
        assert w["a"].decodes == 3 and w["b"].decodes == 1
    finally:
        pool.close()


def test_a_final_goes_before_a_partial_of_another_board() -> None:
    pool, log = DecodePool(), Log()
    try:
        w = _workers(pool, log, "abc")
        w["a"].submit(Job(_speech("utt1"), 0, 1))  # keeps the pool busy while the others queue
        w["b"].submit(Job(_speech("utt2"), 0, 1, final=False))
        w["c"].submit(Job(_speech("utt4"), 0, 1))
        _wait(lambda: len(log.items) == 3)
        assert [(name, final) for name, _, final in log.items] == [("a", True), ("c", True), ("b", False)]
    finally:
        pool.close()


def test_a_closed_worker_leaves_and_the_pool_serves_the_others() -> None:
    pool, log = DecodePool(), Log()
    try:
        w = _workers(pool, log, "ab")
        w["a"].submit(Job(_speech("utt1"), 0, 1))
        w["a"].submit(Job(_speech("utt2"), 1, 2))
        w["a"].close(timeout_s=0.0)  # its board ended: what it still had queued is dropped
        w["b"].submit(Job(_speech("utt4"), 0, 1))
        assert w["b"].wait_idle(60.0)
        assert w["a"].wait_idle(60.0)
        assert w["a"].decodes <= 1 and w["b"].decodes == 1
        assert ("b", log.items[-1][1], True) == log.items[-1]
    finally:
        pool.close()


def test_a_worker_is_idle_for_partials_only_when_the_whole_pool_is() -> None:
    pool, log = DecodePool(), Log()
    try:
        w = _workers(pool, log, "ab")
        assert w["a"].idle and w["b"].idle
        w["a"].submit(Job(_speech("utt1"), 0, 1))
        assert not w["b"].idle  # b has nothing queued, but a partial now would make a's final wait
        assert w["a"].wait_idle(60.0)
        _wait(lambda: w["b"].idle)
    finally:
        pool.close()


def test_among_finals_the_speech_that_ended_first_goes_first() -> None:
    pool, log = DecodePool(), Log()
    try:
        w = _workers(pool, log, "abc")
        now = time.monotonic() * 1000.0
        w["a"].submit(Job(_speech("utt1"), 0, 1, voiced_host_ms=now - 2000.0))  # first, busy or not yet
        w["b"].submit(Job(_speech("utt2"), 0, 1, voiced_host_ms=now - 100.0))  # b stopped talking last ...
        w["c"].submit(Job(_speech("utt4"), 0, 1, voiced_host_ms=now - 900.0))  # ... c long before: c first
        _wait(lambda: len(log.items) == 3)
        assert [name for name, _, _ in log.items] == ["a", "c", "b"]
    finally:
        pool.close()
