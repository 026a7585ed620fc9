"""`feegate worker`: expiry, provider status sync, outbox delivery and queued statements.

One pass (`run_once`) expires what is stale, asks providers about attempts still
pending, then delivers every due notification (including those the first two steps just
wrote). `Worker.run` repeats passes every FEEGATE_WORKER_INTERVAL_SECONDS until SIGTERM or
SIGINT; the pass in progress finishes the call it is making, gives back what it had
claimed but not started, and the process exits 0.

The worker holds no state of its own: every claim is in the database, so any number of
workers, in any number of processes on any number of machines, share the work (on
PostgreSQL; on SQLite they take turns).
"""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import asdict, dataclass, field
from types import FrameType
from typing import Any

from payments.services import jobs
from payments.services.gateway import Gateway
from webhooks.outbound import DeliveryStats, Sender, deliver_due

logger = logging.getLogger(__name__)


@dataclass
class PassReport:
    expiry: jobs.JobStats = field(default_factory=jobs.JobStats)
    sync: jobs.JobStats = field(default_factory=jobs.JobStats)
    refunds: jobs.JobStats = field(default_factory=jobs.JobStats)
    outbox: DeliveryStats = field(default_factory=DeliveryStats)
    statements: int = 0  # provider statements reconciled (queued by the staff page)

    def summary(self) -> dict[str, Any]:
        return {
            "expired": self.expiry.expired,
            "queried": self.expiry.queried + self.sync.queried,
            "resolved": self.expiry.applied + self.sync.applied,
            "still_pending": self.expiry.undecided + self.sync.undecided,
            "provider_unavailable": self.expiry.unavailable + self.sync.unavailable,
            "refunds_settled": self.refunds.applied,
            "statements_reconciled": self.statements,
            "delivered": self.outbox.delivered,
            "delivery_failed": self.outbox.failed,
            "dead": self.outbox.dead,
            "released": self.expiry.released + self.sync.released + self.outbox.released,
        }

    def detail(self) -> dict[str, Any]:
        return {"expiry": asdict(self.expiry), "sync": asdict(self.sync),
                "refunds": asdict(self.refunds), "outbox": asdict(self.outbox),
                "statements": self.statements}

    @property
    def busy(self) -> bool:
        return any(v for k, v in self.summary().items() if k != "released")


def run_once(gw: Gateway, *, stop: threading.Event | None = None,
             sender: Sender | None = None) -> PassReport:
    """Every due job once: expiry, status sync, refund sync, outbox delivery, then one
    queued provider statement (after the money jobs, so a long statement delays none)."""
    report = PassReport()
    report.expiry = jobs.expire_due(gw, stop=stop)
    report.sync = jobs.sync_due(gw, stop=stop)
    report.refunds = jobs.sync_refunds(gw, stop=stop)
    report.outbox = deliver_due(gw, stop=stop, sender=sender)
    report.statements = jobs.reconcile_statements(gw, stop=stop)
    return report


class Worker:
    """The loop. `stop` may be set from a signal handler or another thread."""

    def __init__(self, gw: Gateway, *, interval: float | None = None) -> None:
        self.gw = gw
        self.interval = gw.settings.worker_interval_seconds if interval is None else interval
        self.stop = threading.Event()
        self.passes = 0

    def install_signal_handlers(self) -> None:
        """SIGTERM/SIGINT: finish the current call, then exit. A second signal kills."""
        if threading.current_thread() is not threading.main_thread():
            return

        def handle(signum: int, _frame: FrameType | None) -> None:
            logger.info("worker: %s received, stopping after the current call",
                        signal.Signals(signum).name)
            self.stop.set()
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def run(self) -> None:
        logger.info("worker started (every %gs, batch %d)", self.interval,
                    self.gw.settings.worker_batch_size)
        sender = Sender(self.gw.settings.notify_timeout_seconds)
        try:
            while not self.stop.is_set():
                try:
                    report = run_once(self.gw, stop=self.stop, sender=sender)
                    self.passes += 1
                    if report.busy:
                        logger.info("worker pass: %s", report.summary())
                except Exception:  # the database or a provider misbehaves: log, wait, go on
                    logger.exception("worker pass failed; retrying in %gs", self.interval)
                self.stop.wait(self.interval)
        finally:
            sender.close()
        logger.info("worker stopped after %d passes", self.passes)
