"""ClipQueue workers: the Postgres queue, the runtime that drives the pipeline, the steps.

The queue surface the API may use: ``workers.settings``, ``workers.bootstrap``,
``workers.db``, ``workers.queue``, ``workers.urlguard``, ``workers.errors``,
``workers.executor``, ``workers.heartbeat``, ``workers.retry`` and ``workers.steps``
(the table, not the step modules). Nothing is imported here: importing ``workers`` is free.
"""
