"""Stable partials (speech/stable.py): committed words never change; with the real model at real-time pace every
partial starts with the text the previous one committed."""

from __future__ import annotations

import pytest
from picomic.bus.events import Transcript
from picomic.speech.stable import PartialStabilizer
from picomic.speech.stt import StreamingPolicy, SttSettings
from speech_support import set_path, speech_events


def test_words_two_hypotheses_agree_on_are_committed_and_kept() -> None:
    s = PartialStabilizer()
    assert s.update("the package") == ("the package", 0)
    assert s.update("the package should") == ("the package should", len("the package"))
    text, stable = s.update("a package should be")  # the decoder changed committed words: they stay
    assert text == "the package should be" and stable == len("the package should")
    text, stable = s.update("the packet")  # a shorter hypothesis never takes committed words back
    assert text == "the package should" and stable == len("the package should")


@pytest.mark.slow
def test_real_time_partials_never_rewrite_committed_text() -> None:
    settings = SttSettings(policy=StreamingPolicy(partials_interval_ms=200, turn_gap_ms=0))
    events = speech_events(set_path("u1_lighthouse"), settings, realtime=True)
    partials = [x for x in events if isinstance(x, Transcript) and not x.final and x.turn is None]
    assert len(partials) >= 3, events
    by_start: dict[float, list[Transcript]] = {}
    for p in partials:
        by_start.setdefault(p.start_s, []).append(p)
    committed_any = False
    for run in by_start.values():
        for before, after in zip(run, run[1:], strict=False):
            assert before.stable_chars is not None and after.stable_chars is not None
            assert after.text.startswith(before.text[: before.stable_chars])
            assert after.stable_chars >= before.stable_chars
            committed_any = committed_any or after.stable_chars > 0
    assert committed_any
