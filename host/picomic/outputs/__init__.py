"""Where a stream goes besides speech: recordings (WAV/FLAC/raw on the stream timeline), JSON Lines, Prometheus
metrics, the live level meter and view.

May import: picomic.errors, picomic.bus, picomic.stream (constants). Never picomic.link or picomic.cli.
"""
