"""Webhooks: signed POSTs (Standard Webhooks) when a video is done or has failed for good.

``store`` (the outbox's statements, ``queries.sql``: subscriptions capped per video and
each subscriber's own view, claims one per receiver, the lease fence), ``signing`` (the
signatures, by the ``standardwebhooks`` package), ``sender`` (one POST through the guarded
connection factory downloads use, under one total deadline) and ``dispatcher`` (a claiming
thread and its sending threads, retrying with backoff). The outbox rows are written by a
trigger in the same transaction as the job's final move (migration 20261122010000), so no
event is lost; delivery never blocks the pipeline.
"""
