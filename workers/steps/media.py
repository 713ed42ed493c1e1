"""The production step table: the five real steps, in pipeline order."""
from __future__ import annotations

from . import clip_generation, clip_lookup, content_type, download, transcript

STEP_TABLE = {
    "download": download.run,
    "transcript": transcript.run,
    "content_type": content_type.run,
    "clip_lookup": clip_lookup.run,
    "clip_generation": clip_generation.run,
}
