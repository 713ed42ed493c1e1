"""Webhook secrets are parsed strictly, and during a rotation every delivery carries a
signature by each secret, made and checked with the ``standardwebhooks`` package (issue 19,
section 3)."""
from __future__ import annotations

import base64

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from workers.settings import Settings, SettingsError

from .test_webhooks import SECRET, api, delivered, hooks, process, receiver, submit  # noqa: F401 - fixtures


KEY_24 = base64.b64encode(bytes(range(24))).decode()   # 32 characters, no padding
KEY_25 = base64.b64encode(bytes(range(25))).decode()   # 36 characters, "==" at the end


@pytest.mark.parametrize("secret", [SECRET, f"whsec_{KEY_24}", f"whsec_{KEY_25}"])
def test_a_webhook_secret_in_standard_form_is_accepted(secret):
    assert Settings.from_env({"CLIPQUEUE_WEBHOOK_SECRET": secret}).webhook_secret == secret


@pytest.mark.parametrize("secret", [
    SECRET + "!!", SECRET + "~", SECRET[:-4] + "!" + SECRET[-3:],  # junk after it, or inside it
    SECRET + "==", f"whsec_{KEY_25}=",  # padding that is not base64's
    f"whsec_{KEY_25.rstrip('=')}",  # its padding left off
    f"whsec_{KEY_25[:-3]}B==",  # bits past the last byte: no encoder writes that
    f"whsec_{KEY_24} {KEY_24}", f"whsec_{KEY_24}\n{KEY_24}",
    "whsec_" + base64.b64encode(bytes(23)).decode(),  # 23 bytes: one short
    base64.b64encode(bytes(32)).decode(), "whsec_", "WHSEC_" + KEY_24,
])
@pytest.mark.parametrize("name", ["CLIPQUEUE_WEBHOOK_SECRET", "CLIPQUEUE_WEBHOOK_SECRET_PREVIOUS"])
def test_a_webhook_secret_is_parsed_strictly(secret, name):
    env = {"CLIPQUEUE_WEBHOOK_SECRET": SECRET, name: secret}
    with pytest.raises(SettingsError, match=name):
        Settings.from_env(env)


def test_during_a_rotation_both_secrets_sign_every_delivery(api, receiver, database_url, settings, hooks,
                                                            tmp_path, db):
    new = "whsec_" + base64.b64encode(b"the-new-clipqueue-webhook-secret").decode()
    submit(api, receiver)
    process(database_url, settings)
    rotating = hooks.replace(webhook_secret=new, webhook_secret_previous=SECRET)
    [request] = delivered(database_url, rotating, tmp_path, receiver)
    signatures = request["headers"]["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(s.startswith("v1,") for s in signatures)
    # A receiver that knows either secret verifies it (the standardwebhooks package, as receivers use it).
    assert Webhook(new).verify(request["body"], request["headers"])["type"] == "video.done"
    assert Webhook(SECRET).verify(request["body"], request["headers"])["type"] == "video.done"
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"a-third-secret-nobody-configured").decode()).verify(
            request["body"], request["headers"])
