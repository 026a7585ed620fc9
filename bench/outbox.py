"""Outbox delivery: notifications delivered per second to a local portal, by 1, 2, 4 workers.

M messages are due at once (a realistic `payment.succeeded` payload, inserted in bulk);
K worker threads, each with its own Gateway (own engine and pool, as separate processes
would have), run `webhooks.outbound.deliver_due` — claim a batch (FOR UPDATE SKIP LOCKED on
PostgreSQL, BEGIN IMMEDIATE on SQLite), POST each message signed, record each try — until
nothing is due. The portal is a tiny HTTP server in its own process on 127.0.0.1 (so it
does not share the workers' interpreter), answering 200 at once.

On SQLite claims are serialised, so only 1 worker is measured by default (docs/operations.md).
Every message must end `delivered`, tried once, and reach the portal exactly once.

    python -m bench.outbox [--messages 1000] [--workers 1,2,4] [--batch 20]
    python -m bench.outbox --receiver PORT      (the portal process; used by the above)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from bench import (
    Timing,
    backend_name,
    dispose,
    free_port,
    fresh_database,
    full_size,
    header,
    make_client,
    make_gateway,
    make_procedure,
    ms,
    payment_body,
    percentile,
    quiet,
    wait_for_port,
)
from payments.models import Client, Outbox, OutboxDelivery
from payments.schemas import PaymentCreate
from payments.serialize import payment_to_dict, rfc3339
from payments.services.gateway import Gateway
from payments.services.outbox import ClaimedMessage, TryResult
from payments.services.payments import create_payment
from webhooks.outbound import Sender, deliver_due

ROOT = Path(__file__).resolve().parent.parent
MAX_RECEIVER_SECONDS = 900


def serve_receiver(port: int) -> None:
    """The portal: answer 200 to every POST, count event ids; stop on stdin EOF.

    Prints `ready` once listening, and the counts as JSON when it stops.
    """
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # keep-alive answers must not wait for delayed ACKs

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                seen[self.headers.get("Feegate-Event-Id", "")] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a worker closing its kept-alive connection is not news

    server = Server(("127.0.0.1", port), Handler)

    def stop_on_eof() -> None:
        sys.stdin.read()
        server.shutdown()

    threading.Thread(target=stop_on_eof, daemon=True).start()
    timer = threading.Timer(MAX_RECEIVER_SECONDS, server.shutdown)  # bounded, whatever happens
    timer.daemon = True
    timer.start()
    print("ready", flush=True)
    server.serve_forever(poll_interval=0.2)
    timer.cancel()
    print(json.dumps({"requests": sum(seen.values()), "distinct": len(seen)}), flush=True)


def main(argv: list[str] | None = None) -> None:
    big = full_size()
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=5000 if big else 1000)
    parser.add_argument("--workers", default=None,
                        help="comma-separated worker counts (default 1,2,4; on SQLite 1)")
    parser.add_argument("--batch", type=int, default=20, help="FEEGATE_WORKER_BATCH_SIZE")
    parser.add_argument("--receiver", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver is not None:
        serve_receiver(args.receiver)
        return
    run(args.messages, args.workers, args.batch)


class TimedSender(Sender):
    """The worker's Sender, timing each POST (sign, send, read the answer) precisely."""

    def __init__(self, timeout: float, durations: list[float]) -> None:
        super().__init__(timeout)
        self.durations = durations

    def send(self, message: ClaimedMessage, timestamp: int) -> TryResult:
        started = time.perf_counter()
        try:
            return super().send(message, timestamp)
        finally:
            self.durations.append(time.perf_counter() - started)


def run_workers(gw: Gateway, k: int, durations: list[float]) -> tuple[float, list[int]]:
    """K worker threads, each with its own Gateway, deliver until nothing is due."""
    gateways = [Gateway.from_settings(gw.settings) for _ in range(k)]
    delivered = [0] * k
    errors: list[BaseException] = []
    barrier = threading.Barrier(k + 1)

    def work(n: int) -> None:
        sender = TimedSender(gateways[n].settings.notify_timeout_seconds, durations)
        try:
            barrier.wait(timeout=30)
            delivered[n] = deliver_due(gateways[n], sender=sender).delivered
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            sender.close()

    threads = [threading.Thread(target=work, args=(n,)) for n in range(k)]
    for thread in threads:
        thread.start()
    barrier.wait(timeout=30)
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout=600)
    elapsed = time.perf_counter() - started
    for worker_gw in gateways:
        dispose(worker_gw)
    if errors:
        raise RuntimeError(f"a worker failed: {errors[0]!r}")
    return elapsed, delivered


def queue_messages(gw: Gateway, client_id: str, payment_id: str, shown: dict[str, Any],
                   messages: int, tag: str) -> None:
    """Empty the outbox, then `messages` notifications due now, in one bulk insert."""
    now = gw.now()
    with gw.sessions.begin() as session:
        session.execute(delete(OutboxDelivery))
        session.execute(delete(Outbox))
        ids = [f"evt_bench{tag}x{n:07d}" for n in range(messages)]
        session.execute(insert(Outbox), [
            {"id": i, "client_id": client_id, "payment_id": payment_id,
             "type": "payment.succeeded",
             "payload": {"id": i, "type": "payment.succeeded",
                         "created_at": rfc3339(now), "data": {"payment": shown}},
             "status": "pending", "tries": 0,
             "next_attempt_at": now - timedelta(seconds=1), "created_at": now}
            for i in ids
        ])


def one_round(gw: Gateway, client_id: str, k: int,
              durations: list[float]) -> tuple[float, list[int], dict[str, int]]:
    """Start a portal process, point the client at it, run K workers; what the portal saw."""
    port = free_port()
    with gw.sessions.begin() as session:
        session.execute(update(Client).where(Client.id == client_id)
                        .values(notify_url=f"http://127.0.0.1:{port}/feegate/events"))
    portal = subprocess.Popen(
        [sys.executable, "-m", "bench.outbox", "--receiver", str(port)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert portal.stdout is not None and portal.stdin is not None
        if portal.stdout.readline().strip() != "ready":
            raise RuntimeError("the portal process did not start")
        wait_for_port(port)
        elapsed, delivered = run_workers(gw, k, durations)
        portal.stdin.close()
        received: dict[str, int] = json.loads(portal.stdout.readline() or "{}")
        portal.wait(timeout=30)
    finally:
        if portal.poll() is None:
            portal.terminate()
            portal.wait(timeout=10)
    return elapsed, delivered, received


def run(messages: int, workers_arg: str | None, batch: int) -> None:
    quiet()
    with fresh_database("outbox") as url:
        postgres = backend_name(url) == "postgresql"
        counts = [int(k) for k in (workers_arg or ("1,2,4" if postgres else "1")).split(",")]
        gw = make_gateway(url, worker_batch_size=batch)
        make_procedure(gw)
        client = make_client(gw, notify_url="http://127.0.0.1:9/unused")
        with gw.sessions.begin() as session:
            row = session.get(Client, client.id)
            assert row is not None
            payment = create_payment(session, gw, row,
                                     PaymentCreate.model_validate(payment_body(1, "outbox")))
            session.flush()
            payment_id = payment.id
            shown = payment_to_dict(payment, gw.checkout_url(payment.id))
        header("outbox: webhooks.outbound.deliver_due to a local portal (its own process)", url,
               messages=messages, batch=batch)
        for k in counts:
            queue_messages(gw, client.id, payment_id, shown, messages, str(k))
            posts: list[float] = []
            elapsed, delivered, received = one_round(gw, client.id, k, posts)
            with gw.sessions() as session:
                statuses = dict(session.execute(
                    select(Outbox.status, func.count()).group_by(Outbox.status)).all())
                tries = session.scalar(select(func.max(Outbox.tries)))
                recorded = session.scalar(select(func.count()).select_from(OutboxDelivery))
            ok = (statuses == {"delivered": messages} and tries == 1 and recorded == messages
                  and len(posts) == messages
                  and received == {"requests": messages, "distinct": messages})
            if not ok:
                raise RuntimeError(f"statuses {statuses}, max tries {tries}, {recorded} "
                                   f"tries recorded, portal saw {received}")
            timing = Timing(messages, elapsed)
            http_share = sum(posts) / (elapsed * k)
            print(f"  {f'{k} worker(s)':<14}{timing.line('deliveries/s')}  "
                  f"per worker {delivered}; POST median {ms(statistics.median(posts))}, "
                  f"p95 {ms(percentile(posts, 95))}; {http_share:.0%} of worker time in HTTP, "
                  f"the rest claiming and recording", flush=True)
        print(f"  check: every round {messages} delivered, each tried once and received once",
              flush=True)
        dispose(gw)


if __name__ == "__main__":
    main()
