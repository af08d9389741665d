"""Removing CRM records (``disable --remove-crm-copies``): ``DELETE /crm/v8/{Module}?ids=``
through the CRM connector's API client, against a handler written from Zoho's answers."""

from __future__ import annotations

import httpx
import pytest

from replicator.connectors.base import SideModule
from replicator.connectors.remove import Removal
from replicator.connectors.zoho.crm import ZohoCRMConnector
from replicator.connectors.zoho.crm_remove import CrmRemover
from replicator.errors import ZohoError
from tests.connectors.zoho.conftest import api
from tests.connectors.zoho.fakes import FakeClock, reply

MODULE = SideModule("invoices", "Invoices")


class FakeDeletes:
    """Answers DELETE /crm/v8/Invoices as Zoho does: per record, in input order."""

    def __init__(self, present: set[str], refused: frozenset[str] = frozenset()) -> None:
        self.present, self.refused = present, refused
        self.calls: list[list[str]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "DELETE" and request.url.path == "/crm/v8/Invoices"
        ids = request.url.params["ids"].split(",")
        self.calls.append(ids)
        data = []
        for id in ids:
            if id in self.refused:
                data.append(
                    {
                        "code": "NO_PERMISSION",
                        "details": {"id": id},
                        "message": "permission denied",
                        "status": "error",
                    }
                )
            elif id in self.present:
                self.present.discard(id)
                data.append({"code": "SUCCESS", "details": {"id": id}, "status": "success"})
            else:
                invalid = {"code": "INVALID_DATA", "details": {"id": id}, "status": "error"}
                data.append({**invalid, "message": "the id given seems to be invalid"})
        ok = sum(d["status"] == "success" for d in data)
        return reply(200 if ok == len(data) else 207 if ok else 400, {"data": data})


def _remover(handler, clock: FakeClock) -> CrmRemover:
    return CrmRemover(ZohoCRMConnector("crm", client=api(handler, clock), now=clock.wall))


def test_ids_go_100_a_call_and_each_answer_is_removed_gone_or_refused():
    """250 ids take three calls; a record deleted now is removed, one not there is gone
    (counted removed), a refusal is an error naming side, module, record, code and message."""
    clock = FakeClock()
    ids = [str(n) for n in range(250)]
    fake = FakeDeletes(present=set(ids) - {"7"}, refused=frozenset({"9"}))
    removals = _remover(fake.handler, clock).remove(MODULE, ids)
    assert [len(c) for c in fake.calls] == [100, 100, 50]
    assert [r.id for r in removals] == ids
    assert removals[7] == Removal("7", gone=True)
    assert removals[9] == Removal(
        "9", error="side crm, Invoices record 9: NO_PERMISSION: permission denied"
    )
    assert all(r == Removal(r.id) for r in removals if r.id not in ("7", "9"))
    assert fake.present == {"9"}


def test_a_delete_sent_again_finds_the_record_gone():
    """Deleting a record twice (an answer lost, then a re-run) deletes it once: the second
    call is answered 'invalid id', which counts as removed."""
    clock = FakeClock()
    fake = FakeDeletes(present={"1"})
    remover = _remover(fake.handler, clock)
    assert remover.remove(MODULE, ["1"]) == [Removal("1")]
    assert remover.remove(MODULE, ["1"]) == [Removal("1", gone=True)]


def test_a_record_the_answer_leaves_out_is_an_error_naming_it():
    """An answer with fewer results than ids: the missing record is an error, not removed."""
    clock = FakeClock()

    def short(request: httpx.Request) -> httpx.Response:
        return reply(
            200, {"data": [{"code": "SUCCESS", "details": {"id": "1"}, "status": "success"}]}
        )

    removals = _remover(short, clock).remove(MODULE, ["1", "2"])
    assert removals == [
        Removal("1"),
        Removal("2", error="side crm, Invoices record 2: the CRM gave no result for it"),
    ]


def test_a_call_refused_as_a_whole_raises_with_zohos_reason():
    """No per-record results (the module is not there): a ZohoError with Zoho's code."""
    clock = FakeClock()

    def refused(request: httpx.Request) -> httpx.Response:
        return reply(
            400,
            {
                "code": "INVALID_MODULE",
                "message": "the module name given seems to be invalid",
                "status": "error",
            },
        )

    with pytest.raises(ZohoError, match="DELETE /Invoices: HTTP 400 INVALID_MODULE"):
        _remover(refused, clock).remove(MODULE, ["1"])
