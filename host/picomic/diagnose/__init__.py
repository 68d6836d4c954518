"""`doctor`'s work: capturing a mono and a stereo stream from a board, and the diagnoses as pure functions over
arrays and counters (no data, stuck SD, wrong slot, DC, clipping, noise floor, rate, overruns, USB loss).

May import: picomic.errors, picomic.bus, picomic.link, picomic.deploy (board profiles).
"""
