"""`picomic bench`: the registry of every promised figure and the benchmarks behind it (host, device, wire,
speech, faults, soak), each measured beside its baseline in one process.

May import anything in picomic except picomic.cli.
"""
