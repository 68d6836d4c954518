"""`picomic transcribe` and `listen` with the turn, endpoint and vocabulary flags, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from test_cli import ENV, PICOMIC, ROOT, events, run

SET = ROOT / "tests" / "fixtures" / "speechset"


def test_transcribe_with_turn_and_word_flags_gives_one_line_per_turn_with_words() -> None:
    proc = run(
        "transcribe", str(SET / "p5_muted.flac"), "--json", "--word-timestamps", "--hotwords", "microphones",
        "--initial-prompt", "Meeting notes.", "--end-sentence-ms", "250", "--end-max-ms", "900",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (turn,) = events(proc.stdout)  # two pauses inside: one turn, its revision applied
    assert turn["type"] == "transcript" and turn["final"] is True and isinstance(turn["turn"], int)
    assert "muted" in str(turn["text"]).lower()
    words = turn["words"]
    assert isinstance(words, list) and [w["word"] for w in words] == str(turn["text"]).split()


def test_inconsistent_endpoint_flags_are_one_clear_line() -> None:
    proc = run("transcribe", str(SET / "u3_plants.flac"), "--end-sentence-ms", "2000", "--end-max-ms", "900")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert err[-1].startswith("picomic: ") and "--end-max-ms" in err[-1] and "Traceback" not in proc.stderr


def test_listen_transcript_file_holds_revisions(tmp_path: Path) -> None:
    out = tmp_path / "t.jsonl"
    proc = subprocess.run(
        [*PICOMIC, "listen", "--sim", str(SET / "p1_train.flac"), "--fast", "--transcript", str(out), "--json"],
        capture_output=True, text=True, timeout=180, env=ENV, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    kinds = [x["type"] for x in lines if x["type"] in ("transcript", "revision")]
    # "When the train finally arrived." 0.6 s "everyone on the ...": each piece a final, then the turn revised
    assert kinds == ["transcript", "transcript", "revision"]
    first, second = (x for x in lines if x["type"] == "transcript")
    (revision,) = (x for x in lines if x["type"] == "revision")
    assert revision["pieces"] == 2 and revision["turn"] == first["turn"] == second["turn"]
    assert "train" not in str(second["text"]).lower() and "cheer" in str(second["text"]).lower()
    assert "train" in str(revision["text"]).lower() and "cheer" in str(revision["text"]).lower()


def test_transcribe_shows_a_progress_bar_on_a_terminal_only() -> None:
    # DECISIONS 47: a rich progress bar with the time left on stderr when it is a terminal; nothing when piped
    import os
    import pty

    fixture = str(SET / "u3_plants.flac")
    leader, follower = pty.openpty()
    proc = subprocess.Popen([*PICOMIC, "transcribe", fixture], stdout=subprocess.PIPE, stderr=follower, env=ENV,
                            cwd=ROOT, text=True)  # fmt: skip
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=180)
    os.close(leader)
    assert proc.returncode == 0 and "plant" in out.lower(), out
    assert b"transcribing u3_plants.flac" in seen and b"%" in seen, seen[-400:]
    piped = run("transcribe", fixture)
    assert piped.returncode == 0 and "transcribing" not in piped.stderr, piped.stderr
