"""The worker as operators run it: its own process, configured by FEEGATE_* variables.

These use the real clock (a separate process cannot share the test's frozen one): the
message is made due by setting its `next_attempt_at` in the past.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import update

from payments.db import system_clock
from payments.models import Outbox
from payments.services.gateway import Gateway
from tests.factories import ApiClient, create_payment, make_api_client
from tests.webhooks.receiver import Receiver, load_docs_verifier

ROOT = Path(__file__).resolve().parents[2]
FEEGATE = [sys.executable, "-c", "import wsgi; wsgi.cli()"]  # what the `feegate` script runs


def environment(gw: Gateway) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEGATE_")}
    env.update({
        "FEEGATE_ENV": "test",
        "FEEGATE_DATABASE_URL": gw.settings.database_url,
        "FEEGATE_PUBLIC_URL": gw.settings.public_url,
        "FEEGATE_WORKER_INTERVAL_SECONDS": "0.2",
        "FEEGATE_LOG_LEVEL": "WARNING",
    })
    return env


def due_event(http: FlaskClient, gw: Gateway, client: ApiClient, reference: str) -> None:
    payment = create_payment(http, client, reference=reference)
    cancelled = http.post(f"/api/v1/payments/{payment['id']}/cancel", headers=client.headers)
    assert cancelled.status_code == 200
    with gw.sessions.begin() as session:
        session.execute(update(Outbox).where(Outbox.payment_id == payment["id"])
                        .values(next_attempt_at=system_clock() - timedelta(minutes=1)))


def test_worker_once_in_its_own_process_delivers_and_exits_0(http: FlaskClient,
                                                             gw: Gateway) -> None:
    verify = load_docs_verifier()
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        due_event(http, gw, client, "H32-P1")
        done = subprocess.run([*FEEGATE, "worker", "--once"], cwd=ROOT, env=environment(gw),
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["delivered"] == 1
    (got,) = portal.received
    assert verify(client.webhook_secret, got.body, got.signature)  # real time: now=None
    assert got.json["type"] == "payment.cancelled"


def test_the_worker_loop_stops_cleanly_on_sigterm(http: FlaskClient, gw: Gateway) -> None:
    with Receiver() as portal:
        client = make_api_client(gw, notify_url=portal.url)
        process = subprocess.Popen([*FEEGATE, "worker"], cwd=ROOT, env=environment(gw),
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            due_event(http, gw, client, "H32-P2")
            deadline = time.monotonic() + 30
            while not portal.received and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting on another process, not on business time
            assert portal.received, "the worker loop delivered nothing"
            due_event(http, gw, client, "H32-P3")  # the loop keeps polling: a second one
            while len(portal.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode == 0, stderr
    assert len(portal.received) == 2
    assert len(portal.ids()) == 2
