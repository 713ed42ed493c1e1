"""The queue engine: Postgres rows claimed with ``FOR UPDATE SKIP LOCKED``, run step by step
under a lease, each finished step checkpointed before the row advances.

It knows nothing of videos. What it runs is given to it at start-up: a step table, an
ordered mapping of step name to ``run(subject, ctx) -> dict`` (the order is the pipeline's
order; the ``pipeline_step`` enum holds the same names, which the worker checks). A job's
subject is an id and the URL it was submitted with (rows of ``videos``, which the schema
names); the engine never interprets either. It never imports ``workers.pipeline`` or
``server`` (CI checks it).

Layout, after procrastinate and River:

* data: ``queries.sql`` (every statement, by name), ``sql`` (the loader), ``jobs`` (one
  function per statement), ``records`` (Job, Lease and the other records they return);
  ``db`` (connections, the one reconnect helper), ``embedded`` (the embedded Postgres),
  ``migrate``, ``bootstrap``;
* policy: ``retry`` (backoff, the one Retry-After parser), ``errors`` (what a step raises),
  ``context`` (what a step sees: ``Subject`` and ``StepContext``);
* runtime, one module per role: ``worker`` (the process and its slots), ``listener``
  (LISTEN/NOTIFY), ``heartbeat`` (leases, progress, aborts), ``executor`` (runs a step),
  ``completer`` (writes its outcome, fenced by the lease), ``maintenance`` (reap, archive,
  prune; one process of the fleet at a time), ``hooks`` (what the product gives besides its
  steps: on_final, checkpoint observers, maintenance tasks), ``logsink`` (logging that never
  blocks).

Steps may import ``errors`` and ``context`` and nothing else from here.
"""
