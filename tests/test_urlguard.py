"""URL validation and the SSRF guard, directly and property-based."""
from __future__ import annotations

import string

import pytest
from hypothesis import assume, given, strategies as st

from server.video import TOKEN_PATTERN
from workers.queue.jobs import new_token
from workers.pipeline.fetcher.guard import UrlRejected, check_url, is_public_address

from doubles.dns import fake_resolver


def check(url, **kw):
    return check_url(url, resolver=fake_resolver, **kw)


def test_normalization_drops_fragment_and_default_port_and_lowercases_the_host():
    assert check("HTTPS://Example.COM:443/Path?q=A#frag") == "https://example.com/Path?q=A"
    assert check("http://example.com") == "http://example.com/"
    assert check("http://example.com:8080/x") == "http://example.com:8080/x"


def test_a_name_with_any_private_address_is_refused():
    with pytest.raises(UrlRejected) as err:
        check("https://rebind.example/")
    assert err.value.code == "forbidden_host"


def test_names_with_only_public_addresses_pass():
    assert check("https://cdn.example.com/v.mp4") == "https://cdn.example.com/v.mp4"


def test_allow_private_lets_loopback_through_without_resolving():
    assert check("http://127.0.0.1:9000/v.mp4", allow_private=True) == "http://127.0.0.1:9000/v.mp4"
    def no_dns(host, port):
        raise AssertionError("resolved although private hosts are allowed")

    assert check_url("http://anything.invalid/v", allow_private=True, resolver=no_dns) == "http://anything.invalid/v"


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "172.31.255.255", "192.168.0.1", "169.254.169.254",
                                     "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::",
                                     "fe80::1", "fd12::1", "ff02::1", "::ffff:10.0.0.1", "2002:7f00:1::",
                                     "64:ff9b::7f00:1", "2001:db8::1"])
def test_non_public_addresses_are_refused(address):
    assert not is_public_address(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_pass(address):
    assert is_public_address(address)


@given(st.ip_addresses())
def test_the_guard_never_admits_an_address_python_calls_non_global(address):
    if not address.is_global:
        assert not is_public_address(str(address))


@given(st.ip_addresses(v=4))
def test_ipv4_literals_are_refused_exactly_when_not_public(address):
    url = f"http://{address}/v.mp4"
    if is_public_address(str(address)):
        assert check(url) == url
    else:
        with pytest.raises(UrlRejected):
            check(url)


@given(st.text(max_size=300))
def test_any_text_is_either_a_normalized_http_url_or_a_clear_rejection(text):
    try:
        result = check(text)
    except UrlRejected as exc:
        assert exc.code in {"missing_url", "invalid_url", "url_too_long", "unsupported_scheme",
                            "credentials_in_url", "forbidden_host", "unresolvable_host"}
        assert exc.message
    else:
        assert result.startswith(("http://", "https://")) and "#" not in result


@given(st.sampled_from(["http", "https"]), st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
       st.text(alphabet=string.ascii_letters + string.digits + "/-_.~", max_size=50))
def test_normalization_is_idempotent(scheme, host, path):
    url = f"{scheme}://{host}/{path}"
    try:
        once = check(url, allow_private=True)
    except UrlRejected:
        return
    assert check(once, allow_private=True) == once


@given(st.text(max_size=64))
def test_only_well_formed_tokens_reach_the_database(text):
    assume(len(text) != 32 or not set(text) <= set(string.ascii_letters + string.digits + "-_"))
    assert not TOKEN_PATTERN.fullmatch(text)


def test_issued_tokens_are_well_formed_and_carry_192_bits():
    tokens = {new_token() for _ in range(1000)}
    assert len(tokens) == 1000 and all(TOKEN_PATTERN.fullmatch(t) for t in tokens)


@pytest.mark.parametrize("variant, canonical", [
    ("http://example.com/a/./b/../c", "http://example.com/a/c"),                 # dot-segments
    ("http://example.com/a/b/../../c/.", "http://example.com/c/"),
    ("http://example.com/%6D%61nifesto.mp4", "http://example.com/manifesto.mp4"),  # unreserved escapes
    ("http://example.com/a%2fb%3F", "http://example.com/a%2Fb%3F"),              # reserved ones: upper case
    ("http://example.com./v.mp4", "http://example.com/v.mp4"),                   # trailing-dot host
    ("HTTP://EXAMPLE.COM:80/v.mp4#t=10", "http://example.com/v.mp4"),
    ("http://[2606:2800:0220:0001:0248:1893:25C8:1946]/v", "http://[2606:2800:220:1:248:1893:25c8:1946]/v"),
    ("http://faß.example/v", "http://xn--fa-hia.example/v"),                     # UTS 46, not IDNA 2003's "fass"
    ("http://Bücher.example/v", "http://xn--bcher-kva.example/v"),
])
def test_equivalent_urls_normalize_to_one_identity(variant, canonical):
    assert check_url(variant, allow_private=True, resolver=fake_resolver) == canonical
    assert check_url(canonical, allow_private=True, resolver=fake_resolver) == canonical


def test_a_host_that_is_not_a_domain_name_is_refused():
    for bad in ("http://exa mple.com/", "http://a..b/", "http://.example/", "http://ex%00ample.com/",
                "http://ex%2Fample.com/", "http://-"):
        with pytest.raises(UrlRejected) as err:
            check_url(bad, allow_private=True, resolver=fake_resolver)
        assert err.value.code == "invalid_url", bad
