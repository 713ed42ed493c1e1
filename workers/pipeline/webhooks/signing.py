"""Standard Webhooks signatures (https://www.standardwebhooks.com/): ``webhook-signature`` is
``v1,`` + base64 of HMAC-SHA256 over ``<webhook-id>.<webhook-timestamp>.<body>``, keyed with
the secret (``whsec_`` + base64 of at least 24 random bytes)."""
from __future__ import annotations

import base64
import hashlib
import hmac

from workers.settings import webhook_key


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed delivery of ``body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}
