"""The product's Prometheus metrics, read from the checkpoints steps write: LLM tokens and
cost (content_type, clip_lookup) and bytes downloaded. The engine calls ``observe`` (as the
``on_checkpoint`` service) after a step's checkpoint is written, once per written checkpoint.
Multiprocess mode: see ``workers.queue.metrics``."""
from __future__ import annotations

from prometheus_client import Counter

LLM_TOKENS = Counter("clipqueue_llm_tokens", "LLM tokens used, by kind (prompt, completion) and backend",
                     ["kind", "backend"])
LLM_COST = Counter("clipqueue_llm_cost_usd", "LLM cost in USD (prices: CLIPQUEUE_LLM_PRICE_*)", ["backend"])
DOWNLOAD_BYTES = Counter("clipqueue_download_bytes", "Bytes of media downloaded into storage")
UPLOAD_BYTES = Counter("clipqueue_upload_bytes", "Bytes received by resumable uploads (tus PATCH)")


def observe(video, step: str, output: dict) -> None:
    usage = output.get("usage") if isinstance(output.get("usage"), dict) else None
    if usage is not None:
        backend = str(output.get("backend") or "unknown")
        for kind in ("prompt", "completion"):
            LLM_TOKENS.labels(kind, backend).inc(max(0, int(usage.get(f"{kind}_tokens") or 0)))
        LLM_COST.labels(backend).inc(max(0.0, float(usage.get("cost_usd") or 0.0)))
    if step == "download" and not video.options.get("local_file") and not video.options.get("upload"):
        DOWNLOAD_BYTES.inc(max(0, int(output.get("size") or 0)))
