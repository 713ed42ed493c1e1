"""What a submission may carry, however it arrives (a JSON body, tus Upload-Metadata): the
clip options and the callback URL, validated the same way for both."""
from __future__ import annotations

from workers.pipeline.fetcher.guard import UrlRejected, check_url
from workers.pipeline.options import CLIP_OPTIONS, CLIP_SECONDS, MAX_CLIPS, InvalidOption  # noqa: F401
from workers.pipeline.options import clip_options as _clip_options

from .errors import ApiError
from .state import state


def clip_options(body: dict) -> dict:
    """The optional per-request clip settings, validated (``workers.pipeline.options``, the
    one validator the ``process`` command uses too); absent ones keep the defaults."""
    try:
        return _clip_options(body)
    except InvalidOption as exc:
        raise ApiError(400, exc.code, exc.message) from None


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
