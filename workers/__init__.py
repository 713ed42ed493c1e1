"""ClipQueue workers: the Postgres queue, the runtime that drives the pipeline, the steps.

The queue surface the API may use: ``workers.settings``, ``workers.bootstrap``,
``workers.db``, ``workers.queue``, ``workers.urlguard``, ``workers.errors``,
``workers.executor``, ``workers.heartbeat``, ``workers.retry``, ``workers.services``,
``workers.storage`` and ``workers.steps`` (the table, not the step modules); CI checks it
(.ci/check_imports.py). Nothing is imported here: importing ``workers`` is free.
"""
