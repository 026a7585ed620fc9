"""The one place adapters talk HTTP: timeouts always set, failures classified.

A timeout, a refused connection, a 5xx or a body that is not JSON is
`ProviderUnavailable` (retry later); the caller decides what a 4xx JSON answer means.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

import requests

from adapters.errors import ProviderUnavailable

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT: tuple[float, float] = (5.0, 30.0)


def post_json(
    url: str,
    body: Mapping[str, Any],
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """POST a JSON body and return the decoded JSON object answer."""
    return _send(url, timeout=timeout, session=session, json=dict(body))


def post_form(
    url: str,
    fields: Mapping[str, str],
    *,
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
    session: requests.Session | None = None,
) -> dict[str, Any]:
    """POST application/x-www-form-urlencoded fields and decode the JSON answer."""
    return _send(url, timeout=timeout, session=session, data=dict(fields))


def _send(
    url: str,
    *,
    timeout: float | tuple[float, float],
    session: requests.Session | None,
    **kwargs: Any,
) -> dict[str, Any]:
    sender = session or requests
    try:
        response = sender.post(url, timeout=timeout, **kwargs)
    except requests.Timeout as exc:
        logger.warning("provider call timed out: %s", url)
        raise ProviderUnavailable(f"timeout calling {url}") from exc
    except requests.RequestException as exc:
        logger.warning("provider call failed: %s (%s)", url, type(exc).__name__)
        raise ProviderUnavailable(f"cannot reach {url}: {type(exc).__name__}") from exc
    if response.status_code >= 500:
        raise ProviderUnavailable(f"{url} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except (ValueError, json.JSONDecodeError) as exc:
        raise ProviderUnavailable(
            f"{url} answered HTTP {response.status_code} without JSON"
        ) from exc
    if not isinstance(data, dict):
        raise ProviderUnavailable(f"{url} answered JSON that is not an object")
    return data
