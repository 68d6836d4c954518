"""A packaged wake-word model (pymicro-wakeword's microWakeWord models) fed 16 kHz 16-bit mono PCM.

`WakeDetector` is the one place that runs the model: the bus listener (`wake.WakeListener`), the Wyoming wake
service and the satellite all feed it bytes. Model names are the packaged file stems (DECISIONS 45):
`okay_nabu`, `hey_jarvis`, `hey_mycroft`, `alexa`. pymicro-wakeword is Linux-first (DECISIONS 46) and an
optional dependency: a missing package is a `ModelError` that says how to install it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from picomic.errors import ModelError

WAKE_EXTRA = "picomic[wyoming]"
REFRACTORY_MS = 1000
"""After a detection the model is reset and stays deaf this long (one phrase fires once)."""
_BYTES_PER_MS = 32  # 16 kHz × 2 bytes


def _package() -> Any:
    try:
        import pymicro_wakeword
    except ImportError as exc:
        raise ModelError(
            f"wake words need pymicro-wakeword (Linux, glibc >= 2.35): pip install '{WAKE_EXTRA}'"
        ) from exc
    return pymicro_wakeword


def wake_model_names() -> list[str]:
    """The packaged wake-word models (file stems), sorted; [] without pymicro-wakeword."""
    try:
        pkg = _package()
    except ModelError:
        return []
    return sorted(p.stem for p in (Path(pkg.__file__).parent / "models").glob("*.json"))


class WakeDetector:
    """One wake-word model over a stream of 16 kHz int16 mono bytes. Not thread-safe (one owner)."""

    def __init__(self, name: str) -> None:
        pkg = _package()
        names = wake_model_names()
        if name not in names:
            raise ModelError(f"no wake-word model {name!r}; the packaged ones are: {', '.join(names)}")
        self.name = name
        self._model = pkg.MicroWakeWord.from_builtin(pkg.Model(name))
        self._features = pkg.MicroWakeWordFeatures()
        self.phrase: str = str(self._model.wake_word)
        self.languages: list[str] = list(self._model.trained_languages)
        self._deaf_bytes = 0
        self.fed_bytes = 0
        """PCM bytes fed since the last `reset` (2 per sample)."""

    def feed(self, pcm16: bytes) -> bool:
        """Feed PCM; True when the wake word fired in it (at `fed_bytes // 2` samples, block resolution)."""
        self.fed_bytes += len(pcm16)
        if self._deaf_bytes > 0:
            skip = min(self._deaf_bytes, len(pcm16))
            self._deaf_bytes -= skip
            pcm16 = pcm16[skip:]
        for features in self._features.process_streaming(pcm16):
            if self._model.process_streaming(features):
                self._model.reset()
                self._deaf_bytes = REFRACTORY_MS * _BYTES_PER_MS
                return True  # the rest of this block falls in the refractory time
        return False

    def reset(self) -> None:
        """Forget the audio so far (a new stream)."""
        self._model.reset()
        self._features.reset()
        self._deaf_bytes = 0
        self.fed_bytes = 0
