"""The unix-port simulated board: the real `micropython` running the firmware build on a pty, its signal
sources and INMP441 words, the I2S socket server and the wire relay (faults, unplug). The MicroPython side of the
simulator lives in firmware/sim/ (it ships with the firmware; `flash` never copies it).

May import: picomic.errors, picomic.audio, picomic.deploy (the firmware build), picomic.stream (constants).
"""
