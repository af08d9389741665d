"""CRM notifications: the ``/actions/watch`` channels and the callbacks they receive.

``POST /crm/v8/actions/watch`` subscribes channels (``{watch: [{channel_id, events:
["Deals.all", "Accounts.edit", ...], notify_url, token, channel_expiry,
return_affected_field_values}]}``): HTTP 201 with one ``SUCCESS`` entry per channel, or 202
with the per-channel errors, as the spec says.  ``PUT`` replaces a channel's settings,
``PATCH`` with ``_delete_events: true`` removes events (a channel left with none is gone),
``DELETE ?channel_ids=`` removes channels, ``GET`` lists live channels (204 when none).
Channels expire at ``channel_expiry`` (default one hour, at most a week ahead) and then
receive nothing and are no longer listed.

After a record is created, edited or deleted (through the API or the admin API), every
live channel watching that module and operation gets one POST per write call::

    {"server_time": <ms>, "query_params": {...from notify_url}, "module": "Deals",
     "resource_uri": ".../crm/v8/Deals", "ids": [...], "operation": "insert"|"update"|
     "delete", "channel_id": "...", "token": "...", "affected_fields": [...]}

Callbacks go out from one background thread, so an API response never waits for them.
Deliveries (2xx answers) and failures (other answers, refused connections, timeouts) are
counted per channel; there are no retries.
"""

from __future__ import annotations

import collections
import json
import queue
import threading
import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from .clock import Clock, crm_time, parse_time
from .crm_schema import CrmSchema
from .errors import RecordRejected
from .settings import Settings
from .store import Store

OPERATIONS = {"insert": "create", "update": "edit", "delete": "delete"}
DEFAULT_EXPIRY = 3600.0
MAX_EXPIRY = 7 * 86_400.0
_STOP = object()


class Notifier:
    """Channel registry plus the delivery thread."""

    def __init__(
        self,
        store: Store,
        schema: CrmSchema,
        clock: Clock,
        settings: Callable[[], Settings],
        timeout: float = 5.0,
    ) -> None:
        self._store, self._schema, self._clock = store, schema, clock
        self._settings, self._timeout = settings, timeout
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending = 0
        self.stats: dict[str, int] = {"deliveries": 0, "failures": 0, "suppressed": 0}
        self.per_channel: dict[str, dict[str, int]] = collections.defaultdict(
            lambda: {"deliveries": 0, "failures": 0}
        )
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=200)

    # -- channels -----------------------------------------------------------------------------

    def channels(self) -> dict[str, dict[str, Any]]:
        """Live channels (expired ones are dropped from the store on the way)."""
        now = self._clock.now()
        with self._store.transaction():
            stored = self._store.kv_get("crm.channels", {})
            live = {k: v for k, v in stored.items() if v["channel_expiry"] > now}
            if len(live) != len(stored):
                self._store.kv_set("crm.channels", live)
        return live

    def _save(self, channels: Mapping[str, dict[str, Any]]) -> None:
        self._store.kv_set("crm.channels", dict(channels))

    def validate(
        self, item: Any, index: int, base_url: str, old: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """A channel from one ``watch`` entry (merged over ``old``); ``RecordRejected``."""
        path = f"$.watch[{index}]"
        if not isinstance(item, dict):
            raise RecordRejected(
                "INVALID_DATA", "invalid data", {"api_name": "watch", "json_path": path}
            )
        channel = dict(old or {})
        raw_id = item.get("channel_id")
        if raw_id in (None, ""):
            raise RecordRejected(
                "MANDATORY_NOT_FOUND",
                "required field not found",
                {"api_name": "channel_id", "json_path": f"{path}.channel_id"},
            )
        if isinstance(raw_id, bool) or not str(raw_id).isdigit():
            raise RecordRejected(
                "INVALID_DATA",
                "invalid data",
                {
                    "api_name": "channel_id",
                    "json_path": f"{path}.channel_id",
                    "expected_data_type": "long",
                },
            )
        channel["channel_id"] = str(raw_id)
        for key in ("events", "notify_url"):
            if key not in item and key not in channel:
                raise RecordRejected(
                    "MANDATORY_NOT_FOUND",
                    "required field not found",
                    {"api_name": key, "json_path": f"{path}.{key}"},
                )
        if "events" in item:
            events = item["events"]
            if not isinstance(events, list) or not events:
                raise RecordRejected(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "events", "json_path": f"{path}.events"},
                )
            for j, event in enumerate(events):
                module_name, _, op = str(event).partition(".")
                module = self._schema.module(module_name)
                if module is None or op not in ("all", "create", "edit", "delete"):
                    raise RecordRejected(
                        "INVALID_DATA",
                        "invalid data",
                        {"api_name": "events", "json_path": f"{path}.events[{j}]"},
                    )
            channel["events"] = [str(e) for e in events]
        if "notify_url" in item:
            url = urllib.parse.urlsplit(str(item["notify_url"]))
            if url.scheme not in ("http", "https") or not url.netloc:
                raise RecordRejected(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "notify_url", "json_path": f"{path}.notify_url"},
                )
            channel["notify_url"] = str(item["notify_url"])
        if "token" in item:
            token = item["token"]
            if token is not None and (not isinstance(token, str) or len(token) > 50):
                raise RecordRejected(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "token", "json_path": f"{path}.token", "maximum_length": 50},
                )
            channel["token"] = token
        now = self._clock.now()
        if item.get("channel_expiry") is not None:
            try:
                expiry = parse_time(str(item["channel_expiry"]))
            except ValueError:
                expiry = -1.0
            if not now < expiry <= now + MAX_EXPIRY:
                raise RecordRejected(
                    "INVALID_DATA",
                    "invalid data",
                    {"api_name": "channel_expiry", "json_path": f"{path}.channel_expiry"},
                )
            channel["channel_expiry"] = expiry
        elif "channel_expiry" not in channel or old is None:
            channel["channel_expiry"] = now + DEFAULT_EXPIRY
        for flag in ("return_affected_field_values", "notify_on_related_action"):
            if flag in item:
                channel[flag] = bool(item[flag])
            channel.setdefault(flag, False)
        channel.setdefault("token", None)
        channel["base_url"] = base_url.rstrip("/")
        return channel

    def describe(self, channel: Mapping[str, Any]) -> dict[str, Any]:
        tz = self._settings().tz
        return {
            "channel_id": channel["channel_id"],
            "events": list(channel["events"]),
            "notify_url": channel["notify_url"],
            "token": channel["token"],
            "channel_expiry": crm_time(channel["channel_expiry"], tz),
            "return_affected_field_values": channel["return_affected_field_values"],
            "notify_on_related_action": channel["notify_on_related_action"],
        }

    def resources(self, channel: Mapping[str, Any]) -> list[dict[str, Any]]:
        tz = self._settings().tz
        out = []
        for event in channel["events"]:
            module = self._schema.module(event.partition(".")[0])
            if module is None:
                continue
            out.append(
                {
                    "channel_expiry": crm_time(channel["channel_expiry"], tz),
                    "resource_uri": f"{channel['base_url']}/crm/v8/{module.api_name}",
                    "resource_id": module.id,
                    "resource_name": module.api_name,
                    "channel_id": channel["channel_id"],
                }
            )
        return out

    def subscribe(self, channel: dict[str, Any]) -> None:
        with self._store.transaction():
            channels = self.channels()
            channels[channel["channel_id"]] = channel
            self._save(channels)

    def unsubscribe(self, channel_id: str, events: list[str] | None = None) -> bool:
        """Remove a channel, or only some of its events; whether it existed."""
        with self._store.transaction():
            channels = self.channels()
            channel = channels.get(channel_id)
            if channel is None:
                return False
            if events is not None:
                channel["events"] = [e for e in channel["events"] if e not in events]
            if events is None or not channel["events"]:
                del channels[channel_id]
            self._save(channels)
        return True

    # -- callbacks ----------------------------------------------------------------------------

    def notify(
        self, module: str, operation: str, ids: list[str], affected: Mapping[str, list[str]]
    ) -> None:
        """Queue one callback per live channel watching ``module``'s ``operation``."""
        wanted = {f"{module}.all", f"{module}.{OPERATIONS[operation]}"}
        for channel in self.channels().values():
            if not wanted & set(channel["events"]):
                continue
            if not self._settings().callbacks:
                with self._lock:
                    self.stats["suppressed"] += 1
                continue
            url = channel["notify_url"]
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
            body: dict[str, Any] = {
                "server_time": int(self._clock.now() * 1000),
                "query_params": query,
                "module": module,
                "resource_uri": f"{channel['base_url']}/crm/v8/{module}",
                "ids": list(ids),
                "operation": operation,
                "channel_id": channel["channel_id"],
                "token": channel["token"],
            }
            if operation == "update" and channel["return_affected_field_values"]:
                body["affected_fields"] = [{i: affected.get(i, [])} for i in ids]
            self._enqueue(url, body)

    def _enqueue(self, url: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._pending += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="sandbox-callbacks", daemon=True
                )
                self._thread.start()
        self._queue.put((url, body))

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout) as client:
            while True:
                job = self._queue.get()
                if job is _STOP:
                    return
                url, body = job
                status, error = None, None
                try:
                    response = client.post(
                        url, content=json.dumps(body), headers={"Content-Type": "application/json"}
                    )
                    status = response.status_code
                except httpx.HTTPError as exc:
                    error = type(exc).__name__
                ok = status is not None and 200 <= status < 300
                with self._lock:
                    key = "deliveries" if ok else "failures"
                    self.stats[key] += 1
                    self.per_channel[body["channel_id"]][key] += 1
                    self.log.append(
                        {
                            "channel_id": body["channel_id"],
                            "module": body["module"],
                            "operation": body["operation"],
                            "ids": body["ids"],
                            "status": status,
                            "error": error,
                        }
                    )
                    self._pending -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every queued callback has been tried; whether it happened in time."""
        with self._lock:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {
                **self.stats,
                "pending": self._pending,
                "channels": {k: dict(v) for k, v in self.per_channel.items()},
                "log": list(self.log),
            }

    def reset_stats(self) -> None:
        with self._lock:
            self.stats = {"deliveries": 0, "failures": 0, "suppressed": 0}
            self.per_channel.clear()
            self.log.clear()

    def close(self) -> None:
        thread = self._thread
        if thread is not None and thread.is_alive():
            self._queue.put(_STOP)
            thread.join(timeout=self._timeout + 1)
        self._thread = None


__all__ = [
    "DEFAULT_EXPIRY",
    "MAX_EXPIRY",
    "Notifier",
    "OPERATIONS",
]
