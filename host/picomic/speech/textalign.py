"""Where an earlier text ends inside a later, longer decode of the same speech.

A later piece of a turn is decoded together with the turn's earlier audio, so its text is the whole turn's.
`tail_after(before, after)` gives the words of `after` past its alignment with `before` — what the turn says
that it had not said before — so a client that reads only `transcript` finals still gets each piece once.
Words are compared lowercased without punctuation (difflib's longest matching blocks, in order).
"""

from __future__ import annotations

import difflib


def _key(word: str) -> str:
    return "".join(ch for ch in word.lower() if ch.isalnum())


def tail_after(before: str, after: str) -> str:
    """The words of `after` that follow the last word it shares (in order) with `before`."""
    old = [_key(w) for w in before.split()]
    words = after.split()
    new = [_key(w) for w in words]
    blocks = [b for b in difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_matching_blocks() if b.size]
    end = blocks[-1].b + blocks[-1].size if blocks else min(len(old), len(new))
    return " ".join(words[end:])
