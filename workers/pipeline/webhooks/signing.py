"""Standard Webhooks signatures (https://www.standardwebhooks.com/), made by the
``standardwebhooks`` package (the specification's own Python library, which receivers use to
verify): ``webhook-signature`` is ``v1,`` + base64 of HMAC-SHA256 over
``<webhook-id>.<webhook-timestamp>.<body>``, keyed with the secret's bytes.

During a secret rotation (CLIPQUEUE_WEBHOOK_SECRET_PREVIOUS set) the header carries one
signature per secret, space-separated, as the specification allows: a receiver that knows
either secret verifies the delivery. Secrets are parsed strictly (``settings.webhook_key``)
before the library sees their bytes (its own parsing forgives junk).
"""
from __future__ import annotations

from datetime import datetime, timezone

from standardwebhooks.webhooks import Webhook

from workers.settings import webhook_key


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed delivery of ``body``: one signature per secret, in order."""
    if not secrets:
        raise ValueError("no webhook secret to sign with")
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    signatures = [Webhook(webhook_key(secret)).sign(message_id, when, body.decode("utf-8")) for secret in secrets]
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": " ".join(signatures)}


def secrets_of(settings) -> list[str]:
    """The secrets a delivery is signed with: the current one, then the previous one while set."""
    return [s for s in (settings.webhook_secret, settings.webhook_secret_previous) if s]
