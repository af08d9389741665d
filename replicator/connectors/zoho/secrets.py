"""Secrets of the Zoho connectors: tokens and client secrets that never show.

:class:`Secret` holds one; its ``str`` and ``repr`` are ``***`` and :meth:`Secret.reveal`
is the only way to its text.  :class:`Redactor` knows every secret a client has seen and
replaces them by ``***`` in any text: every error message of the client passes through
:meth:`Redactor.scrub`, so no secret reaches an error, a log line or a repr.
"""

from __future__ import annotations

import threading


class Secret:
    """A credential that prints as ``***``; :meth:`reveal` is the only way to its text."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        self._value = str(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


class Redactor:
    """Replaces every known secret in a text by ``***`` (error messages, log lines)."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: Secret | str | None) -> None:
        text = secret.reveal() if isinstance(secret, Secret) else secret
        if text and len(text) >= 4:
            with self._lock:
                self._secrets.add(text)

    def scrub(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            text = text.replace(secret, "***")
        return text


__all__ = ["Redactor", "Secret"]
