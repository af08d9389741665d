"""The clients the sandbox's tests talk through: :class:`Zoho`, the shared client of Zoho's
published API at its raw level (:class:`replicator.sandbox.api_client.ZohoHttp`), and
:class:`Receiver`, a notification endpoint."""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
from typing import Any

from replicator.sandbox.api_client import ZohoHttp as Zoho


class Receiver:
    """A tiny HTTP server that records the JSON bodies POSTed to it."""

    def __init__(self, status: int = 200, delay: float = 0.0) -> None:
        self.status, self.delay = status, delay
        self.bodies: queue.Queue[dict[str, Any]] = queue.Queue()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if receiver.delay:
                    time.sleep(receiver.delay)
                receiver.bodies.put({"path": self.path, "body": body})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def next(self, timeout: float = 5.0) -> dict[str, Any]:
        return self.bodies.get(timeout=timeout)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


__all__ = ["Receiver", "Zoho"]
