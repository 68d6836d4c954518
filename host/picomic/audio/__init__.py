"""Audio helpers shared by the simulator and the speech stages: resampling (PyAV) and reading audio files.

May import: picomic.errors, numpy, av, soundfile.
"""
