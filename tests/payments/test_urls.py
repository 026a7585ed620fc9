"""payments.urls on its own: what a browser would make of a URL, and what is refused."""

from __future__ import annotations

import pytest

from payments import urls
from tests.web.url_corpus import (
    NOTIFY_URLS_ACCEPTED,
    NOTIFY_URLS_ONLY_IN_DEV_AND_TEST,
    NOTIFY_URLS_REFUSED,
    RETURN_URLS_ACCEPTED,
    RETURN_URLS_REFUSED,
)

HOSTS = ["portal.example.gov.vn", "127.0.0.1"]


def test_every_return_payload_is_refused_and_every_good_url_accepted() -> None:
    accepted = []
    for raw in RETURN_URLS_REFUSED:
        try:
            accepted.append(urls.check_return_url(raw, HOSTS))
        except urls.UnsafeURL:
            pass
    assert accepted == []
    for raw in RETURN_URLS_ACCEPTED:
        assert urls.check_return_url(raw, HOSTS).host in HOSTS


def test_every_notify_payload_is_refused_in_production() -> None:
    for raw in NOTIFY_URLS_REFUSED:
        with pytest.raises(urls.UnsafeURL):
            urls.check_notify_url(raw, env="production")
    for raw in NOTIFY_URLS_ACCEPTED:
        assert urls.check_notify_url(raw, env="production").href
    for raw in NOTIFY_URLS_ONLY_IN_DEV_AND_TEST:
        assert urls.check_notify_url(raw, env="dev").href
        with pytest.raises(urls.UnsafeURL):
            urls.check_notify_url(raw, env="production")


def test_the_parsed_url_is_what_a_browser_makes_of_it() -> None:
    url = urls.check_url("HTTPS://Portal.Example.gov.vn:443/h%E1%BB%93?q=a%20b#x")
    assert (url.scheme, url.host, url.kind, url.port) == ("https", "portal.example.gov.vn",
                                                          "domain", None)
    assert url.href == "https://portal.example.gov.vn/h%E1%BB%93?q=a%20b#x"
    v6 = urls.check_url("http://[2001:db8::1]:8080/")
    assert (v6.host, v6.kind, v6.port, str(v6.ip)) == ("2001:db8::1", "ipv6", 8080, "2001:db8::1")
    assert urls.check_url("http://10.0.0.1/").kind == "ipv4"
    assert urls.check_url("https://xn--bcher-kva.example.vn/").host == "xn--bcher-kva.example.vn"
    with pytest.raises(urls.UnsafeURL):
        urls.check_url("https://bücher.example.vn/")  # IDNA hosts are sent in their xn-- form


@pytest.mark.parametrize(("raw", "reason"), [
    (r"https://evil.example\@portal.example.gov.vn/", "backslash"),
    ("https://a@portal.example.gov.vn/", "user information"),
    ("https://portal.example.gov.vn./", "dot"),
    ("http://2130706433/", "127.0.0.1"),
    ("https://\u212aportal.example.gov.vn/", "browsers write it"),  # KELVIN SIGN folds to k
    ("https://[::1", "closing ]"),
    ("https://portal.example.gov.vn:08/", "port"),
    ("https://ex_ample.vn/", "letters, digits and hyphens"),
    ("https://a..b.vn/", "letters, digits and hyphens"),
    ("ht\ttps://portal.example.gov.vn/", "control"),
])
def test_each_refusal_names_its_reason(raw: str, reason: str) -> None:
    with pytest.raises(urls.UnsafeURL) as caught:
        urls.check_url(raw)
    assert reason in caught.value.reason


def test_registered_hosts_compare_lowercase_and_without_brackets() -> None:
    assert urls.check_return_url("https://[::1]/", ["[::1]"]).host == "::1"
    assert urls.check_return_url("https://[::1]/", ["::1"]).host == "::1"
    assert urls.check_return_url("https://portal.example.gov.vn/", ["PORTAL.example.gov.vn"])
    with pytest.raises(urls.HostNotRegistered):
        urls.check_return_url("https://[::1]/", ["127.0.0.1"])


def test_loopback_is_allowed_always_and_over_http() -> None:
    for raw in ("http://127.0.0.1:9/", "http://127.8.9.10/", "http://localhost/", "http://[::1]/"):
        assert urls.is_loopback(urls.check_notify_url(raw, env="production"))
    for raw in ("http://[::ffff:7f00:1]/", "http://localhost.example.vn/"):
        with pytest.raises(urls.UnsafeURL):
            urls.check_notify_url(raw, env="production")


def test_ipv4_hidden_in_ipv6_never_reaches_a_private_address() -> None:
    assert urls.check_notify_url("https://[2002:808:808::]/", env="production")  # 6to4 of 8.8.8.8
    for raw in ("https://[::ffff:c0a8:1]/", "https://[2002:c0a8:1::]/",
                "https://[64:ff9b::c0a8:1]/", "https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/"):
        with pytest.raises(urls.UnsafeURL):
            urls.check_notify_url(raw, env="production")


def test_multicast_is_refused_even_in_dev() -> None:
    for raw in ("https://224.0.0.1/", "https://[ff02::1]/", "https://255.255.255.255/"):
        with pytest.raises(urls.UnsafeURL):
            urls.check_notify_url(raw, env="dev")


@pytest.mark.parametrize(("target", "expected"), [
    ("/staff/reports?from=2026-11-01", "/staff/reports?from=2026-11-01"),
    ("/staff/", "/staff/"),
    ("/staff/\n", None),
    ("/staff/x\r\nSet-Cookie: a=b", None),
    ("//evil.example/staff/", None),
    ("/\\evil.example", None),
    ("/staff//evil.example", None),
    ("/staff/../evil", None),
    ("/staff/%2e%2e/evil", None),
    ("/staff/%0a", None),
    ("https://evil.example/staff/", None),
    ("/staff/ấ", None),
    ("", None),
    (None, None),
])
def test_same_site_path(target: str | None, expected: str | None) -> None:
    assert urls.same_site_path(target, under="/staff/") == expected
