"""Webhooks: signed POSTs (Standard Webhooks) when a video is done or has failed for good.

``store`` (the outbox's statements, ``queries.sql``), ``signing`` (the signature),
``sender`` (a POST through the SSRF guard, to the very address it checked) and
``dispatcher`` (the thread that delivers due events, retrying with backoff). The outbox
rows are written by a trigger in the same transaction as the job's final move
(migration 20261122010000), so no event is lost; delivery never blocks the pipeline.
"""
