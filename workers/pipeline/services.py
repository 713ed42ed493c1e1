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


def build_hooks(settings: Settings, storage) -> "Hooks":
    """What the engine runs besides the steps (``workers.queue.hooks``): ``on_final`` (drop a
    finished job's work files), the checkpoint observers (metrics; a transcript's sentences
    into the search index) and the maintenance tasks (``maintenance_tasks``)."""
    from workers.pipeline import metrics
    from workers.pipeline.search.index import on_checkpoint as index_hook
    from workers.pipeline.steps.download import discard_work
    from workers.queue.hooks import Hooks

    def observe_metrics(conn, video, step: str, output: dict) -> None:
        metrics.observe(video, step, output)

    return Hooks(on_final=lambda video, status: discard_work(settings, video.id, storage, video),
                 on_checkpoint=(observe_metrics, index_hook(storage)),
                 maintenance_tasks=maintenance_tasks(storage))


def maintenance_tasks(storage) -> dict:
    """The product's upkeep, run by the maintenance leader with every prune and by ``python -m
    workers prune``: expired uploads dropped, old question counts pruned, transcripts missing
    from the search index caught up."""
    from workers.pipeline.search import index, store as search_store
    from workers.pipeline.uploads.chunks import prune_expired

    return {"expired_uploads": lambda conn: prune_expired(conn, storage),
            "ask_usage_pruned": search_store.prune_ask_usage,
            "transcripts_indexed": lambda conn: index.catch_up(conn, storage)}


def build_services(settings: Settings) -> dict:
    """Storage and the LLM, for the steps (``ctx.services``). The engine's hooks are not
    services: ``build_hooks``."""
    return {"storage": build_storage(settings), "llm": build_llm(settings)}
