"""Search and questions: ``GET /public/video/search`` (moments in one video, by its token),
``POST /public/video/ask`` (a question about one video) and ``GET /internal/search`` (the
whole library, for operators, behind the bearer token). Nothing public lists anything but
the token's own video."""
from __future__ import annotations

import math
import time
from datetime import datetime

from flask import Blueprint, jsonify, request, url_for

from workers.pipeline.llm.taxonomy import CONTENT_TYPES
from workers.pipeline.search import ask as asking, query, store
from workers.pipeline.status import file_link
from workers.queue.errors import PermanentError, TransientError

from .auth import require_internal_token
from .errors import ApiError
from .requests import json_object_body
from .state import AsksBusy, state

blueprint = Blueprint("search", __name__)

MAX_QUERY = 200      # characters
ASK_AGAIN_S = 5            # Retry-After when every question slot is taken, or the model timed out
MAX_RETRY_AFTER_S = 60     # the model's own Retry-After reaches the client at most this long
MAX_LIBRARY_LIMIT = 100
MAX_OFFSET = 1000


def _text(value, name: str, most: int) -> str:
    if value is None or not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"missing_{name}", f'"{name}" is required and must not be empty')
    if len(value) > most:
        raise ApiError(400, f"{name}_too_long", f'"{name}" is {len(value)} characters long; at most {most} are allowed')
    if any(ord(c) < 32 and c not in "\t\n\r" for c in value):
        raise ApiError(400, f"invalid_{name}", f'"{name}" must not contain control characters')
    return " ".join(value.split())


def _int(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"invalid_{name}", f'"{name}" must be a whole number from {low} to {high}') from None
    if not low <= value <= high:
        raise ApiError(400, f"invalid_{name}", f'"{name}" must be a whole number from {low} to {high}')
    return value


def _video(conn, token) -> dict:
    if not isinstance(token, str) or not token:
        raise ApiError(400, "missing_token", '"token" is required')
    video = store.video_for_token(conn, token) if len(token) == 32 else None
    if video is None:
        raise ApiError(404, "not_found", "no such video")
    if video["config"] is None:
        raise ApiError(404, "not_ready", "the video's transcript is not searchable yet")
    return video


@blueprint.get("/public/video/search")
def search_video():
    q = _text(request.args.get("q"), "q", MAX_QUERY)
    limit = _int("limit", 10, 1, 50)
    token = request.args.get("token")
    with state().pool.connection() as conn:
        video = _video(conn, token)
        moments = query.in_video(conn, video["video_id"], video["config"], q, limit)
        clips = store.clip_files(conn, video["video_id"]) if moments else []
    source = url_for("video.source", token=token)
    for moment in moments:
        moment.pop("seq")
        moment["play"] = query.play_link(moment, clips, lambda key: _file(token, key), source)
    response = jsonify({"token": token, "q": q, "moments": moments})
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/public/video/ask")
def ask():
    started = time.monotonic()
    body = json_object_body()
    unknown = sorted(set(body) - {"token", "question"})
    if unknown:
        raise ApiError(400, "unknown_field", f"unknown field(s): {', '.join(unknown)}; accepted: token, question")
    question = _text(body.get("question"), "question", asking.MAX_QUESTION)
    app_state = state()
    settings = app_state.settings
    try:
        with app_state.asks.slot() as run:
            with app_state.pool.connection() as conn:
                video = _video(conn, body.get("token"))
                used = store.count_question(conn, video["token"], app_state.clock())
                if used["questions"] > settings.ask_per_minute:
                    wait = max(1, math.ceil(float(used["resets_in_s"])))
                    raise ApiError(429, "too_many_questions",
                                   f"at most {settings.ask_per_minute} questions a minute per video; "
                                   f"ask again in {wait} s", {"Retry-After": str(wait)})
                found = asking.passages(conn, video["video_id"], video["config"], question)
            left = settings.ask_timeout_s - (time.monotonic() - started)
            llm = app_state.ask_llm()
            reply = run(lambda: asking.answer(llm, question, found, budget_s=left), left)
    except AsksBusy:
        raise ApiError(429, "too_many_asks", f"this server is answering {settings.ask_concurrency} questions "
                       f"already; ask again in {ASK_AGAIN_S} s", {"Retry-After": str(ASK_AGAIN_S)}) from None
    except TimeoutError:
        raise ApiError(503, "llm_unavailable", f"the language model did not answer within "
                       f"{settings.ask_timeout_s:g} s; ask again later", {"Retry-After": str(ASK_AGAIN_S)}) from None
    except TransientError as exc:
        asked = ASK_AGAIN_S if exc.retry_after is None else exc.retry_after  # none, or a garbled one: ours
        wait = max(1, math.ceil(min(asked, MAX_RETRY_AFTER_S)))
        raise ApiError(503, "llm_unavailable", "the language model is unavailable; ask again later",
                       {"Retry-After": str(wait)}) from None
    except PermanentError as exc:  # the model's output stayed invalid, or it refused the request
        raise ApiError(502, exc.cause, f"{exc.message}; the question was not answered") from None
    return jsonify({"token": video["token"], "question": question, **reply})


@blueprint.get("/internal/search")
def search_library():
    require_internal_token()
    q = _text(request.args.get("q"), "q", MAX_QUERY)
    limit = _int("limit", 20, 1, MAX_LIBRARY_LIMIT)
    offset = _int("offset", 0, 0, MAX_OFFSET)
    content_type = request.args.get("content_type")
    if content_type is not None and content_type not in CONTENT_TYPES:
        raise ApiError(400, "invalid_content_type", f'"content_type" must be one of {", ".join(CONTENT_TYPES)}')
    filters = {"content_type": content_type, "since": _date("since"), "until": _date("until")}
    with state().pool.connection() as conn:
        moments, more = query.in_library(conn, q, filters, limit, offset)
    for moment in moments:
        moment.pop("seq")
    return jsonify({"q": q, "moments": moments, "offset": offset, "limit": limit,
                    "next_offset": offset + limit if more and offset + limit <= MAX_OFFSET else None})


def _date(name: str) -> str | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise ApiError(400, f"invalid_{name}", f'"{name}" must be an ISO 8601 date or time, like 2026-11-22') from None


def _file(token: str, key: str) -> str:
    return file_link(state().storage, token, key, lambda t, name: url_for("video.files", token=t, name=name))
