"""The production access log (gunicorn.conf.py) never carries a provider's signed query."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from payments.services.gateway import Gateway
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
SIGNED_QUERY = {
    "vnp_Amount": "15000000",
    "vnp_BankTranNo": "VNP14226112",
    "vnp_TxnRef": "A1B2C3",
    "vnp_SecureHash": "5b7a0f6c2d1e" * 10,
}


def test_the_access_log_names_the_path_but_never_the_signed_query(gw: Gateway,
                                                                  database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("one process test is enough: the log format does not depend on the database")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEGATE_")}
    env.update({"FEEGATE_ENV": "test", "FEEGATE_DATABASE_URL": database_url,
                "FEEGATE_PUBLIC_URL": f"http://127.0.0.1:{port}", "FEEGATE_LOG_LEVEL": "WARNING"})
    server = subprocess.Popen(
        [str(GUNICORN), "wsgi:app", "--config", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10).ok:
                    break
            except requests.RequestException:
                pass  # not listening yet
            assert time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        requests.get(f"http://127.0.0.1:{port}/pay/return/vnpay", params=SIGNED_QUERY, timeout=60)
    finally:
        server.terminate()
        log, _ = server.communicate(timeout=30)
    lines = [line for line in log.splitlines() if "/pay/return/vnpay" in line]
    assert len(lines) == 1, log
    for value in SIGNED_QUERY.values():
        assert value not in log
    assert "vnp_" not in log
