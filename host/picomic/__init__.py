"""picomic: a Raspberry Pi Pico + INMP441 microphone as a reliable, measurable voice input."""

__version__ = "0.1.0"
