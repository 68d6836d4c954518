"""Issue 6's end-to-end promise: through the whole simulated path (simulated board running the real firmware
→ pty → decoder → bus → VAD → STT) the WER on the fixture set is at most 1 point above batch faster-whisper
on the same files with the same model and decode options."""

from __future__ import annotations

from picomic.bench.stt import batch_wer, sim_wer
from picomic.speech.stt import SttSettings, load_model


def test_simulated_path_wer_is_within_one_point_of_batch() -> None:
    settings = SttSettings()
    model = load_model(settings)
    sim = sim_wer(model, settings)
    batch = batch_wer(model, settings)
    assert sim["words"] == batch["words"] > 50
    assert sim["crc_errors"] == 0 and sim["lost_frames"] == 0 and sim["frames"] > 1500
    assert sim["wer"] <= batch["wer"] + 0.01, (sim["hyps"], batch["hyps"])
    assert sim["errors"] <= 6  # ≤ 10 % of the 68 words, stated in words too (DECISIONS 26)
