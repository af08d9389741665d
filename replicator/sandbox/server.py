"""Running a sandbox on a loopback port: in a background thread, or in the foreground.

``Sandbox`` starts uvicorn in a daemon thread on ``host:port`` (port 0: a free port),
exposes ``.url``, ``.credentials`` and ``.admin`` (an :class:`AdminClient`), writes
``DATA_DIR/credentials.json`` (mode 0600, the keys ``client_id``, ``client_secret``,
``refresh_token``, ``accounts_url``, ``api_domain``, ``organization_id``) and stops cleanly
on ``stop()`` or at the end of a ``with`` block.  Without a ``data_dir`` it works in a
temporary folder that it removes when it stops.

``run_sandbox`` is the foreground form for the command line: it serves until SIGINT or
SIGTERM.  Neither logs a secret: uvicorn's access log is off, and only the URL and the
path of the credentials file are printed.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn

from .admin_client import AdminClient
from .app import SandboxApp, SandboxState, create_app
from .errors import SandboxError

CREDENTIAL_KEYS = (
    "client_id",
    "client_secret",
    "refresh_token",
    "accounts_url",
    "api_domain",
    "organization_id",
)


class Sandbox:
    """A sandbox served from a background thread."""

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str | None = None,
        **options: Any,
    ) -> None:
        self._temp = data_dir is None
        self.data_dir = (
            Path(data_dir)
            if data_dir is not None
            else Path(tempfile.mkdtemp(prefix="replicator-sandbox-"))
        )
        self.host, self.port, self.seed, self._options = host, port, seed, options
        self.app: SandboxApp | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._admin: AdminClient | None = None
        self.url = ""

    @property
    def state(self) -> SandboxState:
        if self.app is None:
            raise SandboxError("the sandbox is not running")
        return self.app.sandbox

    @property
    def credentials(self) -> dict[str, str]:
        return self.state.credentials(self.url)

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def admin(self) -> AdminClient:
        if self._admin is None:
            if not self.url:
                raise SandboxError("the sandbox is not running")
            self._admin = AdminClient(self.url)
        return self._admin

    def start(self) -> Sandbox:
        if self._thread is not None:
            return self
        self.app = create_app(self.data_dir, seed=self.seed, **self._options)
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # accepted sockets inherit this: headers and body go out without Nagle's 40 ms wait
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((self.host, self.port))
        except OSError as exc:
            sock.close()
            self.app.sandbox.close()
            raise SandboxError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self.port = sock.getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"http://{host}:{self.port}"
        # the app sends its own Date, from the sandbox's clock (see gateway.py)
        config = uvicorn.Config(
            self.app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            proxy_headers=False,
            ws="none",
            timeout_graceful_shutdown=2,
            date_header=False,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="sandbox-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise SandboxError("the sandbox server did not start")
            time.sleep(0.01)
        self._write_credentials()
        return self

    def _write_credentials(self) -> None:
        path = self.credentials_path
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({k: self.credentials[k] for k in CREDENTIAL_KEYS}, handle, indent=2)
        os.replace(tmp, path)

    def stop(self) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        if self.app is not None:
            self.app.sandbox.close()
        self._server = self._thread = None
        self.app = None
        if self._temp:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _announce(sandbox: Sandbox) -> None:
    print(f"sandbox listening on {sandbox.url}", flush=True)
    print(f"credentials written to {sandbox.credentials_path}", flush=True)


def run_sandbox(
    host: str = "127.0.0.1",
    port: int = 0,
    data_dir: str | Path | None = None,
    seed: str | None = None,
    *,
    on_ready: Callable[[Sandbox], None] | None = _announce,
    **options: Any,
) -> None:
    """Serve a sandbox in the foreground until SIGINT or SIGTERM."""
    stop = threading.Event()
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with Sandbox(data_dir, host=host, port=port, seed=seed, **options) as sandbox:
            if on_ready is not None:
                on_ready(sandbox)
            try:
                while not stop.wait(0.5):
                    if sandbox._thread is None or not sandbox._thread.is_alive():
                        print("sandbox server stopped", file=sys.stderr)
                        break
            except KeyboardInterrupt:
                pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


__all__ = ["CREDENTIAL_KEYS", "Sandbox", "run_sandbox"]
