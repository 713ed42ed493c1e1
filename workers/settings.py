"""The one configuration reader: ``Settings.from_env``.

Every setting is an environment variable, documented in the README's table. The names
``DATABASE_URL``, ``CLIPQUEUE_DATA_DIR``, ``INTERNAL_API_TOKEN``, ``ALLOW_PRIVATE_URLS``,
``OPENAI_API_KEY`` and ``OPENAI_BASE_URL`` are fixed: tools and operators rely on them.
"""
from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Mapping


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names it."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1/0 (or true/false), got {raw!r}")


def _number(env: Mapping[str, str], name: str, default: float, kind=float, minimum: float = 0):
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a {kind.__name__}, got {raw!r}") from None
    if not math.isfinite(value):
        raise SettingsError(f"{name} must be a finite number, got {raw!r}")
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {raw!r}")
    return value


def _per_type(env: Mapping[str, str], name: str, default: str) -> tuple[tuple[str, float], ...]:
    """"3,music=10": a default value and per-content-type ones, as (("", 3.0), ("music", 10.0))."""
    raw = (env.get(name) or default).strip()
    pairs = []
    for part in (p.strip() for p in raw.split(",") if p.strip()):
        kind, _, value = part.rpartition("=")
        try:
            number = float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, then type=number pairs (\"3,music=10\"), got {raw!r}") \
                from None
        if not math.isfinite(number) or number < 0:
            raise SettingsError(f"{name} must hold finite numbers >= 0, got {raw!r}")
        pairs.append((kind.strip().lower(), number))
    return tuple(pairs)


def _choice(env: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (env.get(name) or default).strip().lower()
    if value not in allowed:
        raise SettingsError(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def webhook_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_<base64>`` webhook secret (at least 24 of them), parsed
    strictly: standard base64 with its padding, and nothing else after ``whsec_`` (a
    character outside the alphabet, missing or extra padding, or bits past the last byte are
    errors). ValueError when it is not one. Config validation and signing both use it."""
    import base64
    import binascii

    if not secret.startswith("whsec_"):
        raise ValueError("a webhook secret looks like whsec_<base64>")
    text = secret[len("whsec_"):]
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the webhook secret after whsec_ is not base64") from None
    if base64.b64encode(key).decode("ascii") != text:
        raise ValueError("the webhook secret after whsec_ is not base64 as written by an encoder")
    if len(key) < 24:
        raise ValueError("the webhook secret must hold at least 24 random bytes")
    return key


def _webhook_secret(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    try:
        webhook_key(raw)
    except ValueError as exc:
        raise SettingsError(f"{name} must be whsec_ followed by the base64 of at least 24 random bytes ({exc}; "
                            "make one with python -c \"import base64,os;print('whsec_'+base64.b64encode("
                            "os.urandom(32)).decode())\")") from None
    return raw


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    data_dir: Path = Path(".data")
    internal_api_token: str | None = None
    allow_private_urls: bool = False
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    lease_seconds: float = 30.0
    poll_interval: float = 2.0
    max_retries: int = 5
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0
    max_url_length: int = 2048
    max_body_bytes: int = 16 * 1024
    db_pool_size: int = 10
    db_wait_s: float = 60.0  # at start-up, how long to wait for an unreachable database
    log_level: str = "INFO"
    storage_backend: str = "local"
    s3_bucket: str | None = None
    s3_endpoint: str | None = None
    s3_region: str | None = None
    max_duration_s: float = 4 * 3600.0
    max_filesize_mb: float = 4096.0
    download_retries: int = 10
    whisper_engine: str = "faster-whisper"
    whisper_model: str = "tiny.en"
    whisper_device: str = "auto"
    whisper_vad: bool = True
    transcribe_chunk_s: float = 600.0
    llm_backend: str = "auto"
    llm_model: str = "gpt-4o"
    llm_timeout_s: float = 60.0     # one request to the OpenAI-compatible server
    llm_price_input: float = 2.5    # USD per million prompt tokens
    llm_price_output: float = 10.0  # USD per million completion tokens
    ask_timeout_s: float = 20.0     # POST /public/video/ask: its whole time, the LLM's retries and waits included
    ask_per_minute: int = 10        # questions per token per minute
    ask_concurrency: int = 2        # questions in flight per API process (beyond: 429)
    clip_min_s: float = 15.0
    clip_max_s: float = 60.0
    max_clips: int = 5
    clip_max_silence_s: tuple = (("", 3.0), ("music", 10.0))  # longest silence inside a clip, per content type
    clip_min_speech: tuple = (("", 0.7), ("music", 0.3))       # least share of a clip that is speech, per type
    render_parallel: int = 2
    no_subject_frame: str = "blur"  # a tall crop with no face to follow: the whole frame over a blur, or "centre"
    clip_size: str = "1080"         # 9:16 / 1:1 / 4:5 clips 1080 px wide, or "native": the window's own pixels
    ffmpeg: str | None = None
    retention_days: float = 7.0         # finished jobs stay in the hot queue table this long
    event_retention_days: float = 90.0  # queue_events older than this are deleted
    prune_interval_s: float = 600.0     # how often each worker runs the hygiene (0: never)
    min_free_mb: float = 512.0          # a download starts only with its size + this much disk free
    dns_timeout_s: float = 2.0          # the API's submit-time DNS lookups wait at most this
    internal_concurrency: int = 1       # steps one API process runs at once on the internal route
    step_timeout_s: float = 4 * 3600.0  # any step's outer deadline (0: none)
    download_min_rate_kbps: float = 20.0  # a download receiving less than this ...
    download_stall_s: float = 60.0        # ... over this window stops with step_timeout
    transcript_timeout_factor: float = 3.0  # transcript deadline: 300 s + factor x audio length
    render_timeout_factor: float = 10.0     # clip rendering deadline: 120 s + factor x clip length
    bind: str = "127.0.0.1:8000"            # gunicorn (gunicorn.py): listen address
    web_concurrency: int = 0                # gunicorn worker processes (0: 2 x cores)
    threads: int = 4                        # gunicorn threads per worker process
    request_timeout_s: int = 900            # gunicorn request timeout (the internal route runs a step)
    access_log: str = "-"                   # gunicorn access log ("-": stderr)
    webhook_secret: str | None = None       # whsec_<base64>: signs webhooks (none: callbacks refused)
    webhook_secret_previous: str | None = None  # during a rotation: the old secret, signing too
    public_url: str | None = None           # this API's public base URL (absolute clip URLs in webhooks)
    webhook_max_attempts: int = 12          # deliveries tried this many times before they fail
    webhook_timeout_s: float = 10.0         # one delivery attempt, the whole exchange, takes at most this
    webhook_concurrency: int = 4            # delivery attempts in flight per dispatcher (one per receiver)
    webhook_max_per_video: int = 5          # callback subscriptions one video may have
    webhook_retry_base_s: float = 5.0       # first retry delay (doubling, jittered, capped at 1 h)
    upload_ttl_s: float = 86400.0           # an unfinished upload expires this long after its last chunk
    upload_writer_lease_s: float = 60.0     # a PATCH's writer lease, pushed on while its bytes arrive

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
        env = os.environ if env is None else env
        lease = _number(env, "CLIPQUEUE_LEASE_SECONDS", cls.lease_seconds, minimum=0.5)
        return cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env.get("CLIPQUEUE_DATA_DIR") or ".data"),
            internal_api_token=env.get("INTERNAL_API_TOKEN") or None,
            allow_private_urls=_bool(env, "ALLOW_PRIVATE_URLS", False),
            openai_api_key=env.get("OPENAI_API_KEY") or None,
            openai_base_url=env.get("OPENAI_BASE_URL") or None,
            lease_seconds=lease,
            poll_interval=_number(env, "CLIPQUEUE_POLL_INTERVAL", cls.poll_interval, minimum=0.05),
            max_retries=_number(env, "CLIPQUEUE_MAX_RETRIES", cls.max_retries, kind=int),
            retry_base_seconds=_number(env, "CLIPQUEUE_RETRY_BASE_SECONDS", cls.retry_base_seconds),
            retry_max_seconds=_number(env, "CLIPQUEUE_RETRY_MAX_SECONDS", cls.retry_max_seconds),
            max_url_length=_number(env, "CLIPQUEUE_MAX_URL_LENGTH", cls.max_url_length, kind=int, minimum=16),
            max_body_bytes=_number(env, "CLIPQUEUE_MAX_BODY_BYTES", cls.max_body_bytes, kind=int, minimum=256),
            db_pool_size=_number(env, "CLIPQUEUE_DB_POOL_SIZE", cls.db_pool_size, kind=int, minimum=1),
            db_wait_s=_number(env, "CLIPQUEUE_DB_WAIT_S", cls.db_wait_s),
            log_level=(env.get("CLIPQUEUE_LOG_LEVEL") or "INFO").upper(),
            storage_backend=_choice(env, "CLIPQUEUE_STORAGE", cls.storage_backend, ("local", "s3")),
            s3_bucket=env.get("CLIPQUEUE_S3_BUCKET") or None,
            s3_endpoint=env.get("CLIPQUEUE_S3_ENDPOINT") or None,
            s3_region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            max_duration_s=_number(env, "CLIPQUEUE_MAX_DURATION_S", cls.max_duration_s, minimum=1),
            max_filesize_mb=_number(env, "CLIPQUEUE_MAX_FILESIZE_MB", cls.max_filesize_mb, minimum=1),
            download_retries=_number(env, "CLIPQUEUE_DOWNLOAD_RETRIES", cls.download_retries, kind=int),
            whisper_engine=_choice(env, "WHISPER_ENGINE", cls.whisper_engine, ("faster-whisper", "openai-whisper")),
            whisper_model=env.get("WHISPER_MODEL") or cls.whisper_model,
            whisper_device=_choice(env, "WHISPER_DEVICE", cls.whisper_device, ("auto", "cpu", "cuda")),
            whisper_vad=_bool(env, "WHISPER_VAD", cls.whisper_vad),
            transcribe_chunk_s=_number(env, "CLIPQUEUE_TRANSCRIBE_CHUNK_S", cls.transcribe_chunk_s, minimum=30),
            llm_backend=_choice(env, "CLIPQUEUE_LLM_BACKEND", cls.llm_backend, ("auto", "local", "openai")),
            llm_model=env.get("CLIPQUEUE_LLM_MODEL") or cls.llm_model,
            llm_timeout_s=_number(env, "CLIPQUEUE_LLM_TIMEOUT_S", cls.llm_timeout_s, minimum=0.5),
            llm_price_input=_number(env, "CLIPQUEUE_LLM_PRICE_INPUT", cls.llm_price_input),
            llm_price_output=_number(env, "CLIPQUEUE_LLM_PRICE_OUTPUT", cls.llm_price_output),
            clip_min_s=_number(env, "CLIPQUEUE_CLIP_MIN_S", cls.clip_min_s, minimum=1),
            clip_max_s=_number(env, "CLIPQUEUE_CLIP_MAX_S", cls.clip_max_s, minimum=2),
            max_clips=_number(env, "CLIPQUEUE_MAX_CLIPS", cls.max_clips, kind=int, minimum=1),
            clip_max_silence_s=_per_type(env, "CLIPQUEUE_CLIP_MAX_SILENCE_S", "3,music=10"),
            clip_min_speech=_per_type(env, "CLIPQUEUE_CLIP_MIN_SPEECH", "0.7,music=0.3"),
            render_parallel=_number(env, "CLIPQUEUE_RENDER_PARALLEL", cls.render_parallel, kind=int, minimum=1),
            ask_timeout_s=_number(env, "CLIPQUEUE_ASK_TIMEOUT_S", cls.ask_timeout_s, minimum=1),
            ask_per_minute=_number(env, "CLIPQUEUE_ASK_PER_MINUTE", cls.ask_per_minute, kind=int, minimum=1),
            ask_concurrency=_number(env, "CLIPQUEUE_ASK_CONCURRENCY", cls.ask_concurrency, kind=int, minimum=1),
            no_subject_frame=_choice(env, "CLIPQUEUE_NO_SUBJECT_FRAME", cls.no_subject_frame, ("blur", "centre")),
            clip_size=_choice(env, "CLIPQUEUE_CLIP_SIZE", cls.clip_size, ("1080", "native")),
            ffmpeg=env.get("CLIPQUEUE_FFMPEG") or None,
            retention_days=_number(env, "CLIPQUEUE_RETENTION_DAYS", cls.retention_days),
            event_retention_days=_number(env, "CLIPQUEUE_EVENT_RETENTION_DAYS", cls.event_retention_days),
            prune_interval_s=_number(env, "CLIPQUEUE_PRUNE_INTERVAL", cls.prune_interval_s),
            min_free_mb=_number(env, "CLIPQUEUE_MIN_FREE_MB", cls.min_free_mb),
            dns_timeout_s=_number(env, "CLIPQUEUE_DNS_TIMEOUT_S", cls.dns_timeout_s, minimum=0.05),
            internal_concurrency=_number(env, "CLIPQUEUE_INTERNAL_CONCURRENCY", cls.internal_concurrency, kind=int,
                                         minimum=1),
            step_timeout_s=_number(env, "CLIPQUEUE_STEP_TIMEOUT_S", cls.step_timeout_s),
            download_min_rate_kbps=_number(env, "CLIPQUEUE_DOWNLOAD_MIN_RATE_KBPS", cls.download_min_rate_kbps),
            download_stall_s=_number(env, "CLIPQUEUE_DOWNLOAD_STALL_S", cls.download_stall_s, minimum=1),
            transcript_timeout_factor=_number(env, "CLIPQUEUE_TRANSCRIPT_TIMEOUT_FACTOR",
                                              cls.transcript_timeout_factor, minimum=0.1),
            render_timeout_factor=_number(env, "CLIPQUEUE_RENDER_TIMEOUT_FACTOR", cls.render_timeout_factor,
                                          minimum=0.1),
            bind=env.get("CLIPQUEUE_BIND") or cls.bind,
            web_concurrency=_number(env, "WEB_CONCURRENCY", cls.web_concurrency, kind=int),
            threads=_number(env, "CLIPQUEUE_THREADS", cls.threads, kind=int, minimum=1),
            request_timeout_s=_number(env, "CLIPQUEUE_REQUEST_TIMEOUT", cls.request_timeout_s, kind=int, minimum=1),
            access_log=env.get("CLIPQUEUE_ACCESS_LOG") or cls.access_log,
            webhook_secret=_webhook_secret(env, "CLIPQUEUE_WEBHOOK_SECRET"),
            webhook_secret_previous=_webhook_secret(env, "CLIPQUEUE_WEBHOOK_SECRET_PREVIOUS"),
            public_url=env.get("CLIPQUEUE_PUBLIC_URL") or None,
            webhook_max_attempts=_number(env, "CLIPQUEUE_WEBHOOK_MAX_ATTEMPTS", cls.webhook_max_attempts, kind=int,
                                         minimum=1),
            webhook_timeout_s=_number(env, "CLIPQUEUE_WEBHOOK_TIMEOUT_S", cls.webhook_timeout_s, minimum=0.5),
            webhook_concurrency=_number(env, "CLIPQUEUE_WEBHOOK_CONCURRENCY", cls.webhook_concurrency, kind=int,
                                        minimum=1),
            webhook_max_per_video=_number(env, "CLIPQUEUE_WEBHOOK_MAX_PER_VIDEO", cls.webhook_max_per_video,
                                          kind=int, minimum=1),
            webhook_retry_base_s=_number(env, "CLIPQUEUE_WEBHOOK_RETRY_BASE_S", cls.webhook_retry_base_s,
                                         minimum=0.01),
            upload_ttl_s=_number(env, "CLIPQUEUE_UPLOAD_TTL_S", cls.upload_ttl_s, minimum=60),
            upload_writer_lease_s=_number(env, "CLIPQUEUE_UPLOAD_WRITER_LEASE_S", cls.upload_writer_lease_s,
                                          minimum=1),
        )

    def replace(self, **changes) -> "Settings":
        return dataclasses.replace(self, **changes)
