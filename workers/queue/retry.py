"""Retry policy: a pure object that turns (error, tries so far) into a decision; and the
one parser of a remote's Retry-After header."""
from __future__ import annotations

import math
import random
import time
from email.utils import parsedate_to_datetime
from dataclasses import dataclass, field
from typing import Callable

from workers.queue.errors import PermanentError, TransientError


MAX_DELAY_S = 30 * 86400.0  # no delay, whatever a setting or a remote says, parks a job longer


def parse_retry_after(value: object, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (RFC 9110 10.2.3): ``delay-seconds`` (digits
    only) or an HTTP-date. None when absent or not of either form ("1e308", "-5", "soon"):
    a garbled header is no instruction. Never negative, never over ``MAX_DELAY_S``; the
    retry policy caps it further at its own ``cap``."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(int(text[:12])), MAX_DELAY_S)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None or when.tzinfo is None:
        return None
    seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, seconds), MAX_DELAY_S)


def finite_delay(seconds: object, cap: float = MAX_DELAY_S) -> float:
    """A delay that any timestamp arithmetic can take: finite, >= 0, <= ``cap``."""
    try:
        value = float(seconds)
    except OverflowError:  # an int too large for a float
        return min(cap, MAX_DELAY_S) if seconds > 0 else 0.0
    except (TypeError, ValueError):
        return 0.0
    if math.isnan(value):
        return 0.0
    return min(max(0.0, value), cap, MAX_DELAY_S)


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
            floor = finite_delay(error.retry_after or 0.0)
        else:
            # An error the step did not classify: most often a bug or an unexpected
            # environment problem. Retrying is cheap and the cap bounds it.
            cause, message = "internal_error", "an internal error occurred while processing"
            floor = 0.0
        if retry >= max_retries:
            return Decision(False, cause=cause, message=final_message(message, retry + 1))
        return Decision(True, delay=finite_delay(max(floor, self.backoff(retry)), self.cap), cause=cause,
                        message=message)


def final_message(message: str, tries: int) -> str:
    """The client's message once retries are spent: it must read as final, not as "retrying"."""
    first = message.split(";")[0].rstrip(". ")
    return f"{first}; this is final: it failed {tries} times in a row, so it will not be retried"
