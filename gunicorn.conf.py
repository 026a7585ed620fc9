"""gunicorn settings for `gunicorn wsgi:app` (read from the working directory by default).

The access log names the path only: providers send the browser back with signed query
strings (VNPay's `vnp_SecureHash`, amounts, bank transaction numbers), and a log line
must never carry a signature or a payer's data (docs/security.md). Workers and threads
come from the command line or GUNICORN_CMD_ARGS (docs/operations.md).
"""

from typing import Any

accesslog = "-"
# %(U)s is the path without its query string; %(r)s (the request line) would log it whole.
access_log_format = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
# A request line or header longer than a browser would send is refused before Flask.
limit_request_line = 8190
limit_request_fields = 100


# -- metrics (docs/operations.md "Metrics") ----------------------------------------------
# With PROMETHEUS_MULTIPROC_DIR set, each worker keeps its counters in files there and a
# scrape of any worker adds them up; the directory is emptied when the master starts (files
# of an earlier run would be added in) and a dead worker's files are marked here.


def on_starting(server: object) -> None:
    import os
    from pathlib import Path

    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink()


def when_ready(server: object) -> None:
    from payments.config import load_settings

    port = load_settings().metrics_port
    if port:  # FEEGATE_METRICS_PORT: the metrics on a port of their own, served by the master
        from payments.web.metrics import serve_metrics_port

        serve_metrics_port(port)


def child_exit(server: object, worker: Any) -> None:
    import os

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
