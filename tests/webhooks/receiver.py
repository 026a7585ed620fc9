"""A real portal endpoint for the worker's tests: an HTTP server in a thread on 127.0.0.1.

It records every request (headers and raw body) and answers from a script of status codes
(then `default`), so tests see exactly what went over the wire.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def load_docs_verifier() -> Any:
    """The portal snippet exactly as docs/api.md shows it (and as the example file holds it)."""
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    section = text[text.index("## Verifying notifications"):]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "docs/api.md has no python block under 'Verifying notifications'"
    code = block.group(1)
    example = (ROOT / "docs" / "examples" / "verify_signature.py").read_text(encoding="utf-8")
    assert code == example, "docs/api.md and docs/examples/verify_signature.py differ"
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/api.md#verifying-notifications", "exec"), namespace)  # noqa: S102
    return namespace["verify_feegate_signature"]


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def signature(self) -> str:
        return self.headers.get("Feegate-Signature", "")


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client closing its kept-alive connection is not news


class Receiver:
    def __init__(self, port: int = 0, statuses: list[int] | None = None, default: int = 200,
                 delay: float = 0.0, redirect_to: str | None = None) -> None:
        self.statuses = list(statuses or [])
        self.default = default
        self.delay = delay
        self.redirect_to = redirect_to
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # keep-alive answers must not wait for delayed ACKs

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver.lock:
                    receiver.received.append(Received(self.path, dict(self.headers.items()), body))
                    status = receiver.statuses.pop(0) if receiver.statuses else receiver.default
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                if receiver.redirect_to and 300 <= status < 400:
                    self.send_header("Location", receiver.redirect_to)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = QuietServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/feegate/events"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def ids(self) -> Counter[str]:
        with self.lock:
            return Counter(r.json["id"] for r in self.received)


def closed_port() -> int:
    """A loopback port nobody listens on (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
