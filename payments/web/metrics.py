"""`GET /metrics`: Prometheus text format (CONTRACT.md "Operations").

Two kinds of series:

- **counted in the process** (`feegate_http_requests_total`, `feegate_rate_limited_total`):
  prometheus-client counters. Under gunicorn with `PROMETHEUS_MULTIPROC_DIR` set, every
  worker writes its own files there and a scrape adds them up (gunicorn.conf.py marks a
  dead worker's files); without it they live in this process's memory.
- **read from the database at scrape time** (`feegate_payments_total`,
  `feegate_callbacks_total`, `feegate_outbox_due`, `feegate_outbox_oldest_due_seconds`,
  `feegate_attempts_*`): one GROUP BY each, so they are right whichever of N web
  processes answers the scrape, with no state of their own.

The time of "oldest due" is the gateway's clock (`gw.now()`), never the machine's.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

from flask import Blueprint, Flask, Response, request
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import and_, case, func, select

from payments.models import Attempt, Outbox, Payment, ProviderCallback
from payments.services.gateway import Gateway
from payments.web.context import gateway

logger = logging.getLogger(__name__)

UNMATCHED = "unmatched"  # a path no route matches (404, 405): never the raw path

HTTP_REQUESTS = Counter(
    "feegate_http_requests",
    "HTTP requests answered, by route template (not the path) and status code.",
    ["route", "status"],
    registry=None,
)
RATE_LIMITED = Counter(
    "feegate_rate_limited",
    "Requests refused with 429 by a rate limit, by scope (api, checkout).",
    ["scope"],
    registry=None,
)
PROCESS_METRICS: tuple[Collector, ...] = (HTTP_REQUESTS, RATE_LIMITED)

# The classic text format: every Prometheus reads it (our names need none of 1.0.0's escaping).
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

bp = Blueprint("metrics", __name__)


def route_label() -> str:
    """The Flask url_rule template (`/api/v1/payments/<payment_id>`): bounded cardinality."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def count_request(response: Response) -> Response:
    HTTP_REQUESTS.labels(route=route_label(), status=str(response.status_code)).inc()
    return response


class DatabaseCollector(Collector):
    """Series read from the database at scrape time (correct across processes)."""

    def __init__(self, gw: Gateway) -> None:
        self.gw = gw

    def describe(self) -> Iterable[Metric]:
        return []  # collected only when scraped: registering must not query the database

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "feegate_metrics_database_up",
            "1 when the database series below could be read on this scrape.",
        )
        try:
            families = self._read()
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database is down
            logger.exception("metrics: the database series could not be read")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _read(self) -> list[Metric]:
        now = self.gw.now()
        provider = func.coalesce(Payment.paid_provider, "none").label("provider")
        stuck_before = now - timedelta(seconds=self.gw.settings.sync_delay_seconds)
        pending = and_(Attempt.status == "pending", Attempt.channel == "online")
        with self.gw.sessions() as session:
            payments = session.execute(
                select(Payment.status, provider, func.count()).group_by(Payment.status, provider)
            ).all()
            attempts_rows = session.execute(
                select(
                    Attempt.provider,
                    Attempt.status,
                    func.count(),
                    func.sum(case((pending, 1), else_=0)),
                    func.sum(case((and_(pending, Attempt.created_at < stuck_before), 1),
                                  else_=0)),
                ).group_by(Attempt.provider, Attempt.status)
            ).all()
            callbacks = session.execute(
                select(ProviderCallback.provider, ProviderCallback.outcome, func.count())
                .group_by(ProviderCallback.provider, ProviderCallback.outcome)
            ).all()
            due, oldest = session.execute(
                select(func.count(), func.min(Outbox.next_attempt_at)).where(
                    and_(Outbox.status == "pending", Outbox.next_attempt_at <= now)
                )
            ).one()
            session.rollback()

        by_status = GaugeMetricFamily(
            # A gauge: a payment moves from one status to another. The contract names it
            # with `_total`; a gauge keeps the name as given (a counter would add `_total`).
            "feegate_payments_total",
            "Payments in the database now, by status and the provider that collected them "
            "(none while unpaid; attempts by provider: feegate_attempts_total).",
            labels=["status", "provider"],
        )
        for status, name, n in payments:
            by_status.add_metric([status, name], n)
        cbs = CounterMetricFamily(
            "feegate_callbacks",  # exposed as feegate_callbacks_total
            "Provider callbacks stored, by provider and how they were handled.",
            labels=["provider", "outcome"],
        )
        for name, outcome, n in callbacks:
            cbs.add_metric([name, outcome or "unprocessed"], n)
        outbox_due = GaugeMetricFamily(
            "feegate_outbox_due", "Portal notifications due for a (re)try now, not yet claimed."
        )
        outbox_due.add_metric([], int(due or 0))
        oldest_due = GaugeMetricFamily(
            "feegate_outbox_oldest_due_seconds",
            "How long the oldest due notification has been waiting (0 when none is due).",
        )
        oldest_due.add_metric([], max(0.0, (now - oldest).total_seconds()) if oldest else 0.0)
        attempts = GaugeMetricFamily(
            "feegate_attempts_total",  # a gauge, as feegate_payments_total: attempts move on
            "Attempts in the database now, by provider and status.",
            labels=["provider", "status"],
        )
        pending_now = GaugeMetricFamily(
            "feegate_attempts_pending",
            "Online attempts still pending, by provider.",
            labels=["provider"],
        )
        overdue = GaugeMetricFamily(
            "feegate_attempts_pending_overdue",
            "Online attempts pending longer than FEEGATE_SYNC_DELAY_SECONDS (no callback).",
            labels=["provider"],
        )
        waiting: dict[str, list[int]] = {}
        for name, status, n, open_, late in attempts_rows:
            attempts.add_metric([name, status], n)
            totals = waiting.setdefault(name, [0, 0])
            totals[0] += int(open_ or 0)
            totals[1] += int(late or 0)
        for name, (open_, late) in sorted(waiting.items()):
            pending_now.add_metric([name], open_)
            overdue.add_metric([name], late)
        return [by_status, attempts, pending_now, overdue, cbs, outbox_due, oldest_due]


def multiprocess_dir() -> str | None:
    """prometheus-client's own variable: set only for gunicorn's web workers."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def render(gw: Gateway) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if multiprocess_dir():
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in PROCESS_METRICS:
            registry.register(metric)
    registry.register(DatabaseCollector(gw))
    return generate_latest(registry)


def authorised(token: str | None, authorization: str | None) -> bool:
    if not token:
        return True
    scheme, _, given = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@bp.get("/metrics")
def metrics() -> Response:
    gw = gateway()
    if not authorised(gw.settings.metrics_token, request.headers.get("Authorization")):
        return Response(
            "metrics: send 'Authorization: Bearer <FEEGATE_METRICS_TOKEN>'\n",
            status=401,
            mimetype="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="feegate-metrics"'},
        )
    return Response(render(gw), headers={"Content-Type": CONTENT_TYPE})


def init_metrics(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(count_request)


def metrics_wsgi_app(gw: Gateway) -> Any:
    """A bare WSGI app answering the metrics on any path (FEEGATE_METRICS_PORT)."""

    def application(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        token = gw.settings.metrics_token
        if not authorised(token, environ.get("HTTP_AUTHORIZATION")):
            start_response("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"metrics: bearer token required\n"]
        body = render(gw)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return application


def serve_metrics_port(port: int, host: str = "0.0.0.0") -> None:  # noqa: S104 - see docs
    """Serve the metrics on their own port from a daemon thread (gunicorn's `when_ready`).

    The gateway gets an engine without a pool: the gunicorn master forks workers later, and
    a forked worker must not inherit a pooled database connection.
    """
    import threading  # noqa: PLC0415
    from wsgiref.simple_server import WSGIRequestHandler, make_server  # noqa: PLC0415

    from sqlalchemy import create_engine  # noqa: PLC0415
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    from payments.config import load_settings  # noqa: PLC0415
    from payments.db import make_engine, make_sessionmaker  # noqa: PLC0415

    class QuietHandler(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            return  # scrapes every few seconds: not worth an access-log line

    if not multiprocess_dir():
        logger.warning("FEEGATE_METRICS_PORT without PROMETHEUS_MULTIPROC_DIR: the master sees "
                       "none of the workers' counters (docs/operations.md)")
    settings = load_settings()
    url = settings.database_url
    engine = (make_engine(url, poolclass=NullPool) if url.startswith("sqlite")
              else create_engine(url, poolclass=NullPool))
    gw = Gateway(settings=settings, sessions=make_sessionmaker(engine), adapters={})
    server = make_server(host, port, metrics_wsgi_app(gw), handler_class=QuietHandler)
    threading.Thread(target=server.serve_forever, name="feegate-metrics", daemon=True).start()
    logger.info("metrics served on %s:%s", host, port)
