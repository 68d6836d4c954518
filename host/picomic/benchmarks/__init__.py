"""Benchmarks behind `picomic bench` (each module: an importable function returning a dict + `python -m`)."""
