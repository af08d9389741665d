"""The console's auth: password hashes, the user store, sessions, CSRF, the sign-in rate
limit and the headers every response carries.

**The store** lives beside the journal, ``<journal>.console.json``, mode 0600::

    {"secret": <hex>, "admins": {name: hash}, "users": {email: {"hash": hash | null}},
     "links": {sha256(token): {"email", "expires"}}}

It holds what signs the session cookie and the password hashes, so it is never journaled
nor logged; every change to it goes through :func:`update_store`, which holds a lock so a
``replicator users`` command and the console never lose each other's change.

**Hashes** are ``scrypt$16384$8$1$<salt b64>$<hash b64>`` (hashlib's scrypt, a 16-byte
salt), compared with :func:`hmac.compare_digest`.

**Sessions** are Starlette's signed cookie ``replicator_console`` holding ``{"user",
"role", "csrf", "at"}``; one older than the config's ``session_minutes`` is signed out.
The cookie is ``HttpOnly``, ``SameSite=Strict``, and ``Secure`` when the console is
served off loopback (:func:`secure_cookie`, the config's ``secure_cookie``).
The clock is passed in (``now``), so tests move time instead of waiting.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import hashlib
import hmac
import ipaddress
import json
import os
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from journal.entry import utc_text
from replicator.daemon.state import write_json
from replicator.errors import ConfigError

Clock = Callable[[], dt.datetime]
ADMIN = "admin"
INTEGRATION = "integration"
COOKIE = "replicator_console"
SCRYPT_N, SCRYPT_R, SCRYPT_P = 16384, 8, 1  # OWASP's floor for scrypt; ~50 ms a check
MAX_FAILURES = 5  # per (name, client address) ...
FAILURE_WINDOW = dt.timedelta(minutes=15)  # ... in this window, then 429
MAX_PASSWORD = 1024  # longer is refused before hashing: no CPU spent on a flood of megabytes
SIGN_IN_REFUSED = "wrong name or password"  # one message: it never tells which was wrong
SECURE_HEADERS = {
    "content-security-policy": "default-src 'self'; form-action 'self'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def secure_cookie(setting: bool | None, host: str) -> bool:
    """Whether the session cookie is ``Secure`` (sent over HTTPS only): as the config's
    ``secure_cookie`` says, else ("auto", None) unless the console is served on loopback
    only, where a browser reaches it over plain HTTP on this machine.  Every other host
    (a name, a LAN address, all interfaces) is reached across a network: HTTPS there."""
    if setting is not None:
        return setting
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: reached over the network
        return True


# -- password hashes ---------------------------------------------------------------------


def hash_password(password: str) -> str:
    """``password`` as ``scrypt$N$r$p$<salt>$<hash>`` with a fresh 16-byte salt."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str | None) -> bool:
    """Whether ``password`` is the one ``stored`` hashes; False for a malformed hash."""
    if stored is None or len(password) > MAX_PASSWORD:
        return False
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest, validate=True)
        given = _scrypt(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
    except ValueError:  # not our format, bad base64, or parameters scrypt refuses
        return False
    return hmac.compare_digest(given, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=n, r=r, p=p, maxmem=2 * 128 * r * n + 1024 * 1024, dklen=32
    )


# a hash of nothing anyone knows: an unknown name costs one scrypt too, so the time taken
# does not tell a wrong name from a wrong password
_DECOY = hash_password(secrets.token_hex(16))


# -- the store ---------------------------------------------------------------------------


def store_path(journal_path: Path) -> Path:
    """Where the console's store lives: beside the journal."""
    return journal_path.with_name(journal_path.name + ".console.json")


def read_store(path: Path) -> dict[str, Any]:
    """The store (an empty one if there is no file yet), with each section present."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError):
        # the reason names the file, never its text (it holds the session secret)
        raise ConfigError(str(path), "(console store)", "unreadable or not JSON") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "(console store)", "not a JSON object")
    for section in ("admins", "users", "links"):
        data.setdefault(section, {})
    return data


@contextlib.contextmanager
def update_store(path: Path) -> Iterator[dict[str, Any]]:
    """The store to change in place; written back (atomically, mode 0600) when the block
    ends without an error.  A lock file beside it makes two writers take turns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        data = read_store(path)
        yield data
        write_json(path, data, mode=0o600)
    finally:
        os.close(fd)  # closing drops the lock


def session_secret(path: Path) -> str:
    """The secret that signs session cookies: made (and stored) on first use."""
    secret = read_store(path).get("secret")
    if isinstance(secret, str) and len(secret) >= 32:
        return secret
    with update_store(path) as data:
        if not (isinstance(data.get("secret"), str) and len(data["secret"]) >= 32):
            data["secret"] = secrets.token_hex(32)
        secret = data["secret"]
    return str(secret)


def set_admin(path: Path, name: str, password: str) -> None:
    """Add the admin ``name`` or replace its password."""
    if not name.strip() or name != name.strip():
        raise ValueError("an admin's name must be non-empty, without spaces around it")
    if not password:
        raise ValueError("the password is empty")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password is longer than {MAX_PASSWORD} characters")
    hashed = hash_password(password)
    with update_store(path) as data:
        data.setdefault("secret", secrets.token_hex(32))
        data["admins"][name] = hashed


def check_sign_in(store: Mapping[str, Any], name: str, password: str) -> tuple[str, str] | None:
    """(the name as stored, its role) if ``password`` is that of the admin ``name``, else
    of the integration user ``name`` (an email, any case); None otherwise.  An unknown
    name costs as much as a known one."""
    admin = store.get("admins", {}).get(name)
    if admin is not None:
        return (name, ADMIN) if verify_password(password, admin) else None
    users = store.get("users", {})
    email = name if name in users else name.strip().lower()  # emails are kept lower-cased
    user = users.get(email)
    stored = user.get("hash") if isinstance(user, Mapping) else None
    if stored is None:
        verify_password(password, _DECOY)
        return None
    return (email, INTEGRATION) if verify_password(password, stored) else None


def use_link(path: Path, token: str, now: dt.datetime) -> str | None:
    """The email of the integration user a one-time sign-in link was made for, if it is
    known, unexpired and still a user; the link is spent (removed) either way."""
    key = hashlib.sha256(token.encode()).hexdigest()
    if key not in read_store(path)["links"]:
        return None
    with update_store(path) as data:
        link = data["links"].pop(key, None)
    if not isinstance(link, Mapping):
        return None
    try:
        expires = dt.datetime.fromisoformat(str(link.get("expires")))
    except ValueError:
        return None
    email = link.get("email")
    if expires.tzinfo is None or expires <= now or email not in data["users"]:
        return None
    return str(email)


# -- sessions and CSRF -------------------------------------------------------------------


def start_session(
    session: MutableMapping[str, Any], user: str, role: str, now: dt.datetime
) -> None:
    """Sign ``user`` in: a fresh CSRF token, and the time the session ends from."""
    session.clear()
    session.update({"user": user, "role": role, "csrf": secrets.token_urlsafe(32)})
    session["at"] = utc_text(now)


def signed_in(
    session: MutableMapping[str, Any], now: dt.datetime, minutes: int
) -> tuple[str, str] | None:
    """(user, role) of a live session; None (and the session cleared) once it is older
    than ``minutes``, or when it is not a signed-in one."""
    user, role, at = session.get("user"), session.get("role"), session.get("at")
    if not (isinstance(user, str) and role in (ADMIN, INTEGRATION) and isinstance(at, str)):
        return None
    try:
        started = dt.datetime.fromisoformat(at)
    except ValueError:
        started = None
    if started is None or not started <= now < started + dt.timedelta(minutes=minutes):
        session.clear()
        return None
    return user, str(role)


def csrf_token(session: MutableMapping[str, Any]) -> str:
    """The session's CSRF token (made for a visitor not signed in yet: the sign-in form)."""
    token = session.get("csrf")
    if not isinstance(token, str) or not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_ok(session: Mapping[str, Any], given: Any) -> bool:
    """Whether a form's ``csrf`` field is the session's token."""
    expected = session.get("csrf")
    if not (isinstance(expected, str) and expected and isinstance(given, str)):
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


# -- the sign-in rate limit --------------------------------------------------------------


class SignInLimit:
    """At most :data:`MAX_FAILURES` failed sign-ins per (name, client address) in
    :data:`FAILURE_WINDOW`; then refused until the oldest failure leaves the window."""

    def __init__(self, now: Clock, *, max_keys: int = 10_000) -> None:
        self.now = now
        self.max_keys = max_keys  # a flood of made-up names never grows memory past this
        self._failures: dict[tuple[str, str], list[dt.datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: dt.datetime) -> list[dt.datetime]:
        times = [t for t in self._failures.get(key, ()) if now - t < FAILURE_WINDOW]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def blocked(self, name: str, client: str) -> bool:
        name = name.strip().casefold()
        with self._lock:
            return len(self._recent((name, client), self.now())) >= MAX_FAILURES

    def failed(self, name: str, client: str) -> None:
        # one count for every spelling of a name: "Ada " and "ada" share their failures
        name, now = name.strip().casefold(), self.now()
        with self._lock:
            if len(self._failures) >= self.max_keys:
                for key in list(self._failures):
                    self._recent(key, now)
            if len(self._failures) >= self.max_keys:
                self._failures.pop(next(iter(self._failures)))  # the oldest key goes
            self._failures[(name, client)] = [*self._recent((name, client), now), now]

    def succeeded(self, name: str, client: str) -> None:
        with self._lock:
            self._failures.pop((name.strip().casefold(), client), None)


# -- headers -----------------------------------------------------------------------------


class SecureHeaders:
    """ASGI middleware: every HTTP response carries :data:`SECURE_HEADERS`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [
                    (k.encode(), v.encode())
                    for k, v in SECURE_HEADERS.items()
                    if k.encode() not in names
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


__all__ = [
    "ADMIN",
    "COOKIE",
    "INTEGRATION",
    "SECURE_HEADERS",
    "SIGN_IN_REFUSED",
    "Clock",
    "SecureHeaders",
    "SignInLimit",
    "check_sign_in",
    "csrf_ok",
    "csrf_token",
    "hash_password",
    "read_store",
    "secure_cookie",
    "session_secret",
    "set_admin",
    "signed_in",
    "start_session",
    "store_path",
    "update_store",
    "use_link",
    "utc_now",
    "verify_password",
]
