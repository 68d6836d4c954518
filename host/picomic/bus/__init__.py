"""The in-process audio bus: AudioChunk, AudioBus and Listener (bounded, drop-oldest, zero copies), one
consumer thread per listener, PipelineStatus and the event types every component emits.

May import: picomic.errors and numpy only — it is the layer everything else stands on.
"""
