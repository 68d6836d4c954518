"""Voice front-end stages: bus listeners that publish derived streams (DECISIONS 35, 43).

A `Stage` (`stage`) listens to one bus stream (the source's `raw`, or another stage's output), brings it to
16 kHz int16 in 10 ms blocks on the same timeline (`timeline`: sequence numbers and capture times kept),
runs a `Processor` (`processors`: high-pass, WebRTC noise suppression and automatic gain, RNNoise) and
publishes the result as a new stream on the same bus; chunks are never modified in place. `chain` turns
`StageSettings` into the stages of a pipeline and runs the same processors over a whole signal (doctor, bench).

May import: picomic.bus, picomic.audio, picomic.speech.frontend (the 16 kHz front end), picomic.stream
(protocol constants), picomic.errors; never link/, cli/, sim/, outputs/.
"""
