"""Retry policy: a pure object that turns (error, tries so far) into a decision."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from .errors import PermanentError, TransientError


@dataclass(frozen=True)
class Decision:
    retry: bool
    delay: float = 0.0   # seconds until the step may run again (when retry)
    cause: str = ""
    message: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with a cap and "equal jitter": the n-th retry waits a uniform
    time in [d/2, d] with d = min(cap, base * factor**n), so delays never shrink from one
    retry to the next while retries of many videos still spread out.

    ``retry`` is the number of failed tries of the current step so far; a job gets
    ``max_retries`` retries of a step before it fails.
    """

    base: float = 5.0
    factor: float = 2.0
    cap: float = 600.0
    rand: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def backoff(self, retry: int) -> float:
        ceiling = min(self.cap, self.base * self.factor ** retry)
        return ceiling / 2 + self.rand() * ceiling / 2

    def decide(self, error: BaseException, retry: int, max_retries: int) -> Decision:
        if isinstance(error, PermanentError):
            return Decision(False, cause=error.cause, message=error.message)
        if isinstance(error, TransientError):
            cause, message = error.cause, error.message
            floor = error.retry_after or 0.0
        else:
            # An error the step did not classify: most often a bug or an unexpected
            # environment problem. Retrying is cheap and the cap bounds it.
            cause, message = "internal_error", "an internal error occurred while processing"
            floor = 0.0
        if retry >= max_retries:
            return Decision(False, cause=cause,
                            message=f"{message} (gave up after {retry + 1} tries)")
        return Decision(True, delay=max(floor, self.backoff(retry)), cause=cause, message=message)
