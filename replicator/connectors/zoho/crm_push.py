"""Writes to a Zoho CRM side: :class:`CrmPush`, the layer of
:class:`~.crm.ZohoCRMConnector` above :class:`~.crm_api.CrmApi`.

**Push.**  Updates go ``PUT /{Module}`` and creates ``POST /{Module}/upsert`` with
``duplicate_check_fields=[key_field]`` (the unique custom field holding ``Write.key``,
``Replicator_Id`` by default), 100 records a call; per-record answers map to outcomes in
input order.  *Never overwrite an unread change*: before updating, the records are read by
id; one whose (``Modified_Time``, values) differs from what this connector last read or
wrote (or, never read here, is newer than the last pull's watermark) is left alone with
``Outcome(retry=True)``; the update carries ``If-Unmodified-Since`` = the newest
``Modified_Time`` of that read, so a change in between answers 412 ``ALREADY_MODIFIED``,
also ``retry=True``.  (Zoho's times have whole seconds: a change in the same second as the
read with the same values is indistinguishable.)  A create retried in the same process is
an update of the record it made, and leaves that record alone if it changed since.

Line items (:mod:`.crm_lines`) are written whole with each record; an upsert that found the
record a crashed create had made (its rows and the new ones now side by side) is written
again at once as an update, which deletes the rows it held.  A missing key field is
reported in one line naming the module and the field, whatever way CRM says it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from replicator.connectors.base import Outcome, SideModule, Write, memory_key, utc_now
from replicator.connectors.zoho.crm_api import (
    IDS_PER_CALL,
    MODIFIED,
    NUMBER_TYPES,
    USER_TYPES,
    Known,
    Now,
    to_number,
)
from replicator.connectors.zoho.crm_lines import CrmLines, Prepared, line_columns, line_of
from replicator.connectors.zoho.cursors import EPOCH, parse_time, zoho_time
from replicator.connectors.zoho.http import ApiClient
from replicator.connectors.zoho.values import body_of, chunks, digest
from replicator.errors import ZohoError

WRITES_PER_CALL = 100
RETRY_CODES = frozenset(
    {
        "ALREADY_MODIFIED",
        "INTERNAL_ERROR",
        "TOO_MANY_REQUESTS",
        "RATE_LIMIT_EXCEEDED",
        "RECORD_LOCKED",
        "LOCKED",
    }
)


class CrmPush(CrmLines):
    """Pushes writes to a CRM side (see the module docstring).

    ``key_field`` is the unique custom field that holds replicator's record ids (None: plain
    inserts, no upsert); ``triggers`` the workflow triggers a write runs; ``tax_names`` the
    CRM taxes to prefer when several have a line's percentage.
    """

    def __init__(
        self,
        side: str,
        *,
        client: ApiClient,
        key_field: str | None = "Replicator_Id",
        overlap: float = 300.0,
        triggers: Sequence[str] = (),
        tax_names: Sequence[str] = (),
        now: Now = utc_now,
    ) -> None:
        super().__init__(side, client=client, overlap=overlap, now=now, tax_names=tax_names)
        self.key_field = key_field
        self.triggers = list(triggers)
        self._users: dict[str, str] | None = None  # active users' ids by email (casefolded)
        self._made: dict[tuple[str, str], str] = {}  # (table, key) -> id a create made

    def push(self, module: SideModule, writes: Sequence[Write]) -> list[Outcome]:
        if not writes:
            return []
        table = module.table
        self._taxes_failed = None  # taxes that could not be read are asked again
        outcomes: list[Outcome | None] = [None] * len(writes)
        # the same key twice in a batch is one record: the later values win
        leaders: dict[str, int] = {}
        merged: dict[int, dict[str, Any]] = {}
        followers: dict[int, list[int]] = {}
        updates: list[tuple[int, str, bool]] = []  # (index, id, is a retried create)
        creates: list[int] = []
        for i, write in enumerate(writes):
            if write.id is None and write.key in leaders:
                lead = leaders[write.key]
                merged[lead].update(write.values)
                followers.setdefault(lead, []).append(i)
                continue
            merged[i] = dict(write.values)
            if write.id is not None:
                updates.append((i, str(write.id), False))
            else:
                leaders[write.key] = i
                made = self._made.get((table, write.key))
                if made is not None:
                    updates.append((i, made, True))
                else:
                    creates.append(i)
        refused = self._users_by_email(module, merged)
        for i, reason in refused.items():
            outcomes[i] = Outcome(writes[i].key, writes[i].id, error=reason)
        updates = [u for u in updates if u[0] not in refused]
        creates = [i for i in creates if i not in refused]
        if updates:
            current = self._read_by_id(module, [id for _, id, _ in updates])
            ready: list[tuple[int, str, dict[str, Any], str]] = []
            for i, id, retried_create in updates:
                write = writes[i]
                now = current.get(id)
                if now is None:
                    if retried_create:  # another program deleted what we made: make it again
                        creates.append(i)
                    else:
                        outcomes[i] = Outcome(write.key, id, error=self._missing(table, id))
                elif self._unread(memory_key(module), id, now[1]):
                    if retried_create:  # the record we made was edited since: leave the edit
                        outcomes[i] = Outcome(write.key, id)
                    else:
                        outcomes[i] = Outcome(
                            write.key,
                            id,
                            retry=True,
                            error=f"side {self.side}: record {id} of {table} changed since it "
                            "was last read; not overwritten (it is read and merged on the next "
                            "cycle)",
                        )
                else:
                    ready.append((i, id, now[0], now[1][0]))
            self._update_all(module, writes, merged, ready, outcomes)
        prepared: dict[int, Prepared] = {}
        for i in sorted(creates):
            lines = self._lines_or_refuse(module, i, writes, None, merged[i], None, outcomes)
            if lines is not None:
                prepared[i] = lines
        creates = [i for i in sorted(creates) if outcomes[i] is None]
        again: list[tuple[int, str]] = []  # creates that found a record a crash left
        for batch in chunks(creates, WRITES_PER_CALL):
            again += self._create(module, writes, merged, batch, outcomes, prepared)
        if again:
            self._rewrite(module, writes, merged, again, outcomes)
        for lead, others in followers.items():
            for j in others:
                first = outcomes[lead]
                assert first is not None
                outcomes[j] = Outcome(writes[j].key, first.id, error=first.error, retry=first.retry)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]

    def _users_by_email(
        self, module: SideModule, merged: dict[int, dict[str, Any]]
    ) -> dict[int, str]:
        """``Owner.email`` columns (a user lookup by email) become ``Owner`` ids, in place;
        the writes naming an email no CRM user has, with the reason."""
        columns = [c for c in {c for v in merged.values() for c in v} if c.endswith(".email")]
        types = self._field_types(module) if columns else {}
        columns = [c for c in columns if types.get(c.partition(".")[0]) in USER_TYPES]
        refused: dict[int, str] = {}
        if not columns:
            return refused
        if self._users is None:
            answer = body_of(self._get("/users", {"type": "ActiveUsers"}, None, kind="meta"))
            self._users = {
                str(u["email"]).casefold(): str(u["id"])
                for u in answer.get("users") or []
                if isinstance(u, dict) and u.get("email") and u.get("id")
            }
        for i, values in merged.items():
            for column in columns:
                if column not in values:
                    continue
                email = values.pop(column)
                if email is None:
                    continue
                user = self._users.get(str(email).casefold())
                if user is None:
                    refused[i] = (
                        f"side {self.side}: field {column}: no active CRM user has the email "
                        f"{email!r}"
                    )
                else:
                    values[column.partition(".")[0]] = user
        return refused

    def _lines_or_refuse(
        self,
        module: SideModule,
        i: int,
        writes: Sequence[Write],
        id: str | None,
        values: Mapping[str, Any],
        modified: str | None,
        outcomes: list[Outcome | None],
    ) -> Prepared | None:
        """The line rows of write ``i``; None, with its outcome set, when it cannot be sent."""
        if not any(c in values for c in line_columns(module)):
            return Prepared({}, {})
        prepared = self._prepare_lines(module, id, values, modified)
        if isinstance(prepared, Prepared):
            return prepared
        reason, retry = prepared
        what = f"record {id}" if id is not None else f"new record {writes[i].key}"
        error = self.client.redactor.scrub(f"side {self.side}, {module.table} {what}: {reason}")
        outcomes[i] = Outcome(writes[i].key, id, error=error, retry=retry)
        return None

    def _rewrite(
        self,
        module: SideModule,
        writes: Sequence[Write],
        merged: Mapping[int, dict[str, Any]],
        again: list[tuple[int, str]],
        outcomes: list[Outcome | None],
    ) -> None:
        """Write again, as updates, the creates whose upsert found the record an earlier try
        made: the rows it held are deleted and the lines written whole."""
        current = self._read_by_id(module, [id for _, id in again])
        ready: list[tuple[int, str, dict[str, Any], str]] = []
        for i, id in again:
            now = current.get(id)
            if now is None:
                outcomes[i] = Outcome(writes[i].key, id, error=self._missing(module.table, id))
            else:
                ready.append((i, id, now[0], now[1][0]))
        self._update_all(module, writes, merged, ready, outcomes)

    def _update_all(
        self,
        module: SideModule,
        writes: Sequence[Write],
        merged: Mapping[int, dict[str, Any]],
        ready: list[tuple[int, str, dict[str, Any], str]],
        outcomes: list[Outcome | None],
    ) -> None:
        """Send updates read as unchanged, 100 a call, each with its lines."""
        prepared: dict[int, Prepared] = {}
        sendable = []
        for item in ready:
            i, id, _, read_at = item
            lines = self._lines_or_refuse(module, i, writes, id, merged[i], read_at, outcomes)
            if lines is not None:
                prepared[i] = lines
                sendable.append(item)
        for batch in chunks(sendable, WRITES_PER_CALL):
            self._update(module, writes, merged, batch, outcomes, prepared)

    def _update(
        self,
        module: SideModule,
        writes: Sequence[Write],
        merged: Mapping[int, dict[str, Any]],
        batch: list[tuple[int, str, dict[str, Any], str]],
        outcomes: list[Outcome | None],
        prepared: Mapping[int, Prepared],
    ) -> None:
        table = module.table
        data = [
            {"id": id, **self._to_api(module, merged[i]), **prepared[i].rows}
            for i, id, _, _ in batch
        ]
        # the newest time the pre-read saw: any change after it answers 412
        headers = {"If-Unmodified-Since": max(read_at for *_, read_at in batch)}
        results = self._write(module, "PUT", f"/{table}", data, headers, len(batch))
        for (i, id, before, read_at), result in zip(batch, results, strict=True):
            lines = prepared[i].lines
            expected = self._expected(module, before, {**merged[i], **lines})
            outcome = outcomes[i] = self._outcome(module, writes[i], id, result, expected)
            self._after_write(module, outcome, result, read_at, lines)

    def _create(
        self,
        module: SideModule,
        writes: Sequence[Write],
        merged: Mapping[int, dict[str, Any]],
        batch: list[int],
        outcomes: list[Outcome | None],
        prepared: Mapping[int, Prepared],
    ) -> list[tuple[int, str]]:
        """Send creates; (index, id) of those whose upsert found a record with lines of its
        own (made by this create before a crash), whose lines are to be written again."""
        table = module.table
        data = []
        again: list[tuple[int, str]] = []
        for i in batch:
            record = {**self._to_api(module, merged[i]), **prepared[i].rows}
            if self.key_field:
                record[self.key_field] = writes[i].key
            data.append(record)
        if self.key_field:
            extra = {"duplicate_check_fields": [self.key_field]}
            results = self._write(module, "POST", f"/{table}/upsert", data, {}, len(batch), extra)
        else:
            results = self._write(module, "POST", f"/{table}", data, {}, len(batch))
        for i, result in zip(batch, results, strict=True):
            lines = prepared[i].lines
            expected = self._expected(module, {}, {**merged[i], **lines})
            outcome = self._outcome(module, writes[i], None, result, expected)
            if outcome.ok and outcome.id is not None:
                self._made[(table, writes[i].key)] = outcome.id
                if (result.get("action") or "insert") != "insert":
                    # a create retried after a crash found its record: what it holds is unknown
                    self._forget_values(memory_key(module), outcome.id)
                    self._forget_lines(module, outcome.id)
                    if lines:  # its old rows stay beside the new: write them whole again
                        again.append((i, outcome.id))
                else:
                    self._after_write(module, outcome, result, None, lines)
            outcomes[i] = outcome
        return again

    def _after_write(
        self,
        module: SideModule,
        outcome: Outcome,
        result: Mapping[str, Any],
        before: str | None,
        lines: Mapping[str, Any],
    ) -> None:
        """Hold the lines a successful write leaves (no call for its echo)."""
        details = result.get("details")
        modified = parse_time(details.get(MODIFIED)) if isinstance(details, dict) else None
        if outcome.ok and outcome.id is not None and modified is not None:
            self._wrote_lines(module, outcome.id, before, zoho_time(modified), lines)

    def _write(
        self,
        module: SideModule,
        method: str,
        path: str,
        data: list[dict[str, Any]],
        headers: Mapping[str, str],
        count: int,
        extra: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Send one write call; one result dict per record, in order."""
        body = {"data": data, "trigger": self.triggers, **(extra or {})}
        try:
            response = self.client.request(
                method,
                path,
                kind="write",
                json_body=body,
                headers=headers,
                cost=max(1, math.ceil(count / 10)),
                # updates and upserts may be sent twice; a plain insert may not
                idempotent=method != "POST" or path.endswith("/upsert"),
            )
        except ZohoError as exc:
            if not exc.retryable:
                raise
            return [{"status": "error", "code": "RETRY", "message": str(exc)}] * count
        status = response.status_code
        answer = body_of(response)
        results = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(results, list) and len(results) == count:
            return [r if isinstance(r, dict) else {"status": "error"} for r in results]
        if status == 412:
            return [{"status": "error", "code": "ALREADY_MODIFIED", "message": "changed since"}] * (
                count
            )
        if status in (400, 413, 422) and isinstance(answer, dict) and answer.get("code"):
            return [answer] * count  # the request as a whole was refused: each write says why
        raise self.client.error(response, f"{self.client.name}: {method} {path}")

    def _outcome(
        self,
        module: SideModule,
        write: Write,
        id: str | None,
        result: Mapping[str, Any],
        expected: Mapping[str, Any] | None,
    ) -> Outcome:
        details = result.get("details") if isinstance(result.get("details"), dict) else {}
        assert isinstance(details, dict)
        table = module.table
        if result.get("status") == "success":
            new_id = str(details.get("id") or id)
            modified = parse_time(details.get(MODIFIED))
            if modified is not None:  # our write is known: its echo is not a change
                self._known.setdefault(memory_key(module), {})[new_id] = (
                    zoho_time(modified),
                    digest(expected) if expected is not None else None,
                )
            return Outcome(write.key, new_id)
        code = str(result.get("code") or "ERROR")
        message = str(result.get("message") or "")
        field = details.get("api_name")
        what = f"record {id}" if id is not None else f"new record {write.key}"
        if code == "RETRY":
            return Outcome(write.key, id, error=message, retry=True)
        if id is not None and code == "INVALID_DATA" and field == "id":
            return Outcome(write.key, id, error=self._missing(table, id))
        key_field = self.key_field and field in ("duplicate_check_fields", self.key_field)
        if key_field and code == "INVALID_DATA":  # how CRM says the upsert's key is not there
            return Outcome(write.key, id, error=self._no_key_field(module))
        if code == "DUPLICATE_DATA" and id is None and field == self.key_field:
            existing = details.get("id") or (details.get("duplicate_record") or {}).get("id")
            if existing:
                self._forget_values(memory_key(module), str(existing))
                return Outcome(write.key, str(existing))
        reason = f"side {self.side}, {table} {what}: {code}"
        if message:
            reason += f": {message}"
        if field:
            reason += f" (field {field}{line_of(details.get('json_path'), write.values)})"
        return Outcome(
            write.key, id, error=self.client.redactor.scrub(reason), retry=code in RETRY_CODES
        )

    def _expected(
        self, module: SideModule, before: Mapping[str, Any], values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """How the record will read after ``values`` are written over ``before``: numbers
        as numbers, a changed lookup's ``Field.name`` unknown, read-only columns as before.
        None if any column is unknown."""
        if not module.columns:
            return None
        types = self._types.get(module.table, {})
        after = dict(before)
        for column, value in values.items():
            if "." in column or self._is_read_only(module, column):
                continue  # not written: it reads as it was, or as the app computes it
            if isinstance(value, str) and types.get(column) in NUMBER_TYPES:
                value = to_number(value)
            if after.get(column) != value:
                for part in [c for c in after if c.startswith(column + ".")]:
                    del after[part]  # the server names the new lookup target
            after[column] = value
        if not set(module.columns) <= set(after):
            return None
        return {column: after[column] for column in module.columns}

    def _no_key_field(self, module: SideModule) -> str:
        return (
            f"side {self.side}: {module.table} has no unique custom field {self.key_field} "
            "to hold replicator's record ids; `replicator setup` creates it"
        )

    def _missing(self, table: str, id: str) -> str:
        return f"side {self.side}: no record with id {id} in {table} (deleted?)"

    def _unread(self, memo: str, id: str, now: Known) -> bool:
        """Whether the record changed since this connector last read or wrote it.

        Known values: their time and digest must match.  Known time only (we wrote part of
        the record): the time must match.  Never seen here: it must be no newer than the
        last pull's watermark; with no pull yet in this process, it counts as unread.
        """
        known = self._known.get(memo, {}).get(id)
        if known is not None:
            return known[0] != now[0] if known[1] is None else known != now
        mark = self._read_upto.get(memo)
        return mark is None or now[0] > mark

    def _forget_values(self, memo: str, id: str) -> None:
        known = self._known.setdefault(memo, {})
        known[id] = (known.get(id, (EPOCH, None))[0], None)

    def _read_by_id(
        self, module: SideModule, ids: list[str]
    ) -> dict[str, tuple[dict[str, Any], Known]]:
        """Current values and (Modified_Time, digest) of records, by id; absent ones left out."""
        groups = self._field_groups(module)
        records: dict[str, dict[str, Any]] = {}
        for chunk in chunks(dict.fromkeys(ids), IDS_PER_CALL):
            for record in self._by_ids(module, chunk, groups):
                records[str(record["id"])] = record
        found: dict[str, tuple[dict[str, Any], Known]] = {}
        for id, record in records.items():
            _, text = self._modified(module, record)
            values = self._values(module, record)
            # lines are not listed: as held at this time, else unknown (so it reads unread)
            values.update(self._held_lines(module, id, text))
            found[id] = (values, (text, digest(values)))
        return found


__all__ = ["CrmPush"]
