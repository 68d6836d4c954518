"""Stable partials: a partial transcript never rewrites the words it has already committed.

Whisper re-decodes the whole open utterance for every partial, so its words can change from one partial to
the next. `PartialStabilizer` commits the words two consecutive hypotheses agree on (LocalAgreement-2, as in
whisper_streaming) and keeps them: every later partial of the utterance starts with exactly the committed
text, whatever the decoder says there. The final is decoded afresh (it is the best text and may differ).
Only the decode worker thread touches a stabilizer.
"""

from __future__ import annotations


class PartialStabilizer:
    """Committed words of one utterance's partials; `update` gives each new partial's text and stable part."""

    def __init__(self) -> None:
        self._committed: list[str] = []
        self._previous: list[str] = []

    @property
    def committed(self) -> str:
        return " ".join(self._committed)

    def update(self, hypothesis: str) -> tuple[str, int]:
        """(text to show, characters of it that are committed) for a new partial hypothesis."""
        n = len(self._committed)
        tail = hypothesis.split()[n:]  # the decoder's words after the committed ones (by position)
        before = self._previous[n:]
        agreed = 0
        while agreed < min(len(tail), len(before)) and tail[agreed] == before[agreed]:
            agreed += 1
        self._committed += tail[:agreed]
        self._previous = self._committed + tail[agreed:]
        return " ".join(self._previous), len(self.committed)
