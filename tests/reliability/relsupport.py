"""Shared constants of the reliability suite (a plain module: conftest names clash across test folders)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PICOMIC = [sys.executable, "-m", "picomic.cli"]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
