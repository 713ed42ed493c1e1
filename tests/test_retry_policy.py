"""The retry policy is a pure function of (error, tries so far, budget)."""
from __future__ import annotations

from hypothesis import given, strategies as st

from workers.queue.errors import PermanentError, TransientError
from workers.queue.retry import MAX_DELAY_S, RetryPolicy, parse_retry_after


def test_permanent_errors_fail_at_once():
    decision = RetryPolicy().decide(PermanentError("not_media", "not a media file"), 0, 5)
    assert not decision.retry and decision.cause == "not_media" and decision.message == "not a media file"


def test_transient_errors_retry_until_the_budget_is_spent():
    policy = RetryPolicy(base=1, factor=2, cap=100, rand=lambda: 1.0)
    error = TransientError("net", "connection dropped")
    assert [policy.decide(error, n, 3).delay for n in range(3)] == [1, 2, 4]
    final = policy.decide(error, 3, 3)
    assert not final.retry and final.cause == "net"
    assert final.message == "connection dropped; this is final: it failed 4 times in a row, so it will not be retried"


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


def test_retry_after_is_parsed_in_one_place_per_rfc_9110():
    now = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:14:20 GMT", now=now) == 60.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", now=now) == 0.0  # in the past
    for garbled in ("1e308", "inf", "nan", "-5", "1.5", "soon", "", None, "0x10", "١٢"):
        assert parse_retry_after(garbled) is None, garbled
    assert parse_retry_after("9" * 400) == MAX_DELAY_S  # a huge integer never overflows


@given(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**400, 10**400)))
def test_no_retry_after_parks_a_job_past_the_policy_cap(value):
    policy = RetryPolicy(base=1, cap=600)
    decision = policy.decide(TransientError("http_429", "busy", retry_after=value), 0, 5)
    assert decision.retry and 0 <= decision.delay <= 600
    header = parse_retry_after(str(value))
    capped = policy.decide(TransientError("http_429", "busy", retry_after=header), 0, 5)
    assert 0 <= capped.delay <= 600
