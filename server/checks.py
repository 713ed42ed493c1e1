"""What ``GET /internal/health`` checks, one function each; each returns a dict with ``ok``
and what it found, and never raises (a check that breaks reports ``ok: false`` and why)."""
from __future__ import annotations

import logging
import subprocess
import time

log = logging.getLogger(__name__)


def _guarded(check):
    def run(*args):
        started = time.monotonic()
        try:
            found = check(*args)
        except Exception as exc:  # noqa: BLE001 - a failed check is a finding, not an error
            log.warning("health check %s failed: %s", check.__name__, exc)
            found = {"ok": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
        return {**found, "ms": round((time.monotonic() - started) * 1000, 1)}
    run.__name__ = check.__name__
    return run


@_guarded
def database(pool, settings) -> dict:
    from workers.queue import jobs

    with pool.connection(timeout=2) as conn:
        jobs.ping(conn)
        version = conn.execute("SHOW server_version").fetchone()["server_version"]
    return {"ok": True, "kind": "external (DATABASE_URL)" if settings.database_url else "embedded (pgserver)",
            "version": version}


@_guarded
def storage(store, settings) -> dict:
    return {"ok": True, **store.health()}


@_guarded
def ffmpeg(settings) -> dict:
    from workers.pipeline.media import ffmpeg_binary

    binary = ffmpeg_binary(settings.ffmpeg)
    first = subprocess.run([binary, "-hide_banner", "-version"], capture_output=True, text=True,
                           timeout=10).stdout.splitlines()
    return {"ok": bool(first), "version": first[0] if first else None}


@_guarded
def whisper(settings) -> dict:
    import ctranslate2

    devices = ctranslate2.get_cuda_device_count()
    device = settings.whisper_device if settings.whisper_device != "auto" else ("cuda" if devices else "cpu")
    return {"ok": True, "engine": settings.whisper_engine, "model": settings.whisper_model, "device": device,
            "cuda_devices": devices}


@_guarded
def llm(services, settings) -> dict:
    from workers.pipeline.services import build_llm

    backend = services.get("llm") or build_llm(settings)
    found = {"ok": True, "backend": getattr(backend, "name", type(backend).__name__),
             "model": getattr(backend, "model", None)}
    if hasattr(backend, "ping"):  # a server: does it answer?
        found["answer"] = backend.ping()
    return found
