"""Getting the firmware onto a board: building it (mpy-cross, per .mpy version and arch, cached), the board's
filesystem through mpremote, and `flash`'s plan, copy, verify and reset.

May import: picomic.errors, picomic.version, picomic.link, picomic.stream.
"""
