"""Standard Webhooks signatures (https://www.standardwebhooks.com/): ``webhook-signature`` is
``v1,`` + base64 of HMAC-SHA256 over ``<webhook-id>.<webhook-timestamp>.<body>``, keyed with
the secret (``whsec_`` + base64 of at least 24 random bytes)."""
from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    """The key bytes of a ``whsec_...`` secret; ValueError when it is not one."""
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret looks like whsec_<base64>")
    try:
        key = base64.b64decode(secret[len(PREFIX):] + "==", validate=False)
    except ValueError:
        raise ValueError("the webhook secret after whsec_ is not base64") from None
    if len(key) < 24:
        raise ValueError("the webhook secret must hold at least 24 random bytes")
    return key


def headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers of a signed delivery of ``body``."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": "v1," + base64.b64encode(digest).decode()}
