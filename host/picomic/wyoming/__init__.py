"""Wyoming (the protocol of Home Assistant's voice stack), spoken by picomic through the `wyoming` package.

Owns the services of `picomic serve` — the mic service of a board (`mic`), the ASR service (`asr`), the wake
word service (`wake`), the satellite role Home Assistant connects to (`satellite`) — on a guarded server
(`server`: bounded reads through `limits`, the allow-list of `access`, counted refusals), their `describe`
answers (`describe`), the 16 kHz 16-bit conversion (`pcm16`), the remote ASR client of `listen --asr-uri`
(`remote`), the zeroconf announcement (`announce`) and the thread that runs them beside the pipeline (`runner`).
Several boards plug in as one mic/satellite service per board, ports counting up from a base port.

May import `bus`, `audio`, `speech`, `errors`, `version` (plus wyoming, zeroconf, numpy); never `link/`, `cli/`,
`sim/`. Errors name settings, never command-line flags.
"""
