"""Speech: voice activity detection and speech-to-text over the audio bus.

Owns the speech front end (`frontend`: bus chunks → one 16 kHz float32 stream with short gaps bridged,
shared by VAD and STT), the streaming Silero VAD (`vad`) and the speech edges it sends (`edges`), the
Whisper model lookup and loading (`models`), the short encoder window (`window`), the decode options and
call (`decode`), STT's audio ring (`ring`), the foreground level the guard compares pieces with
(`foreground`), the decode worker thread (`worker`), stable partials (`stable`), the sentence-end test of the
endpoint (`endpoint`), turns and revisions (`turns`), the streaming STT listener and its settings (`stt`) and
file transcription (`transcribe`, `batched`). Import direction inside: window ← models, decode; edges,
frontend, decode, foreground, models, ring, stable, endpoint ← worker ← turns ← stt ← transcribe, batched;
vad ← transcribe, batched; vad and stt never import each other.

It may import `picomic.bus`, `picomic.audio` and `picomic.errors` (plus faster-whisper, onnxruntime,
numpy); never `link/`, `cli/` or `sim/`. Errors name settings and values, never command-line flags.
"""
