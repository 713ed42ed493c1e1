"""The clip options a submission may carry, validated in one place for every way in: the
API's JSON body and tus Upload-Metadata (``server/submissions.py`` turns an ``InvalidOption``
into a 400) and the ``process`` command's flags (it prints the same message)."""
from __future__ import annotations

from workers.pipeline.clips.framing import ASPECTS, CAPTIONS

CLIP_OPTIONS = ("clip_min_seconds", "clip_max_seconds", "max_clips", "aspect", "captions")
CLIP_SECONDS = (3.0, 600.0)
MAX_CLIPS = 20
DEFAULTS = {"aspect": "original", "captions": "files"}  # not stored: equal requests stay equal


class InvalidOption(ValueError):
    """A clip option out of range: ``code`` is the API's error code, ``message`` its words."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


def clip_options(body: dict) -> dict:
    """The optional clip settings in ``body``, validated; absent ones keep the defaults."""
    options = {}
    for name in ("clip_min_seconds", "clip_max_seconds"):
        if name in body:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not CLIP_SECONDS[0] <= value <= CLIP_SECONDS[1]:
                raise InvalidOption("invalid_clip_length",
                                    f'"{name}" must be a number of seconds from {CLIP_SECONDS[0]:.0f} to {CLIP_SECONDS[1]:.0f}')
            options[name] = float(value)
    if options.get("clip_min_seconds", 0) >= options.get("clip_max_seconds", float("inf")):
        raise InvalidOption("invalid_clip_length", '"clip_min_seconds" must be below "clip_max_seconds"')
    if "max_clips" in body:
        value = body["max_clips"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CLIPS:
            raise InvalidOption("invalid_max_clips", f'"max_clips" must be a whole number from 1 to {MAX_CLIPS}')
        options["max_clips"] = value
    for name, allowed in (("aspect", tuple(ASPECTS)), ("captions", CAPTIONS)):
        if name in body:
            if body[name] not in allowed:
                raise InvalidOption(f"invalid_{name}", f'"{name}" must be one of {", ".join(allowed)}')
            if body[name] != DEFAULTS[name]:
                options[name] = body[name]
    return options
