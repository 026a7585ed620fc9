"""Chromium's own URL parser agrees with payments.urls on every URL the service accepts.

`new URL(...)` in the page is the browser's WHATWG parser: for each corpus URL that
`payments.urls.check_url` lets through, the host and the serialisation must be Chromium's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from payments import urls
from tests.web.url_corpus import (
    NOTIFY_URLS_ACCEPTED,
    NOTIFY_URLS_ONLY_IN_DEV_AND_TEST,
    NOTIFY_URLS_REFUSED,
    RETURN_URLS_ACCEPTED,
    RETURN_URLS_REFUSED,
)

PARSE = """(inputs) => inputs.map((input) => {
  try { const u = new URL(input); return {hostname: u.hostname, href: u.href}; }
  catch (e) { return null; }
})"""


def chromium_parse(browser: Any, inputs: list[str]) -> list[dict[str, str] | None]:
    page = browser.new_page()
    try:
        result: list[dict[str, str] | None] = page.evaluate(PARSE, inputs)
        return result
    finally:
        page.close()


def encodable(raw: str) -> bool:
    try:
        raw.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def test_every_accepted_url_means_the_same_host_to_chromium(browser: Any) -> None:
    corpus = [u for u in dict.fromkeys(
        RETURN_URLS_ACCEPTED + RETURN_URLS_REFUSED + NOTIFY_URLS_ACCEPTED
        + NOTIFY_URLS_REFUSED + NOTIFY_URLS_ONLY_IN_DEV_AND_TEST) if encodable(u)]
    checked = []
    for raw in corpus:
        try:
            checked.append(urls.check_url(raw))
        except urls.UnsafeURL:
            pass
    assert len(checked) >= len(RETURN_URLS_ACCEPTED) + len(NOTIFY_URLS_ACCEPTED)
    seen = chromium_parse(browser, [c.raw for c in checked])
    for ours, theirs in zip(checked, seen, strict=True):
        assert theirs is not None, ours.raw
        assert theirs["hostname"].strip("[]") == ours.host, ours.raw
        assert theirs["href"] == ours.href, ours.raw


def test_the_reported_open_redirects_really_go_elsewhere_in_chromium(browser: Any) -> None:
    """Why urllib was not enough: it saw the portal where Chromium goes to evil.example."""
    payloads = [r"https://evil.example\@portal.example.gov.vn/",
                "https://evil.example\\portal.example.gov.vn/",
                "https://portal.example.gov.vn\t.evil.example/", "https:/\\evil.example/"]
    seen = chromium_parse(browser, payloads)
    assert [s["hostname"] if s else None for s in seen][:2] == ["evil.example", "evil.example"]
    assert urlsplit(payloads[0]).hostname == "portal.example.gov.vn"
    assert all(s is not None and s["hostname"] != "portal.example.gov.vn" for s in seen)
