"""The emulated Pico: the official, unmodified MicroPython rp2 firmware (a UF2) running in the npm package
rp2040js, its USB CDC bridged to a host pty and a simulated INMP441 on its I2S pins. This package owns the
Node harness (`rp2040js/pico.mjs`, with its pinned package.json/lock), installing rp2040js into the user's
cache (`install`), validating UF2 and bootrom images (`uf2`), the harness process and its JSON events
(`process`) and the board a host opens like a real one (`board.EmulatedBoard`). It may import
`picomic.errors`, `picomic.sim` (signals, the I2S server and the relay) and `picomic.deploy`. See docs/emulator.md.
"""
