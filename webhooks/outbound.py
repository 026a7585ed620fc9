"""Delivering the outbox to portals over HTTP: sign, POST, classify the answer.

The database side (claiming, recording, the retry schedule) is `payments.services.outbox`;
this module only talks HTTP, and always with a claim committed first, never inside a
transaction. A message goes to its client's configured notify URL and nowhere else:
redirects are not followed (a 3xx is a failed try), and the URL comes from the client
row, never from the message.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from payments.services import outbox
from payments.services.gateway import Gateway
from payments.services.outbox import ClaimedMessage, OutboxStatus, TryResult
from webhooks.signing import HEADER, signature_header

logger = logging.getLogger(__name__)

USER_AGENT = "feegate-webhooks/1"
CONNECT_TIMEOUT = 5.0


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent and signed: compact JSON, UTF-8 (Vietnamese names stay readable)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class Sender:
    """POSTs one claimed message. One per worker thread (it keeps a connection pool)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.http = requests.Session()
        self.http.headers["User-Agent"] = USER_AGENT

    def close(self) -> None:
        self.http.close()

    def send(self, message: ClaimedMessage, timestamp: int) -> TryResult:
        body = encode_body(message.payload)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            HEADER: signature_header(body, message.secrets, timestamp),
            "Feegate-Event-Id": message.id,
            "Feegate-Event-Type": message.type,
        }
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response = self.http.post(
                message.url, data=body, headers=headers, allow_redirects=False, stream=True,
                timeout=(min(CONNECT_TIMEOUT, self.timeout), self.timeout),
            )
            status = response.status_code
            _drain(response)  # only the status counts; a short body keeps the connection reusable
            if not 200 <= status < 300:
                error = f"HTTP {status}"
                if 300 <= status < 400:
                    error += " (redirects are not followed: configure the final notify URL)"
        except requests.Timeout:
            error = f"timeout after {self.timeout:g} s"
        except requests.ConnectionError as exc:
            error = f"connection failed: {_reason(exc)}"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = int((time.monotonic() - started) * 1000)
        return TryResult(status_code=status, error=error, duration_ms=duration_ms)


MAX_ANSWER_BYTES = 64 * 1024


def _drain(response: requests.Response) -> None:
    try:
        read = 0
        for chunk in response.iter_content(8192):
            read += len(chunk)
            if read > MAX_ANSWER_BYTES:
                break  # a long answer is not worth reading: drop the connection instead
    except requests.RequestException:
        pass  # the status is already known; a broken body does not change it
    finally:
        response.close()


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for known in ("Connection refused", "Name or service not known", "Connection reset",
                  "Temporary failure in name resolution", "No route to host"):
        if known in text:
            return known
    return text[:300]


@dataclass
class DeliveryStats:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    def add(self, status: str) -> None:
        self.by_status[status] = self.by_status.get(status, 0) + 1
        if status == OutboxStatus.DELIVERED.value:
            self.delivered += 1
        elif status == OutboxStatus.DEAD.value:
            self.dead += 1
        else:
            self.failed += 1


def deliver_due(
    gw: Gateway,
    *,
    sender: Sender | None = None,
    stop: threading.Event | None = None,
    max_batches: int | None = None,
) -> DeliveryStats:
    """Deliver every due message, batch after batch, until none is due (or `stop` is set)."""
    settings = gw.settings
    own_sender = sender is None
    sender = sender or Sender(settings.notify_timeout_seconds)
    stats = DeliveryStats()
    # Start a send only while the claim's lease surely outlasts it (a slow portal must not
    # let another worker re-claim a message this worker is about to send).
    budget = settings.worker_lease_seconds - (CONNECT_TIMEOUT + settings.notify_timeout_seconds) - 5
    batches = 0
    try:
        while not (stop and stop.is_set()) and (max_batches is None or batches < max_batches):
            claimed = outbox.claim_due(gw, limit=settings.worker_batch_size,
                                       lease_seconds=settings.worker_lease_seconds)
            if not claimed:
                break
            batches += 1
            started = time.monotonic()
            for index, message in enumerate(claimed):
                if (stop and stop.is_set()) or time.monotonic() - started > budget:
                    rest = claimed[index:]
                    outbox.release(gw, rest)
                    stats.released += len(rest)
                    break
                result = sender.send(message, int(gw.now().timestamp()))
                status = outbox.record_try(gw, message, result)
                stats.add(status)
                log = logger.info if result.ok else logger.warning
                log("outbox %s %s try %d -> %s (%s, %d ms)", message.id, message.type,
                    message.tries, result.status_code or "-", result.error or "ok",
                    result.duration_ms)
    finally:
        if own_sender:
            sender.close()
    return stats
