"""The records the engine's statements return: a claimed ``Job`` and its ``Lease``; what
``enqueue`` and ``complete_step`` report (``Enqueued``, ``Advanced``); job tokens."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

TOKEN_BYTES = 24  # 192 random bits, 32 URL-safe characters


def new_token() -> str:
    """192 random bits, URL-safe. Never starting with "-": command lines (``workers status
    TOKEN``, argparse, most shell tools) would take such a token for an option."""
    while True:
        token = secrets.token_urlsafe(TOKEN_BYTES)
        if not token.startswith("-"):
            return token


@dataclass(frozen=True)
class Enqueued:
    token: str
    created: bool  # False: the URL already had a live job, this is its token
    options: dict = field(default_factory=dict)  # that job's options (the request's when created)


@dataclass(frozen=True)
class Lease:
    """What fences a worker's writes about one claimed row."""

    job_id: int
    worker_id: str
    attempt: int

    def params(self, **extra) -> dict[str, Any]:
        return {"job_id": self.job_id, "worker_id": self.worker_id, "attempt": self.attempt, **extra}


@dataclass(frozen=True)
class Job:
    """A claimed row, as the runner and the steps see it."""

    lease: Lease
    video_id: int
    token: str
    step: str
    retry: int
    max_retries: int
    options: dict
    source_url: str
    normalized_url: str
    step_started_at: datetime
    lease_expires_at: datetime
    rescued: bool
    checkpoints: dict[str, dict] = field(default_factory=dict)  # earlier steps: {"output", ...}


@dataclass(frozen=True)
class Advanced:
    """Where a completed step left the job."""

    status: str                # queued | done | cancelled | running (chained: still ours)
    step: str                  # the job's step now
    attempt: int
    step_started_at: datetime | None
    lease_expires_at: datetime | None
