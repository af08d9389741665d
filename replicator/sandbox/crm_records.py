"""CRM records: insert, update, upsert and delete, shared by the API and the admin API.

Writes follow the v8 contract: one result per input record, in input order, ``SUCCESS``
with ``{id, Created_Time, Created_By, Modified_Time, Modified_By}`` or an error entry
(``INVALID_DATA``, ``MANDATORY_NOT_FOUND``, ``DUPLICATE_DATA``, ``ALREADY_MODIFIED``) naming
the field and its JSON path.  A refused record never stops the others.  An upsert record
carrying an ``id`` updates that record; otherwise the upsert looks for an existing record
through ``duplicate_check_fields`` (default: the module's unique keys, then its unique
custom fields), field by field in order, case-insensitively, and updates the oldest
match, or inserts.  Deleted records go to the recycle bin, which feeds
``GET /{module}/deleted``.  Every committed change is handed to the notifier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .clock import Clock, crm_time
from .crm_schema import ADMIN, ID_BASE, CrmSchema, Module, user
from .crm_values import normalize, render
from .errors import RecordRejected
from .settings import Settings
from .store import DeletedRow, Row, Store

_FAULT_MESSAGES = {
    "INTERNAL_ERROR": "Internal server error occurred.",
    "RECORD_LOCKED": "the record is locked",
}

Notify = Callable[[str, str, list[str], dict[str, list[str]]], None]


class CrmRecords:
    """The records of the sandbox's one CRM organisation."""

    def __init__(
        self,
        store: Store,
        schema: CrmSchema,
        clock: Clock,
        settings: Callable[[], Settings],
        notify: Notify,
    ) -> None:
        self.store, self.schema, self.clock = store, schema, clock
        self._settings, self._notify = settings, notify

    # -- reading ---------------------------------------------------------------------------

    def rows(self, module: Module) -> list[Row]:
        return self.store.rows("crm", "", module.api_name)

    def get(self, module: Module, record_id: str) -> Row | None:
        return self.store.get("crm", "", module.api_name, record_id)

    def lookup(self, module_name: str, record_id: str) -> dict[str, Any] | None:
        row = self.store.get("crm", "", module_name, record_id)
        return row.data if row else None

    def resolver(self) -> Callable[[str, str], str | None]:
        """A memoising (module, id) -> display name, for rendering one response."""
        cache: dict[tuple[str, str], str | None] = {}

        def resolve(module_name: str, record_id: str) -> str | None:
            key = (module_name, record_id)
            if key not in cache:
                target = self.schema.module(module_name)
                data = self.lookup(module_name, record_id)
                cache[key] = (
                    None
                    if data is None or target is None
                    else str(data.get(target.name_field) or "")
                )
            return cache[key]

        return resolve

    def render(
        self,
        module: Module,
        row: Row,
        *,
        fields: set[str] | None = None,
        line_items: bool = False,
        resolve: Callable[[str, str], str | None] | None = None,
    ) -> dict[str, Any]:
        return render(
            module,
            row,
            resolve or self.resolver(),
            fields=fields,
            line_items=line_items,
            tz=self._settings().tz,
        )

    def deleted(self, module: Module) -> list[DeletedRow]:
        return self.store.deleted_rows("crm", "", module.api_name)

    def new_id(self) -> str:
        return str(ID_BASE + self.store.next_value("crm.id", start=333001))

    # -- writing ---------------------------------------------------------------------------

    def _success(self, row: Row, message: str, **extra: Any) -> dict[str, Any]:
        tz = self._settings().tz
        who_created, who_modified = user(row.created_by), user(row.modified_by)
        details = {
            "Modified_Time": crm_time(row.modified, tz),
            "Modified_By": {"name": who_modified.full_name, "id": who_modified.id}
            if who_modified
            else None,
            "Created_Time": crm_time(row.created, tz),
            "id": row.id,
            "Created_By": {"name": who_created.full_name, "id": who_created.id}
            if who_created
            else None,
        }
        return {
            "code": "SUCCESS",
            "details": details,
            "message": message,
            "status": "success",
            **extra,
        }

    def _unique_clash(
        self, module: Module, data: Mapping[str, Any], record_id: str | None, index: int
    ) -> None:
        for field in module.fields:
            value = data.get(field.api_name)
            if not field.unique or value in (None, ""):
                continue
            path = f"$.{field.api_name}"
            for other in self.store.find("crm", "", module.api_name, path, value):
                if other.id == record_id:
                    continue
                owner = user((other.data.get("Owner") or {}).get("id", ""))
                raise RecordRejected(
                    "DUPLICATE_DATA",
                    "duplicate data",
                    {
                        "api_name": field.api_name,
                        "json_path": f"$.data[{index}].{field.api_name}",
                        "duplicate_record": {
                            "id": other.id,
                            "module": {"api_name": module.api_name, "id": module.id},
                            "Owner": owner.minified() if owner else None,
                        },
                    },
                )

    def _match(
        self, module: Module, given: Mapping[str, Any], keys: Sequence[str]
    ) -> tuple[Row, str] | None:
        fields = {f.api_name: f for f in module.fields}
        for key in keys:
            value = given.get(key)
            if value in (None, "") or key not in fields:
                continue
            path = f"$.{key}"
            if isinstance(value, dict):
                value, path = value.get("id"), f"$.{key}.id"
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                continue
            found = self.store.find("crm", "", module.api_name, path, value)
            if found:
                return found[0], key
        return None

    def write(
        self,
        module: Module,
        records: Sequence[Any],
        *,
        mode: str,
        user_id: str = ADMIN.id,
        duplicate_check_fields: Sequence[str] | None = None,
        failing: Mapping[int, str] | None = None,
        unmodified_since: float | None = None,
        notify: bool = True,
    ) -> list[dict[str, Any]]:
        """Apply an ``insert``, ``update`` or ``upsert`` of ``records``; per-record results."""
        keys = list(duplicate_check_fields or ()) or list(module.unique_keys) + [
            f.api_name for f in module.fields if f.unique and f.api_name not in module.unique_keys
        ]
        results: list[dict[str, Any]] = []
        changed: dict[str, list[str]] = {"insert": [], "update": []}
        affected: dict[str, list[str]] = {}
        with self.store.transaction():
            for index, given in enumerate(records):
                try:
                    if not isinstance(given, dict):
                        raise RecordRejected(
                            "INVALID_DATA",
                            "invalid data",
                            {
                                "api_name": "data",
                                "json_path": f"$.data[{index}]",
                                "expected_data_type": "jsonobject",
                            },
                        )
                    if failing and index in failing:  # a partial-failure fault
                        if failing[index] != "INVALID_DATA":
                            raise RecordRejected(
                                failing[index],
                                _FAULT_MESSAGES.get(
                                    failing[index], "the record could not be saved"
                                ),
                                {},
                            )
                        raise RecordRejected(
                            "INVALID_DATA",
                            "invalid data",
                            {
                                "api_name": module.name_field,
                                "json_path": f"$.data[{index}].{module.name_field}",
                            },
                        )
                    old: Row | None = None
                    duplicate_field = None
                    if mode == "update" or (mode == "upsert" and given.get("id")):
                        if not given.get("id"):
                            raise RecordRejected(
                                "MANDATORY_NOT_FOUND",
                                "required field not found",
                                {"api_name": "id", "json_path": f"$.data[{index}].id"},
                            )
                        old = self.get(module, str(given["id"]))
                        if old is None:
                            raise RecordRejected(
                                "INVALID_DATA",
                                "the id given seems to be invalid",
                                {"id": str(given["id"])},
                            )
                    elif mode == "upsert":
                        found = self._match(module, given, keys)
                        if found:
                            old, duplicate_field = found
                    if (
                        old is not None
                        and unmodified_since is not None
                        and int(old.modified) > unmodified_since
                    ):
                        raise RecordRejected(
                            "ALREADY_MODIFIED",
                            "record modified after the given time",
                            {"id": old.id},
                        )
                    row = self._apply(module, given, old, index, user_id)
                except RecordRejected as exc:
                    results.append(exc.result())
                    continue
                action = "insert" if old is None else "update"
                changed[action].append(row.id)
                affected[row.id] = [k for k in given if k != "id"]
                message = "record added" if action == "insert" else "record updated"
                extra: dict[str, Any] = {}
                if mode == "upsert":
                    extra = {"action": action, "duplicate_field": duplicate_field}
                results.append(self._success(row, message, **extra))
        if notify:
            for operation, ids in changed.items():
                if ids:
                    self._notify(module.api_name, operation, ids, {i: affected[i] for i in ids})
        return results

    def _apply(
        self, module: Module, given: Mapping[str, Any], old: Row | None, index: int, user_id: str
    ) -> Row:
        data = normalize(
            module,
            given,
            old.data if old else None,
            index,
            self.lookup,
            self.new_id,
            taxes=self.schema.taxes.all() if module.line_items else (),
        )
        if old is None and data.get("Owner") is None:
            data["Owner"] = {"id": user_id}
        if old is None:
            self._home_currency(module, data)
        self._unique_clash(module, data, old.id if old else None, index)
        now = self.clock.now()
        row = Row(
            id=old.id if old else self.new_id(),
            data=data,
            created=old.created if old else now,
            modified=now,
            created_by=old.created_by if old else user_id,
            modified_by=user_id,
            version=0,
        )
        return self.store.put("crm", "", module.api_name, row)

    def _home_currency(self, module: Module, data: dict[str, Any]) -> None:
        """A new record without a currency is in the org's home currency, at rate 1."""
        field = next((f for f in module.fields if f.api_name == "Currency"), None)
        home = self._settings().crm_currency
        if field is None or data.get("Currency") is not None or home not in field.picklist:
            return
        data["Currency"] = home
        if data.get("Exchange_Rate") is None:
            data["Exchange_Rate"] = 1.0

    def delete(
        self, module: Module, ids: Sequence[str], *, user_id: str = ADMIN.id, notify: bool = True
    ) -> list[dict[str, Any]]:
        results, gone = [], []
        now = self.clock.now()
        with self.store.transaction():
            for record_id in ids:
                row = self.get(module, record_id)
                if row is None:
                    results.append(
                        RecordRejected(
                            "INVALID_DATA", "the id given seems to be invalid", {"id": record_id}
                        ).result()
                    )
                    continue
                self.store.remove("crm", "", module.api_name, record_id)
                self.store.add_deleted(
                    "crm",
                    "",
                    module.api_name,
                    DeletedRow(
                        id=record_id,
                        display_name=str(row.data.get(module.name_field) or ""),
                        kind="recycle",
                        deleted=now,
                        deleted_by=user_id,
                        created_by=row.created_by,
                        data=row.data,
                    ),
                )
                gone.append(record_id)
                results.append(
                    {
                        "code": "SUCCESS",
                        "details": {"id": record_id},
                        "message": "record deleted",
                        "status": "success",
                    }
                )
        if notify and gone:
            self._notify(module.api_name, "delete", gone, {})
        return results


__all__ = ["CrmRecords", "Notify"]
