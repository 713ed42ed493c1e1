"""The OpenAI backend: GPT-4o by default, or any OpenAI-compatible server (OPENAI_BASE_URL).

* Structured Outputs: both calls send a strict JSON schema, and the reply is parsed and
  checked again here (a compatible server may ignore the schema).
* The model cites transcript sentences by id and quotes each clip's first and last words
  verbatim; ``clips.quotes`` maps the quotes back to word times (models copy words well and
  keep ids and timestamps badly). It never does timestamp arithmetic. It is told the
  editor's rules (``clip_prompt``) and asked for a headline and a hook; neither it nor they
  are trusted: ``clips.repair`` and ``llm.titles`` check them.
* Quick in-call retries with tenacity: 429 (waiting at least its Retry-After), 5xx,
  timeouts, connection errors and unparseable output, within a time budget that bounds the
  call whole: a request's time-out is what is left of it, and a retry whose wait would
  end past it is not made (the error is raised at once, with the server's Retry-After).
  A longer outage raises ``TransientError`` (a job-level retry with backoff: the worker moves
  on, the video waits, and nothing before this step is redone); output that stays
  unparseable raises ``PermanentError`` with a clear cause.
* Every raw reply is returned for the checkpoint, with the tokens used and their cost.
"""
from __future__ import annotations

import json
import logging
import time

from workers.pipeline.clips.rules import Rules
from workers.pipeline.llm.clip_prompt import clip_messages
from workers.queue.errors import PermanentError, TransientError
from workers.pipeline.llm.taxonomy import CONTENT_TYPES
from workers.queue.retry import parse_retry_after

log = logging.getLogger(__name__)

ATTEMPTS = 4          # in-call tries of one request
BUDGET_S = 90.0       # in-call retrying stops after this long: then it is the job's problem
MAX_WAIT_S = 30.0     # a Retry-After longer than this is left to the job-level retry

CONTENT_TYPE_SCHEMA = {
    "type": "object",
    "properties": {
        "content_type": {"type": "string", "enum": list(CONTENT_TYPES)},
        "confidence": {"type": "number"},
        "language": {"type": "string", "description": "ISO 639-1 code of the spoken language"},
    },
    "required": ["content_type", "confidence", "language"],
    "additionalProperties": False,
}
CLIPS_SCHEMA = {
    "type": "object",
    "properties": {
        "clips": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "start_segment": {"type": "integer"},
                    "end_segment": {"type": "integer"},
                    "first_words": {"type": "string", "description": "the clip's first 5-8 words, verbatim"},
                    "last_words": {"type": "string", "description": "the clip's last 5-8 words, verbatim"},
                    "title": {"type": "string"},
                    "hook": {"type": "string"},
                    "reason": {"type": "string"},
                    "score": {"type": "number"},
                },
                "required": ["start_segment", "end_segment", "first_words", "last_words", "title", "hook",
                             "reason", "score"],
                "additionalProperties": False,
            },
        }
    },
    "required": ["clips"],
    "additionalProperties": False,
}


ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "citations": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"passage": {"type": "string"}, "quote": {"type": "string"}},
                "required": ["passage", "quote"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["answer", "citations"],
    "additionalProperties": False,
}


class _Unparseable(Exception):
    def __init__(self, raw: str, why: str):
        super().__init__(why)
        self.raw = raw


class OpenAILLM:
    name = "openai"

    def __init__(self, *, api_key: str, base_url: str | None = None, model: str = "gpt-4o",
                 timeout: float = 60.0, price_input_per_m: float = 2.5, price_output_per_m: float = 10.0,
                 sleep=time.sleep, attempts: int = ATTEMPTS, budget_s: float = BUDGET_S):
        import openai  # heavy: imported where needed

        # The SDK's own retries are off: tenacity below owns them (and honours Retry-After).
        self.client = openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=0, timeout=timeout)
        self.model = model
        self.prices = (price_input_per_m, price_output_per_m)
        self.sleep = sleep
        self.timeout = timeout
        self.attempts, self.budget_s = attempts, budget_s  # in-call retries: a call's bound, waits included

    # ---------------------------------------------------------------- the two questions
    def ping(self, timeout: float = 5.0) -> str:
        """Whether the server answers (``GET /models``, no tokens spent): raises if not; returns
        what it serves, briefly."""
        models = self.client.with_options(timeout=timeout).models.list()
        names = [m.id for m in models.data][:5]
        return f"{len(models.data)} model(s): {', '.join(names)}"

    def content_type(self, segments: list[dict], language: str | None = None) -> dict:
        lines = "\n".join(f"[{s['id']}] {s['text']}" for s in segments)
        messages = [
            {"role": "system", "content": "You classify videos from a sample of their transcript. "
                                          "Answer only with JSON that matches the schema."},
            {"role": "user", "content": f"Transcript sample (from the beginning, middle and end):\n{lines}\n\n"
                                        f"What kind of video is this, how sure are you (0 to 1), and what "
                                        f"language is spoken?"},
        ]
        return self._ask(messages, "content_type", CONTENT_TYPE_SCHEMA, _check_content_type)

    def find_clips(self, segments: list[dict], *, content_type: str, min_s: float, max_s: float,
                   count: int, rules: Rules = Rules()) -> dict:
        """Clips cited by sentence id and quoted words, with a headline, a hook and a reason,
        asked with the editor's rules spelled out (``clip_prompt``)."""
        ids = {s["id"] for s in segments}
        messages = clip_messages(segments, content_type=content_type, min_s=min_s, max_s=max_s, count=count,
                                 rules=rules)
        return self._ask(messages, "clips", CLIPS_SCHEMA, lambda reply: _check_clips(reply, ids))

    def answer_question(self, question: str, passages: list[dict], budget_s: float | None = None) -> dict:
        """An answer from the given transcript passages only, citing them by id with a quote;
        within ``budget_s`` (default: the client's budget), retries and waits included."""
        lines = "\n".join(f"[{p['id']}] ({_clock(p['start'])}-{_clock(p['end'])}) {p['text']}" for p in passages)
        ids = {p["id"] for p in passages}
        messages = [
            {"role": "system", "content": (
                "You answer questions about a video using only the transcript passages given. Cite every "
                "passage you rely on by its id, with a short quote copied exactly from it. If the passages do not "
                "answer the question, say so and cite nothing. Answer in at most three sentences, in the "
                "question's language. Answer only with JSON that matches the schema.")},
            {"role": "user", "content": f"Passages:\n{lines}\n\nQuestion: {question}"},
        ]
        return self._ask(messages, "answer", ANSWER_SCHEMA, lambda reply: _check_answer(reply, ids), budget_s)

    # ---------------------------------------------------------------- one structured call
    def _ask(self, messages, schema_name, schema, check, budget_s: float | None = None) -> dict:
        """One structured call. ``budget_s`` bounds it whole: each request's time-out is what
        is left of it, and no retry starts (nor a wait for one) that would end past it."""
        import openai
        from tenacity import RetryError, Retrying, retry_if_exception, stop_after_attempt, stop_before_delay

        raw_replies = []
        usage = {"prompt_tokens": 0, "completion_tokens": 0}
        budget = self.budget_s if budget_s is None else budget_s
        ends = time.monotonic() + budget

        def attempt():
            response = self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                temperature=0.2,
                response_format={"type": "json_schema",
                                 "json_schema": {"name": schema_name, "schema": schema, "strict": True}},
                timeout=max(0.01, min(self.timeout, ends - time.monotonic())),
            )
            if response.usage:
                usage["prompt_tokens"] += response.usage.prompt_tokens or 0
                usage["completion_tokens"] += response.usage.completion_tokens or 0
            content = response.choices[0].message.content or "" if response.choices else ""
            raw_replies.append(content)
            try:
                reply = json.loads(content)
            except json.JSONDecodeError as exc:
                raise _Unparseable(content, f"not JSON: {exc.msg}") from None
            return check(reply)

        def retryable(exc):
            if isinstance(exc, openai.RateLimitError):
                return (_retry_after(exc) or 0) <= MAX_WAIT_S
            return isinstance(exc, (openai.InternalServerError, openai.APITimeoutError, openai.APIConnectionError,
                                    _Unparseable))

        def wait(state):
            exc = state.outcome.exception()
            backoff = min(8.0, 0.5 * 2 ** (state.attempt_number - 1))
            return max(backoff, _retry_after(exc) or 0.0)

        try:
            result = Retrying(stop=stop_after_attempt(self.attempts) | stop_before_delay(budget),
                              retry=retry_if_exception(retryable), wait=wait, sleep=self.sleep,
                              reraise=True)(attempt)
        except RetryError as exc:  # pragma: no cover - reraise=True gives the last error
            raise exc.last_attempt.exception() from None
        except _Unparseable as exc:
            raise PermanentError("llm_bad_output", "the language model kept answering with output that is "
                                 "not valid for this request", details={"raw": raw_replies[-self.attempts:],
                                                                         "why": str(exc)}) from None
        except (openai.RateLimitError, openai.InternalServerError, openai.APITimeoutError,
                openai.APIConnectionError, openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise TransientError("llm_unavailable", "the language model is unavailable; retrying later",
                                 retry_after=_retry_after(exc), details={"error": str(exc)[:500]}) from None
        except openai.APIStatusError as exc:
            raise PermanentError("llm_rejected", f"the language model refused the request (HTTP {exc.status_code})",
                                 details={"error": str(exc)[:500]}) from None
        usage["cost_usd"] = round(usage["prompt_tokens"] / 1e6 * self.prices[0]
                                  + usage["completion_tokens"] / 1e6 * self.prices[1], 6)
        return {"result": result, "raw": raw_replies, "usage": usage}


def _retry_after(exc) -> float | None:
    response = getattr(exc, "response", None)
    return parse_retry_after(response.headers.get("retry-after")) if response is not None else None


def _check_content_type(reply) -> dict:
    if not isinstance(reply, dict) or reply.get("content_type") not in CONTENT_TYPES:
        raise _Unparseable(json.dumps(reply), "content_type missing or not one of the allowed values")
    try:
        confidence = min(1.0, max(0.0, float(reply.get("confidence", 0))))
    except (TypeError, ValueError):
        raise _Unparseable(json.dumps(reply), "confidence is not a number") from None
    return {"content_type": reply["content_type"], "confidence": confidence,
            "language": str(reply.get("language") or "")[:8] or None}


def _clock(seconds: float) -> str:
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}"


def _check_answer(reply, ids: set[str]) -> dict:
    if not isinstance(reply, dict) or not isinstance(reply.get("answer"), str) or not reply["answer"].strip():
        raise _Unparseable(json.dumps(reply), "no answer")
    citations = [{"passage": c["passage"], "quote": str(c.get("quote") or "")[:500]}
                 for c in reply.get("citations") or [] if isinstance(c, dict) and c.get("passage") in ids]
    return {"answer": reply["answer"].strip()[:2000], "citations": citations}


def _check_clips(reply, ids: set[int]) -> dict:
    if not isinstance(reply, dict) or not isinstance(reply.get("clips"), list):
        raise _Unparseable(json.dumps(reply), "no clips list")
    clips = []
    for item in reply["clips"]:
        if not isinstance(item, dict):
            continue
        start, end = item.get("start_segment"), item.get("end_segment")
        if isinstance(start, int) and isinstance(end, int) and start in ids and end in ids:
            clips.append({"start_segment": start, "end_segment": end,
                          "first_words": str(item.get("first_words") or "")[:300],
                          "last_words": str(item.get("last_words") or "")[:300],
                          "title": str(item.get("title") or "")[:200], "hook": str(item.get("hook") or "")[:500],
                          "reason": str(item.get("reason") or "")[:500],
                          "score": float(item.get("score") or 0) if isinstance(item.get("score"), (int, float)) else 0.0})
    if reply["clips"] and not clips:
        raise _Unparseable(json.dumps(reply), "no clip cites segments of this transcript")
    return {"clips": clips}
