"""The retry policy is a pure function of (error, tries so far, budget)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from workers.errors import PermanentError, TransientError
from workers.retry import RetryPolicy


def test_permanent_errors_fail_at_once():
    decision = RetryPolicy().decide(PermanentError("not_media", "not a media file"), 0, 5)
    assert not decision.retry and decision.cause == "not_media" and decision.message == "not a media file"


def test_transient_errors_retry_until_the_budget_is_spent():
    policy = RetryPolicy(base=1, factor=2, cap=100, rand=lambda: 1.0)
    error = TransientError("net", "connection dropped")
    assert [policy.decide(error, n, 3).delay for n in range(3)] == [1, 2, 4]
    final = policy.decide(error, 3, 3)
    assert not final.retry and final.cause == "net" and "4 tries" in final.message


def test_backoff_is_capped():
    policy = RetryPolicy(base=1, factor=10, cap=30, rand=lambda: 1.0)
    assert policy.decide(TransientError("x", "y"), 6, 10).delay == 30


def test_retry_after_is_a_lower_bound():
    policy = RetryPolicy(base=1, rand=lambda: 0.0)
    assert policy.decide(TransientError("rate", "429", retry_after=42), 0, 5).delay == 42


def test_unclassified_errors_are_retried_as_internal_errors_with_a_generic_message():
    decision = RetryPolicy().decide(KeyError("secret detail"), 0, 5)
    assert decision.retry and decision.cause == "internal_error"
    assert "secret" not in decision.message


@given(st.integers(0, 30), st.floats(0, 1), st.floats(0, 1))
def test_equal_jitter_delays_never_shrink_below_the_cap_and_stay_within_it(n, r1, r2):
    policy = RetryPolicy(base=0.5, factor=2, cap=600)
    a = RetryPolicy(base=0.5, factor=2, cap=600, rand=lambda: r1).backoff(n)
    b = RetryPolicy(base=0.5, factor=2, cap=600, rand=lambda: r2).backoff(n + 1)
    if policy.base * policy.factor ** (n + 1) <= policy.cap:
        assert b >= a
    assert policy.cap / 2 * min(1, policy.base * policy.factor ** n / policy.cap) <= a <= policy.cap
