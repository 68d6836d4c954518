"""The wire protocol and what turns bytes into audio: protocol constants and frames, the incremental decoder,
the device-clock mapper and the port-free FrameRouter (bytes in → chunks, events, status out).

May import: picomic.errors, picomic.bus. Never picomic.link, picomic.sim, picomic.cli (nothing here touches a port).
"""
