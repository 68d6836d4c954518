"""The serial link to a real (or simulated) board: finding and opening its port, the INFO/START handshake and
the serial transport (the port, its reader and pinger threads, reconnect). What the bytes mean is picomic.stream.

May import: picomic.errors, picomic.bus, picomic.stream.
"""
