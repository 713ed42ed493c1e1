"""ClipQueue workers: two packages and the configuration they share.

* ``workers.queue``: the engine. A Postgres job queue with leases, checkpoints, retries and
  its runtime roles (worker, listener, heartbeat, executor, completer, maintenance). It
  knows nothing of videos: the steps, their order and their functions are given to it.
* ``workers.pipeline``: the product. The five video steps, the guarded fetcher, media
  tools, Whisper, the LLM backends, clip choosing, storage and the one-shot ``process``.
* ``workers.settings``: the one configuration reader, used by both and by ``server``.
* ``python -m workers``: the command line, which composes the two.

Contracts (CI, .ci/check_imports.py): ``workers.queue`` imports neither ``workers.pipeline``
nor ``server``; nothing in ``workers`` imports ``server``; steps use only the engine's step
surface (``workers.queue.errors``, ``workers.queue.context``). Nothing is imported here:
importing ``workers`` is free.
"""
