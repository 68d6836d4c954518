# picomic firmware: streams an INMP441 over USB CDC as CRC-checked frames (docs/protocol.md).
# Hardware enters only through main.py, which hands real objects to picomic_fw.app.run; every other
# module runs unchanged on the unix port (tests, simulated board).

VERSION = "0.1.0"
