"""The picomic version (one place: the package, the firmware build and INFO compare it)."""

__version__ = "0.1.0"
