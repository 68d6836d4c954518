# mypy: ignore-errors
# The simulated board's MicroPython modules (machine, time, _simcfg). The `picomic sim` process puts this
# folder on the board interpreter's sys.path (MICROPYPATH); the host package never imports these files.
