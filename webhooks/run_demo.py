"""`make run`: gunicorn for the web app and the worker loop beside it, stopped together.

One gunicorn process with threads: the local provider simulators keep their ledgers in
memory and call feegate back while serving a request. Production runs gunicorn with
several processes and `feegate worker` separately (docs/operations.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", default=os.environ.get("PORT", "8000"))
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    web = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "wsgi:app",
            "--bind",
            f"127.0.0.1:{args.port}",
            "--workers",
            "1",
            "--threads",
            "8",
            "--config",
            str(Path(__file__).resolve().parent.parent / "gunicorn.conf.py"),
        ]
    )
    worker = subprocess.Popen([str(bin_dir / "feegate"), "worker"])
    children = [web, worker]

    def stop(*_: object) -> None:
        for child in children:
            if child.poll() is None:
                child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return web.wait()
    finally:
        stop()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    raise SystemExit(main())
