"""Speech on the bus: Silero VAD, faster-whisper STT (finals, partials, speculative final decode), the decode
worker and model resolution.

May import: picomic.errors, picomic.bus, picomic.audio. Never picomic.link, picomic.sim or picomic.cli.
"""
