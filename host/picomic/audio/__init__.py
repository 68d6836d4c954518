"""Audio as numbers: sample-format conversion (`pcm`), resampling (`resample`) and audio files (`files`).

Owns how PCM becomes float32 and back, the one resampling path (any rate to any rate, streaming or whole,
on libswresample through PyAV) and reading audio files into mono samples. It knows nothing of frames, the
bus, speech or the board: it may import numpy, PyAV, soundfile and `picomic.errors`, and nothing else from
picomic (every other subpackage may import it).
"""
