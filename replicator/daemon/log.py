"""The daemon's logs: one JSON object a line (the default) or human lines, never a secret.

Every line has ``at`` (UTC, milliseconds), ``level``, ``logger`` and ``message``; an event
adds its fields (``log_event(log, "cycle", module="deals", seconds=0.4)``).  A
:class:`Redactor` filter on the handler replaces every secret it was told about (channel
tokens, the control token) wherever it appears, in the message or in a field; the Zoho
connectors scrub their own (OAuth) secrets before anything reaches a log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import threading
from typing import IO, Any

FORMATS = ("json", "text")
HIDDEN = "[secret]"
LOGGERS = ("replicator", "uvicorn", "apscheduler")  # what the daemon's handler carries


class Redactor(logging.Filter):
    """Replaces known secrets in every record that passes through."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        if secret and len(secret) >= 6:  # a short value would blank ordinary words
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            for secret in self._secrets:
                if secret in value:
                    value = value.replace(secret, HIDDEN)
            return value
        if isinstance(value, dict):
            return {k: self.scrub(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            if not self._secrets:
                return True
        record.msg = self.scrub(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = self.scrub(fields)
        if record.exc_info:  # a traceback is text like any other: format it, then scrub
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


def _at(record: logging.LogRecord) -> str:
    moment = dt.datetime.fromtimestamp(record.created, dt.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _error(formatter: logging.Formatter, record: logging.LogRecord) -> str:
    if record.exc_text:
        return record.exc_text
    return formatter.formatException(record.exc_info) if record.exc_info else ""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "at": _at(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in (getattr(record, "fields", None) or {}).items():
            line.setdefault(key, value)
        error = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else ""
        )
        if error:
            line["error"] = error
        return json.dumps(line, default=_plain, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None) or {}
        extra = " ".join(f"{k}={json.dumps(v, default=_plain)}" for k, v in fields.items())
        text = f"{_at(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if extra:
            text += f" [{extra}]"
        error = record.exc_text or (
            self.formatException(record.exc_info) if record.exc_info else ""
        )
        return f"{text}\n{error}" if error else text


def log_event(
    logger: logging.Logger, message: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """One log line with structured fields."""
    logger.log(level, message, extra={"fields": fields})


def setup_logging(
    log_format: str = "json", *, stream: IO[str] | None = None, level: int = logging.INFO
) -> tuple[logging.Handler, Redactor]:
    """Send the daemon's loggers to ``stream`` (stderr) in ``log_format``; returns the
    handler (remove it with :func:`teardown_logging`) and its redactor."""
    if log_format not in FORMATS:
        raise ValueError(f"log format {log_format!r} (choices: {', '.join(FORMATS)})")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    redactor = Redactor()
    handler.addFilter(redactor)
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.setLevel(level if name == "replicator" else max(level, logging.WARNING))
        logger.propagate = False
    return handler, redactor


def teardown_logging(handler: logging.Handler) -> None:
    for name in LOGGERS:
        logging.getLogger(name).removeHandler(handler)
        logging.getLogger(name).propagate = True


__all__ = [
    "FORMATS",
    "JsonFormatter",
    "Redactor",
    "TextFormatter",
    "log_event",
    "setup_logging",
    "teardown_logging",
]
