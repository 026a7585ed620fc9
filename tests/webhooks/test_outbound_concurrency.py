"""Several workers over one outbox: every due message is sent exactly once per try.

Each worker is a thread with its own Gateway (its own engine, pool and sessions), as
separate processes would be. On PostgreSQL the claim is FOR UPDATE SKIP LOCKED; on SQLite
BEGIN IMMEDIATE serialises it (a smaller run, to keep the suite quick), so there one worker
may take every message: only exactly-once is asserted there.
"""

from __future__ import annotations

import threading
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, insert, select

from payments.models import Outbox, OutboxDelivery
from payments.services.gateway import Gateway
from tests.factories import Clock, create_payment, make_api_client
from tests.webhooks.receiver import Receiver, load_docs_verifier
from webhooks.outbound import Sender, deliver_due

WORKERS = 4


def test_four_workers_send_each_due_message_exactly_once(
        http: FlaskClient, gw: Gateway, clock: Clock, is_postgres: bool) -> None:
    count = 1000 if is_postgres else 200
    verify = load_docs_verifier()
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        payment = create_payment(http, client)
        template: dict[str, Any] = {
            "type": "payment.succeeded", "created_at": "2026-11-26T03:00:00Z",
            "data": {"payment": {"id": payment["id"], "status": "succeeded"}},
        }
        ids = [f"evt_bulk{n:06d}" for n in range(count)]
        with gw.sessions.begin() as session:
            session.execute(insert(Outbox), [
                {"id": i, "client_id": client.id, "payment_id": payment["id"],
                 "type": "payment.succeeded", "payload": {"id": i, **template}, "status": "pending",
                 "tries": 0, "next_attempt_at": clock(), "created_at": clock()}
                for i in ids
            ])

        gateways = []
        for _ in range(WORKERS):
            worker_gw = Gateway.from_settings(gw.settings)
            worker_gw.clock = clock
            gateways.append(worker_gw)
        barrier = threading.Barrier(WORKERS)
        sent: list[int] = [0] * WORKERS
        errors: list[BaseException] = []

        def work(n: int) -> None:
            sender = Sender(gw.settings.notify_timeout_seconds)
            try:
                barrier.wait()
                sent[n] = deliver_due(gateways[n], sender=sender).delivered
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                sender.close()

        threads = [threading.Thread(target=work, args=(n,)) for n in range(WORKERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        for worker_gw in gateways:
            worker_gw.sessions.kw["bind"].dispose()

    assert not errors, errors
    received = portal.ids()
    assert sum(received.values()) == count, f"{sum(received.values()) - count} duplicates"
    assert set(received) == set(ids)
    assert max(received.values()) == 1
    assert sum(sent) == count
    if is_postgres:
        # SKIP LOCKED lets them share the queue; which worker wins how much is up to the
        # scheduler, so only "more than one took part" is a claim that cannot flake.
        assert sum(1 for n in sent if n) >= 2, f"one worker did everything: {sent}"
    sample = portal.received[0]
    assert verify(client.webhook_secret, sample.body, sample.signature, now=clock().timestamp())
    with gw.sessions() as session:
        by_status = select(Outbox.status, func.count()).group_by(Outbox.status)
        statuses = dict(session.execute(by_status).all())
        tries = session.scalar(select(func.count()).select_from(OutboxDelivery))
        max_tries = session.scalar(select(func.max(Outbox.tries)))
    assert statuses == {"delivered": count}
    assert tries == count
    assert max_tries == 1
