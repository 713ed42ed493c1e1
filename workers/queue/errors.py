"""The errors a step raises to tell the runner what happened.

A step never retries or sleeps itself: it raises, and the runner's RetryPolicy decides.
``cause`` is a short machine-readable code (stored in ``failure_cause``); ``message`` is a
sentence safe to show to the client; ``details`` is for operators only.
"""
from __future__ import annotations


class StepError(Exception):
    """Base class: a step failed in a way it understands."""

    def __init__(self, cause: str, message: str, *, details: dict | None = None):
        super().__init__(message)
        self.cause = cause
        self.message = message
        self.details = details or {}


class TransientError(StepError):
    """Worth trying again later (network drop, 5xx, 429, timeout). ``retry_after`` (seconds),
    when the remote said so, is a lower bound for the delay."""

    def __init__(self, cause: str, message: str, *, retry_after: float | None = None,
                 details: dict | None = None):
        super().__init__(cause, message, details=details)
        self.retry_after = retry_after


class PermanentError(StepError):
    """Trying again cannot help (unsupported URL, 404, not a media file, no speech)."""


class Cancelled(Exception):
    """Raised by ``ctx.raise_if_cancelled()`` once cancellation was requested."""


class LeaseLost(Exception):
    """Raised by ``ctx.raise_if_cancelled()`` once the runner knows the lease is gone."""


class StepTimeout(TransientError):
    """The step ran past its deadline (``ctx.set_deadline``): retried like any transient
    error, final once the retries are spent."""

    def __init__(self, step: str, reason: str):
        super().__init__("step_timeout", f"the {step} step took too long ({reason}); it will be retried",
                         details={"reason": reason})
