"""A client that knows only Zoho's published API: plain httpx, written from the spec.

It gets an access token by refresh, sends ``Authorization: Zoho-oauthtoken``, calls CRM
paths under ``{api_domain}/crm/v8`` and Books paths under ``{api_domain}/books/v3`` with
``organization_id``.  It knows nothing of the sandbox.
"""

from __future__ import annotations

import http.server
import json
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx


class Zoho:
    def __init__(self, credentials: Mapping[str, str]) -> None:
        self.credentials = dict(credentials)
        self.http = httpx.Client(timeout=10)
        self._token: str | None = None

    def refresh(self, **overrides: str) -> httpx.Response:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.credentials["client_id"],
            "client_secret": self.credentials["client_secret"],
            "refresh_token": self.credentials["refresh_token"],
        } | overrides
        return self.http.post(f"{self.credentials['accounts_url']}/oauth/v2/token", data=form)

    def token(self) -> str:
        if self._token is None:
            answer = self.refresh().json()
            assert "access_token" in answer, answer
            self._token = answer["access_token"]
        return self._token

    def headers(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return {"Authorization": f"Zoho-oauthtoken {self.token()}", **(extra or {})}

    def crm(
        self, method: str, path: str, *, headers: Mapping[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        url = f"{self.credentials['api_domain']}/crm/v8{path}"
        return self.http.request(method, url, headers=self.headers(headers), **kwargs)

    def books(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        org: str | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        url = f"{self.credentials['api_domain']}/books/v3{path}"
        query = {"organization_id": org or self.credentials["organization_id"], **(params or {})}
        return self.http.request(method, url, params=query, headers=self.headers(headers), **kwargs)

    def close(self) -> None:
        self.http.close()


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
