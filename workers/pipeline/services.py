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


def build_ask_llm(settings: Settings):
    """The LLM that answers questions inside an API request: the same backend, one retry at
    most, each call within the time left of CLIPQUEUE_ASK_TIMEOUT_S (the route passes it),
    since a person is waiting."""
    llm = build_llm(settings)
    if llm.name != "openai":
        return llm
    from workers.pipeline.llm.openai_compat import OpenAILLM

    return OpenAILLM(api_key=settings.openai_api_key, base_url=settings.openai_base_url, model=settings.llm_model,
                     timeout=settings.ask_timeout_s, attempts=2, budget_s=settings.ask_timeout_s,
                     price_input_per_m=settings.llm_price_input, price_output_per_m=settings.llm_price_output)


def on_checkpoint(storage):
    """What the product does with each written checkpoint: its metrics, and a transcript's
    sentences into the search index."""
    from workers.pipeline import metrics
    from workers.pipeline.search.index import on_checkpoint as index_hook

    index = index_hook(storage)

    def hook(conn, video, step: str, output: dict) -> None:
        metrics.observe(video, step, output)
        index(conn, video, step, output)
    return hook


def build_services(settings: Settings) -> dict:
    """Storage and the LLM for the steps; for the engine, ``on_final`` (drop a finished job's
    work files), ``on_checkpoint`` (metrics and the search index, from each checkpoint) and
    ``maintenance_tasks`` (run by the maintenance leader: expired uploads dropped, old
    question counts pruned, transcripts missing from the search index caught up)."""
    from workers.pipeline.search import index, store as search_store
    from workers.pipeline.steps.download import discard_work
    from workers.pipeline.uploads.chunks import prune_expired

    storage = build_storage(settings)
    return {"storage": storage, "llm": build_llm(settings),
            "on_final": lambda video, status: discard_work(settings, video.id, storage, video),
            "on_checkpoint": on_checkpoint(storage),
            "maintenance_tasks": [lambda conn: prune_expired(conn, storage), search_store.prune_ask_usage,
                                  lambda conn: index.catch_up(conn, storage)]}
