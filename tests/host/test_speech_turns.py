"""Turns (speech/turns.py) with the real model on the harder set: a sentence with pauses is one turn whose
revision holds the whole sentence; later pieces read the turn's text as prompt; turns end at the gap; best_finals."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from picomic.bench.stt import wer_counts
from picomic.bus.events import Transcript, TranscriptRevision
from picomic.speech.stt import StreamingPolicy, SttSettings
from picomic.speech.transcribe import transcribe_file
from picomic.speech.turns import best_finals
from picomic.speech.worker import Job, context_text
from speech_support import RATE_HZ, SET, set_entry, set_manifest, set_path, speech_events, whisper_model


def _policy(**kw: Any) -> SttSettings:
    return SttSettings(policy=StreamingPolicy(**kw))


def test_a_paused_sentence_is_one_turn_revised_to_the_whole_sentence() -> None:
    e = set_entry("p2_desk")  # "If you need anything else tonight," 0.5 s "just call the front desk" 0.9 s "and ..."
    events = speech_events(set_path("p2_desk"))
    finals = [x for x in events if isinstance(x, Transcript) and x.final]
    revisions = [x for x in events if isinstance(x, TranscriptRevision)]
    assert revisions and len(finals) == len(revisions) + 1, events  # every piece once; later ones revise the turn
    assert {x.turn for x in finals + revisions} == {finals[0].turn}  # type: ignore[operator]
    assert [r.pieces for r in revisions] == list(range(2, len(revisions) + 2))
    for revision in revisions:  # each right after its piece's final, which is not kept waiting for it
        before = events[events.index(revision) - 1]
        assert isinstance(before, Transcript) and before.final and before.end_s == revision.end_s
    plain = " ".join(t.text for t in finals).lower()  # a client reading only finals gets each piece's words once
    assert plain.count("tonight") == 1 and "maria" in plain
    sentence = e["sentences"][0]
    last = revisions[-1]
    assert abs(last.start_s - sentence["start_sample"] / RATE_HZ) <= 0.1
    assert abs(last.end_s - sentence["end_sample"] / RATE_HZ) <= 0.1
    (best,) = best_finals(events)
    assert best.text == last.text
    errors, words = wer_counts([e["text"]], [best.text])
    assert errors <= 1, (best.text, words)


def test_without_turns_the_pieces_stand_alone() -> None:
    events = speech_events(set_path("p3_package"), _policy(turn_gap_ms=0))  # 1.2 s pause after "delivered."
    assert not any(isinstance(x, TranscriptRevision) for x in events)
    finals = [x for x in events if isinstance(x, Transcript) and x.final]
    assert len(finals) == 2 and finals[0].turn != finals[1].turn


def test_a_pause_longer_than_the_turn_gap_starts_a_new_turn() -> None:
    e = set_entry("s1_show")  # sentences 1.5 s apart; the second has a 0.7 s pause inside
    found = transcribe_file(set_path("s1_show"), _policy(turn_gap_ms=1000), model=whisper_model())
    assert len(found) == len(e["sentences"]), [t.text for t in found]
    assert len({t.turn for t in found}) == len(found)
    for t, sentence in zip(found, e["sentences"], strict=True):
        assert abs(t.start_s - sentence["start_sample"] / RATE_HZ) <= 0.1
        assert abs(t.end_s - sentence["end_sample"] / RATE_HZ) <= 0.1
    errors, _ = wer_counts([s["text"] for s in e["sentences"]], [t.text for t in found])
    assert errors <= 1


def test_best_finals_replaces_a_turns_finals_with_its_last_revision() -> None:
    events = [
        Transcript("Hello there.", True, 0.0, 1.0, 500.0, turn=0),
        Transcript("hel", False, 2.0, 2.2, None),
        Transcript("How are", True, 2.0, 2.5, 400.0, turn=1),
        TranscriptRevision("How are you doing?", 1, 1, 2.0, 3.5, 450.0),
        Transcript("Fine.", True, 5.0, 5.5, 300.0, turn=2),
        TranscriptRevision("How are you doing today?", 1, 2, 2.0, 4.5, 420.0),
    ]
    assert [(t.text, t.turn, t.end_s) for t in best_finals(events)] == [
        ("Hello there.", 0, 1.0),
        ("How are you doing today?", 1, 4.5),
        ("Fine.", 2, 5.5),
    ]


@pytest.mark.slow
def test_no_first_or_last_word_is_clipped_on_the_set() -> None:
    """Pre-roll and post-roll: every sentence's first and last words are in the text the transcript holds."""
    from whisper_normalizer.english import EnglishTextNormalizer

    norm = EnglishTextNormalizer()
    missing = []
    for e in set_manifest()["files"]:
        if e["kind"] == "noise":
            continue
        hyp = norm(" ".join(t.text for t in transcribe_file(SET / e["file"], model=whisper_model()))).split()
        for sentence in e["sentences"]:
            ref = norm(sentence["text"]).split()
            missing += [(e["file"], w) for w in (ref[0], ref[-1]) if w not in hyp]
    assert not missing, missing


def _done(text: str, revises: int = 0) -> Job:
    return Job(np.zeros(0, np.float32), 0, 0, text=text, done=True, revises=revises)


def test_a_later_piece_reads_the_last_revision_and_the_finals_after_it_as_its_prompt() -> None:
    first, second = _done("If you need anything else tonight."), _done("Just call the front desk.")
    revision = _done("If you need anything else tonight, just call the front desk.", revises=2)
    assert context_text((first,)) == "If you need anything else tonight."
    assert context_text((first, second, revision)) == revision.text
    third = _done("And ask for Maria.")
    assert context_text((first, second, revision, third)) == f"{revision.text} And ask for Maria."
    assert context_text((first, second, _done("", revises=2))) == f"{first.text} {second.text}"  # an empty one
    assert context_text(()) is None
