"""Production step table.

The media steps (yt-dlp download, Whisper transcript, LLM content type and clip lookup,
ffmpeg clip generation) are built in the next issue. Until then every step fails the
video at once with an explicit cause instead of pretending to succeed.
"""
from __future__ import annotations

from ..errors import PermanentError


def _not_built(step: str):
    def run(video, ctx):
        raise PermanentError("step_not_available",
                             f"the {step} step is not available in this ClipQueue build")
    run.__name__ = f"{step}_not_built"
    return run


STEP_TABLE = {step: _not_built(step) for step in
              ("download", "transcript", "content_type", "clip_lookup", "clip_generation")}
