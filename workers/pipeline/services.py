"""The collaborators steps receive through ``ctx.services``, built from the settings."""
from __future__ import annotations

from workers.settings import Settings, SettingsError
from workers.pipeline.storage import build_storage


def build_llm(settings: Settings):
    """``auto`` picks the OpenAI backend when OPENAI_API_KEY is set, else the local one."""
    backend = settings.llm_backend
    if backend == "auto":
        backend = "openai" if settings.openai_api_key else "local"
    if backend == "local":
        from workers.pipeline.llm.local import LocalLLM

        return LocalLLM()
    from workers.pipeline.llm.openai_compat import OpenAILLM

    if not settings.openai_api_key:
        raise SettingsError("CLIPQUEUE_LLM_BACKEND=openai needs OPENAI_API_KEY")
    return OpenAILLM(api_key=settings.openai_api_key, base_url=settings.openai_base_url, model=settings.llm_model,
                     timeout=settings.llm_timeout_s,
                     price_input_per_m=settings.llm_price_input, price_output_per_m=settings.llm_price_output)


def build_services(settings: Settings) -> dict:
    """Storage and the LLM for the steps; for the engine, ``on_final`` (drop a finished job's
    work files), ``on_checkpoint`` (the product's metrics, from each checkpoint) and
    ``maintenance_tasks`` (expired uploads, dropped by the maintenance leader)."""
    from workers.pipeline import metrics
    from workers.pipeline.steps.download import discard_work
    from workers.pipeline.uploads.chunks import prune_expired

    storage = build_storage(settings)
    return {"storage": storage, "llm": build_llm(settings),
            "on_final": lambda video, status: discard_work(settings, video.id),
            "on_checkpoint": metrics.observe,
            "maintenance_tasks": [lambda conn: prune_expired(conn, storage)]}
