"""The URLs that feegate sends browsers to (`return_url`) or calls itself (`notify_url`).

Why a module of its own: Python's `urllib.parse` does not parse URLs the way a browser
does. `https://evil.example\\@portal.example.vn/` is host `portal.example.vn` to
`urlsplit` but `evil.example` to Chromium (WHATWG treats `\\` as `/` in http(s) URLs), and
browsers also strip tabs and newlines, decode `%61` in hosts, turn `2130706433` or
`0x7f.1` into `127.0.0.1`, and fold `。` and fullwidth letters into ASCII. So every URL
is parsed here with `ada_url` (a WHATWG-conformant parser, the one Node.js uses), and the
host compared is the one a browser would reach.

On top of that we refuse whatever a browser would *silently repair*, because the repair is
where the other parsers on the way (the portal's, a proxy's, a log reader's) disagree:

- only `http://` and `https://`, written with both slashes (no `https:evil`, `//host`,
  `javascript:`, `data:`, `file:`), and an authority that is exactly `host[:port]`;
- no userinfo (`user:pass@`), no backslash, no control, whitespace or invisible
  formatting characters anywhere (also the tab and newline that WHATWG drops), no lone
  surrogates, no malformed `%` escapes;
- the host written canonically: its raw text, lowercased, must equal what the browser
  serialises. Uppercase is accepted (hosts compare case-insensitively); a trailing dot,
  `%`-escapes, non-decimal or short IPv4 forms, non-ASCII (IDNA) spellings and
  non-canonical IPv6 (`[0::1]`, `[::ffff:127.0.0.1]`) are refused: an international
  domain must be sent in its `xn--` form. Names are LDH labels (letters, digits, hyphens);
- a port, when given, is 1-65535 without leading zeros;
- in the path: no dot segments, no leading `//`, and no encoded separators or controls
  (`%2f %5c %2e %3f %23 %40 %3a %25`, `%00`-`%1f`, `%7f`), since servers that decode
  before routing turn them into other paths (or other hosts); in the query and fragment
  only encoded controls are refused (`%2F` there is what `urlencode` writes for values).

`notify_url` adds where feegate itself may connect (server-side request forgery): https
unless the host is loopback (always allowed, for a portal on the same machine), and
outside the `dev`/`test` environments never an IP literal that is not globally routable
(private, shared, link-local, unspecified, reserved, documentation, IPv4 embedded in IPv6
via mapped/6to4/Teredo/NAT64 forms included), nor a special-use or internal name
(`*.local`, `*.internal`, `*.localhost`, `*.home.arpa`, `*.lan`, `*.corp`, …,
single-label names); multicast and broadcast never. Only the literal is
checked: no DNS lookup happens at validation, so a public name that later resolves to a
private address (DNS rebinding) is a delivery-time concern of the outbound sender.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

import ada_url

MAX_LENGTH = 2000

HostKind = Literal["domain", "ipv4", "ipv6"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SCHEME = re.compile(r"^(https?)://", re.IGNORECASE)
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PATH_FORBIDDEN_ESCAPES = re.compile(r"%(2[fFeE35]|5[cC]|3[fFaA]|23|40|[01][0-9A-Fa-f]|7[fF])")
_CONTROL_ESCAPES = re.compile(r"%([01][0-9A-Fa-f]|7[fF])")
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"}
# Names that resolve inside a network, never on the public internet. RFC 2606's `.test`,
# `.example` and `.invalid` are left alone: they resolve nowhere, so a delivery to them
# fails on its own, and integrators' documentation uses them.
_SPECIAL_USE_SUFFIXES = (".local", ".localhost", ".internal", ".home.arpa", ".localdomain",
                         ".lan", ".intranet", ".corp")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
LOOPBACK_NAMES = frozenset({"localhost"})
PRIVATE_ALLOWED_ENVS = frozenset({"dev", "test"})


class UnsafeURL(ValueError):
    """The URL is refused; `reason` says why in words fit for an `errors[].message`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class HostNotRegistered(UnsafeURL):
    """A well-formed return URL whose host is not one the client registered."""


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed `check_url`: what a browser would make of it."""

    raw: str
    href: str  # the browser's serialisation
    scheme: Literal["http", "https"]
    host: str  # lowercase; an IPv6 address without its brackets
    kind: HostKind
    port: int | None  # None when absent or the scheme's default

    @property
    def ip(self) -> IPAddress | None:
        if self.kind == "domain":
            return None
        return ipaddress.ip_address(self.host)


def check_url(raw: str, *, max_length: int = MAX_LENGTH) -> CheckedURL:
    """Parse `raw` as a browser would and refuse anything ambiguous (see the module doc)."""
    if not isinstance(raw, str) or not raw:
        raise UnsafeURL("must be an absolute http:// or https:// URL")
    if len(raw) > max_length:
        raise UnsafeURL(f"must be at most {max_length} characters")
    for char in raw:
        if char == "\\":
            raise UnsafeURL("must not contain a backslash")
        if unicodedata.category(char) in _REFUSED_CATEGORIES:
            raise UnsafeURL("must not contain control, whitespace or invisible characters")
    match = _SCHEME.match(raw)
    if match is None:
        raise UnsafeURL("must be an absolute http:// or https:// URL")
    scheme = match.group(1).lower()
    rest = raw[match.end():]
    split = re.search(r"[/?#]", rest)
    authority, tail = (rest[: split.start()], rest[split.start():]) if split else (rest, "")
    if not authority:
        raise UnsafeURL("must name a host right after the scheme's //")
    if "@" in authority:
        raise UnsafeURL("must not contain user information (user:password@)")
    if "%" in authority:
        raise UnsafeURL("the host must not contain %-escapes")
    raw_host, port_text = _split_authority(authority)
    if port_text is not None and (not _PORT.fullmatch(port_text) or int(port_text) > 65535):
        raise UnsafeURL("the port must be a number from 1 to 65535")
    if _ESCAPE.search(raw):
        raise UnsafeURL("contains a % that is not followed by two hex digits")
    _check_tail(tail)
    try:
        parsed = ada_url.parse_url(raw)
    except ValueError:
        raise UnsafeURL("is not a valid URL") from None
    if parsed["protocol"] != scheme + ":" or parsed["username"] or parsed["password"]:
        raise UnsafeURL("must be an absolute http:// or https:// URL without user information")
    host = str(parsed["hostname"])
    kind = _kind(parsed["host_type"])
    if not raw_host.isascii() or raw_host.lower() != host:
        raise UnsafeURL(
            f"the host must be written as browsers write it ({host or 'none'}), "
            "without a trailing dot, IDNA or numeric tricks"
        )
    if host.endswith("."):
        raise UnsafeURL("the host must not end with a dot")
    if kind == "domain" and (
        len(host) > 253 or not all(_LABEL.fullmatch(label) for label in host.split("."))
    ):
        raise UnsafeURL("the host must be a domain name of letters, digits and hyphens")
    port = int(parsed["port"]) if parsed["port"] else None
    return CheckedURL(
        raw=raw,
        href=str(parsed["href"]),
        scheme="https" if scheme == "https" else "http",
        host=host[1:-1] if kind == "ipv6" else host,
        kind=kind,
        port=port,
    )


def _split_authority(authority: str) -> tuple[str, str | None]:
    if authority.startswith("["):
        end = authority.find("]")
        if end < 0:
            raise UnsafeURL("the IPv6 address is missing its closing ]")
        host, after = authority[: end + 1], authority[end + 1:]
        if not after:
            return host, None
        if not after.startswith(":"):
            raise UnsafeURL("only :port may follow an IPv6 address")
        return host, after[1:]
    if "[" in authority or "]" in authority:
        raise UnsafeURL("brackets are only allowed around an IPv6 address")
    host, colon, port = authority.partition(":")
    return host, (port if colon else None)


def _check_tail(tail: str) -> None:
    path_end = re.search(r"[?#]", tail)
    path = tail[: path_end.start()] if path_end else tail
    rest = tail[path_end.start():] if path_end else ""
    if path.startswith("//"):
        raise UnsafeURL("the path must not start with //")
    if _PATH_FORBIDDEN_ESCAPES.search(path):
        raise UnsafeURL("the path must not contain %-encoded separators, dots or controls")
    if any(segment in (".", "..") for segment in path.split("/")):
        raise UnsafeURL("the path must not contain . or .. segments")
    if _CONTROL_ESCAPES.search(rest):
        raise UnsafeURL("the query and fragment must not contain %-encoded control characters")


def _kind(host_type: object) -> HostKind:
    if host_type == ada_url.HostType.IPV4:
        return "ipv4"
    if host_type == ada_url.HostType.IPV6:
        return "ipv6"
    return "domain"


# -- return_url ------------------------------------------------------------------------------


def normalise_host(host: str) -> str:
    """A registered host as compared: lowercase, IPv6 without brackets."""
    host = host.strip().lower()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_return_url(raw: str, registered_hosts: list[str]) -> CheckedURL:
    """A browser following `raw` lands on one of `registered_hosts`, or UnsafeURL."""
    url = check_url(raw)
    if url.host not in {normalise_host(h) for h in registered_hosts}:
        raise HostNotRegistered(f"host {url.host} is not one of the client's return hosts")
    return url


# -- notify_url ------------------------------------------------------------------------------


def private_addresses_allowed(env: str) -> bool:
    """Private and link-local notify URLs are for development and the tests only."""
    return env in PRIVATE_ALLOWED_ENVS


def is_loopback(url: CheckedURL) -> bool:
    if url.kind == "domain":
        return url.host in LOOPBACK_NAMES
    ip = url.ip
    assert ip is not None
    return ip.is_loopback and not _embedded_ipv4(ip)


def check_notify_url(raw: str, *, env: str, max_length: int = 1000) -> CheckedURL:
    """A URL feegate may POST notifications to, or UnsafeURL (see the module doc)."""
    url = check_url(raw, max_length=max_length)
    loopback = is_loopback(url)
    if url.scheme != "https" and not loopback:
        raise UnsafeURL("must be https:// (http only for loopback hosts)")
    if loopback:
        return url
    ip = url.ip
    if ip is not None:
        if ip.is_multicast or _is_broadcast(ip):
            raise UnsafeURL("must not be a multicast or broadcast address")
        if not private_addresses_allowed(env) and not _globally_routable(ip):
            raise UnsafeURL(
                "must not be a private, link-local, unspecified or otherwise non-public address"
            )
    elif not private_addresses_allowed(env) and _special_use_name(url.host):
        raise UnsafeURL("must be a public domain name (not a local or internal one)")
    return url


def _is_broadcast(ip: IPAddress) -> bool:
    return isinstance(ip, ipaddress.IPv4Address) and ip == ipaddress.IPv4Address(
        "255.255.255.255"
    )


def _embedded_ipv4(ip: IPAddress) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses carried inside an IPv6 one (mapped, 6to4, Teredo, NAT64)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return []
    found = [a for a in (ip.ipv4_mapped, ip.sixtofour) if a is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if ip in _NAT64:
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _globally_routable(ip: IPAddress) -> bool:
    if not ip.is_global or ip.is_private or ip.is_link_local or ip.is_unspecified:
        return False
    if ip.is_reserved or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local):
        return False
    return all(_globally_routable(inner) for inner in _embedded_ipv4(ip))


def _special_use_name(host: str) -> bool:
    return "." not in host or host.endswith(_SPECIAL_USE_SUFFIXES)


# -- same-site redirects (staff sign-in `next=`) ---------------------------------------------

_PATH_CHARS = re.compile(r"[\x21-\x7e]+")


def same_site_path(target: str | None, *, under: str = "/") -> str | None:
    """`target` when it is a plain path of this site below `under`, else None.

    For redirects after sign-in: one leading `/` (never `//` or `/\\`, which browsers
    read as another host), printable ASCII only (a newline in a `Location` header is a
    500 or a header injection), no dot segments and no encoded separators or controls.
    """
    if not target or len(target) > MAX_LENGTH or not _PATH_CHARS.fullmatch(target):
        return None
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    if not target.startswith(under) or _ESCAPE.search(target):
        return None
    path_end = re.search(r"[?#]", target)
    path = target[: path_end.start()] if path_end else target
    if "//" in path or _PATH_FORBIDDEN_ESCAPES.search(path) or _CONTROL_ESCAPES.search(target):
        return None
    if any(segment in (".", "..") for segment in path.split("/")):
        return None
    return target
