"""What the decoder's text says about the end of an utterance.

`ends_sentence`: the speculative text ends with terminal punctuation (. ? ! and their CJK forms, behind closing
quotes or brackets) and not with an ellipsis (Whisper writes "..." where speech trails off mid-thought).
SttListener ends such an utterance after `sentence_end_ms` of silence and waits up to `open_end_ms` otherwise.
"""

from __future__ import annotations

_TERMINAL = (".", "?", "!", "。", "？", "！")
_CLOSERS = "\"')]}»”’"


def ends_sentence(text: str) -> bool:
    """True when `text` ends a sentence (see the module docstring)."""
    tail = text.rstrip().rstrip(_CLOSERS).rstrip()
    return tail.endswith(_TERMINAL) and not tail.endswith(("..", "…"))
