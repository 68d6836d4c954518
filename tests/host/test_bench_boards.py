"""The `boards` bench entry on a small scale: two real simulated boards at once with the real model, each
board's own speech, the figures it reports and how `max_boards_ok` is decided."""

from __future__ import annotations

from pathlib import Path

from picomic.bench import boards
from picomic.bench.stt import wer_counts
from speech_support import whisper_model


def test_each_board_speaks_its_own_fixtures_after_its_own_lead_in(tmp_path: Path) -> None:
    (a, text_a), (b, text_b) = boards.board_signal(0, 2, tmp_path), boards.board_signal(1, 2, tmp_path)
    assert a != b and text_a != text_b
    assert text_a.split(".")[1].strip() == text_b.split(".")[0].strip()  # b starts where a goes on


def test_two_boards_at_once_report_every_figure(tmp_path: Path) -> None:
    row = boards.run_boards(2, whisper_model(), 1)
    assert row["boards"] == 2 and row["finals"] == 2 and not row["failed_boards"]
    assert row["bus_drops"] == 0 and row["decodes"] >= 2 and row["decode_p50_ms"] > 0
    assert 0 < row["host_cpu_per_board_pct"] < 200 and 0 < row["sim_cpu_per_board_pct"] < 100
    errors, words = wer_counts([boards.board_signal(i, 1, tmp_path)[1] for i in range(2)], row["texts"])
    assert errors <= 2 and words >= 20, row["texts"]
    assert boards.passes({**row, "p95_ms": 100.0}) and not boards.passes({**row, "p95_ms": 1600.0})
    assert not boards.passes({**row, "p95_ms": 100.0, "bus_drops": 1})
