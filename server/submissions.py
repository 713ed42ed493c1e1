"""What a submission may carry, however it arrives (a JSON body, tus Upload-Metadata): the
clip options and the callback URL, validated the same way for both."""
from __future__ import annotations

from workers.pipeline.clips.framing import ASPECTS, CAPTIONS
from workers.pipeline.fetcher.guard import UrlRejected, check_url

from .errors import ApiError
from .state import state

CLIP_OPTIONS = ("clip_min_seconds", "clip_max_seconds", "max_clips", "aspect", "captions")
CLIP_SECONDS = (3.0, 600.0)
MAX_CLIPS = 20


def clip_options(body: dict) -> dict:
    """The optional per-request clip settings, validated; absent ones keep the defaults."""
    options = {}
    for name in ("clip_min_seconds", "clip_max_seconds"):
        if name in body:
            value = body[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                    not CLIP_SECONDS[0] <= value <= CLIP_SECONDS[1]:
                raise ApiError(400, "invalid_clip_length",
                               f'"{name}" must be a number of seconds from {CLIP_SECONDS[0]:.0f} to {CLIP_SECONDS[1]:.0f}')
            options[name] = float(value)
    if options.get("clip_min_seconds", 0) >= options.get("clip_max_seconds", float("inf")):
        raise ApiError(400, "invalid_clip_length", '"clip_min_seconds" must be below "clip_max_seconds"')
    if "max_clips" in body:
        value = body["max_clips"]
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CLIPS:
            raise ApiError(400, "invalid_max_clips", f'"max_clips" must be a whole number from 1 to {MAX_CLIPS}')
        options["max_clips"] = value
    for name, allowed, default in (("aspect", tuple(ASPECTS), "original"), ("captions", CAPTIONS, "files")):
        if name in body:
            if body[name] not in allowed:
                raise ApiError(400, f"invalid_{name}", f'"{name}" must be one of {", ".join(allowed)}')
            if body[name] != default:  # the default is not stored: equal requests stay equal
                options[name] = body[name]
    return options


def callback_url(body: dict) -> str | None:
    """The optional ``callback_url``: checked like a video URL (the dispatcher checks its
    address again when it connects); refused when this server signs no webhooks."""
    if "callback_url" not in body:
        return None
    app_state = state()
    settings = app_state.settings
    if not settings.webhook_secret:
        raise ApiError(400, "webhooks_disabled", "this server sends no webhooks (CLIPQUEUE_WEBHOOK_SECRET is unset)")
    try:
        check_url(body["callback_url"], max_length=settings.max_url_length, allow_private=settings.allow_private_urls,
                  resolver=app_state.resolver, allowed=app_state.address_policy)
    except UrlRejected as exc:
        raise ApiError(400, f"callback_{exc.code}", f"callback_url: {exc.message}") from None
    return body["callback_url"].strip()
