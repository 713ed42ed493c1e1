"""Whisper-like words for a line of text, for the tests of what the clip pickers read."""
from __future__ import annotations


def said(text: str, start: float = 0.0, doubt: tuple[str, ...] = (), probability: float = 0.3) -> list[dict]:
    """Whisper-like words for ``text``, 0.3 s each; a token glued to the one before it is
    written with a leading '+' ("R +&D"); words in ``doubt`` were heard with ``probability`` (0.3),
    the rest with 0.95."""
    words = []
    for k, token in enumerate(text.split()):
        glued = token.startswith("+")
        token = token.lstrip("+")
        words.append({"word": token, "start": start + 0.3 * k, "end": start + 0.3 * k + 0.25, "space": not glued,
                      "probability": probability if token.strip(".,?") in doubt else 0.95})
    return words
