"""List pages at scale: every record once and in order, served from an index at the cost of
the page (not of the module), and edits between pages as page numbers behave.

Zoho documents CRM's ``page`` / ``page_token`` and Books' ``page`` as positions in the
list's order (``page`` N is records ``(N-1)*per_page`` on; the token goes on from the next
position) and says nothing of a snapshot, so a page is the slice at its position of the
order as it stands when it is asked for: a record edited between two pages moves, and the
records after its old place shift by one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replicator.sandbox.store import ORDERS, Row, Store
from tests.sandbox.zoho import Zoho

FIELDS = {"fields": "Account_Name"}


def _store(path: Any, times: list[tuple[int, int]]) -> Store:
    store = Store(path)
    with store.transaction():
        for n, (created, modified) in enumerate(times):
            row = Row(str(1000 + 7 * n % 97 + 100 * n), {"n": n}, created, modified, "u", "u", 0)
            store.put("crm", "", "Accounts", row)
    return store


def _sorted(store: Store, order: str, descending: bool, since: float | None) -> list[str]:
    rows = store.rows("crm", "", "Accounts")
    if since is not None:
        rows = [r for r in rows if int(r.modified) > since]
    rows.sort(key=lambda r: r.order_key(order), reverse=descending)
    return [r.id for r in rows]


@given(
    times=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 5)).map(lambda t: (t[0] + 0.5, t[1] + 0.25)),
        max_size=30,
    ),
    order=st.sampled_from(sorted(ORDERS)),
    descending=st.booleans(),
    size=st.integers(1, 7),
    since=st.none() | st.integers(0, 5),
)
def test_pages_by_offset_and_by_position_are_the_sorted_slices(
    tmp_path_factory, times, order, descending, size, since
):
    """Paged by offset (page numbers) or from the last record's position, the pages are the
    slices of the sorted records, ties of the time broken by the numeric id."""
    store = _store(tmp_path_factory.mktemp("paging") / "s.db", times)
    expected = _sorted(store, order, descending, since)
    options: dict[str, Any] = {"descending": descending, "modified_after": since}
    by_offset: list[str] = []
    while True:
        rows = store.page(
            "crm", "", "Accounts", order, limit=size, offset=len(by_offset), **options
        )
        by_offset += [r.id for r in rows]
        if len(rows) < size:
            break
    by_position: list[str] = []
    after = None
    while True:
        rows = store.page("crm", "", "Accounts", order, limit=size, after=after, **options)
        by_position += [r.id for r in rows]
        if len(rows) < size:
            break
        after = rows[-1].order_key(order)
    assert by_offset == by_position == expected
    picked = expected[::2]
    rows = store.page("crm", "", "Accounts", order, limit=100, ids=picked, **options)
    assert [r.id for r in rows] == [i for i in expected if i in set(picked)]
    store.close()


def _steps(store: Store, read: Callable[[], object]) -> int:
    """SQLite virtual machine steps (in thousands) a read takes: its cost, without a clock."""
    count = [0]

    def tick() -> int:
        count[0] += 1
        return 0

    store._db.set_progress_handler(tick, 1000)
    try:
        read()
    finally:
        store._db.set_progress_handler(None, 0)
    return count[0]


def _last_page_steps(tmp_path: Any, n: int) -> tuple[int, int, list[str]]:
    """Steps of the first and of the last of the pages of 200 (+1) of ``n`` records read in
    turn by page number (as the APIs' clients do), and the ids read."""
    store = _store(tmp_path / f"s{n}.db", [(n // 10, n // 10) for n in range(n)])
    seen: list[str] = []
    steps: list[int] = []
    for offset in range(0, n, 200):

        def read(offset: int = offset) -> None:
            rows = store.page("crm", "", "Accounts", "modified", limit=201, offset=offset)
            seen.extend(r.id for r in rows[:200])

        steps.append(_steps(store, read))
    store.close()
    return steps[0], steps[-1], seen


def test_the_last_page_costs_what_the_first_does(tmp_path):
    """Reading page after page, the last page of 6,000 records takes about the SQLite work
    of the first (the store goes on from where the previous page ended), and no more than
    the last page of 1,200 records: a page's cost does not grow with the module."""
    first, last, seen = _last_page_steps(tmp_path, 6000)
    assert len(seen) == len(set(seen)) == 6000
    assert last <= 2 * first + 2
    _, small_last, _ = _last_page_steps(tmp_path, 1200)
    assert last <= 2 * small_last + 2


def test_a_write_between_pages_makes_the_offset_count_again(tmp_path):
    """After a write, a page number is the position in the order as it now stands (the
    remembered end of the previous page is forgotten): an edited record moves to the end
    and the records after its old place move up by one."""
    store = _store(tmp_path / "s.db", [(n, n) for n in range(10)])
    ids = [r.id for r in store.page("crm", "", "Accounts", "modified", limit=4)]
    edited = store.get("crm", "", "Accounts", ids[1])
    assert edited is not None
    store.put("crm", "", "Accounts", Row(edited.id, edited.data, 0, 100, "u", "u", 0))
    again = _sorted(store, "modified", False, None)
    rows = store.page("crm", "", "Accounts", "modified", limit=4, offset=4)
    assert [r.id for r in rows] == again[4:8]
    assert again[-1] == edited.id
    store.close()


# -- through the APIs ----------------------------------------------------------------------


@pytest.fixture
def crm_box(fresh) -> Iterator[tuple[Any, Zoho]]:
    """A fresh sandbox with 450 accounts made 50 a minute, and a client of it."""
    box = fresh(crm_credits_per_day=1_000_000)
    for start in range(0, 450, 50):
        box.admin.crm_create(
            "Accounts",
            *({"Account_Name": f"Account {i:04d}"} for i in range(start, start + 50)),
            notify=False,
        )
        box.admin.advance_clock(60)
    client = Zoho(box.credentials)
    yield box, client
    client.close()


def _crm_page(client: Zoho, token: str | None, **params: Any) -> dict[str, Any]:
    query = {**FIELDS, "per_page": 50, "sort_by": "Modified_Time", "sort_order": "asc"}
    query.update(params)
    if token:
        query = {**FIELDS, "per_page": 50, "page_token": token}
    response = client.crm("GET", "/Accounts", params=query)
    assert response.status_code == 200
    return dict(response.json())


def test_crm_page_tokens_return_every_record_once_in_order(crm_box):
    """Pages of 50 through next_page_token from the first page: every account once, in
    Modified_Time then id order, and the last page says no more follow."""
    box, client = crm_box
    seen: list[str] = []
    token = None
    while True:
        body = _crm_page(client, token)
        seen += [r["id"] for r in body["data"]]
        token = body["info"]["next_page_token"]
        if not body["info"]["more_records"]:
            break
    assert body["info"]["page"] == 9 and token is None
    listed = box.admin.crm_records("Accounts")
    order = sorted(listed, key=lambda r: (r["Modified_Time"], int(r["id"])))
    assert len(seen) == len(set(seen)) == 450
    assert seen == [r["id"] for r in order]


def test_crm_edit_between_pages_moves_the_record_and_shifts_the_rest(crm_box):
    """An account served on page 1 and edited before page 2 is served again at the end
    (it is modified last), and the records after its old place move up one position: the
    first one that page 2 would have held was at the end of page 1's range and is not
    served (a reader by Modified_Time re-reads from its watermark to catch it)."""
    box, client = crm_box
    first = _crm_page(client, None)
    before = [r["id"] for r in first["data"]]
    box.admin.advance_clock(60)
    box.admin.crm_update("Accounts", before[10], Website="www.edited.example", notify=False)
    seen = list(before)
    token = first["info"]["next_page_token"]
    while token:
        body = _crm_page(client, token)
        seen += [r["id"] for r in body["data"]]
        token = body["info"]["next_page_token"]
    assert seen[-1] == before[10] and seen.count(before[10]) == 2
    assert len(set(seen)) == 449  # one record slid into page 1's range after it was read


@pytest.fixture
def books_box(fresh) -> Iterator[tuple[Any, Zoho]]:
    """A fresh sandbox with 250 Books customers, made 50 a minute."""
    box = fresh(books_per_minute=100_000, books_per_day=1_000_000)
    for n in range(250):
        if n and n % 50 == 0:
            box.admin.advance_clock(60)
        box.admin.books_create("contacts", {"contact_name": f"Customer {n:04d}"})
    box.admin.advance_clock(60)
    client = Zoho(box.credentials)
    yield box, client
    client.close()


def _books_page(client: Zoho, page: int) -> tuple[list[str], bool]:
    response = client.books(
        "GET",
        "/contacts",
        params={
            "page": page,
            "per_page": 100,
            "sort_column": "last_modified_time",
            "sort_order": "D",
        },
    )
    assert response.status_code == 200
    body = response.json()
    return [c["contact_id"] for c in body["contacts"]], body["page_context"]["has_more_page"]


def test_books_pages_return_every_contact_once_newest_first(books_box):
    """Pages of 100 by last_modified_time descending: every contact once, newest first
    (ties by id, descending too), and has_more_page false on the last."""
    box, client = books_box
    seen: list[str] = []
    for page in range(1, 10):
        ids, more = _books_page(client, page)
        seen += ids
        if not more:
            break
    assert page == 3 and len(seen) == len(set(seen)) == 250
    stored = box.admin.books_records("contacts")
    order = sorted(
        stored, key=lambda c: (c["last_modified_time"], int(c["contact_id"])), reverse=True
    )
    assert seen == [c["contact_id"] for c in order]


def test_books_edit_between_pages_moves_the_contact_to_the_front(books_box):
    """Newest first, a contact of page 3 edited after page 1 goes to the front: the pages
    after shift down by one, so page 2 starts with the last contact of page 1 again and the
    edited one is not met again (page 1 was read before it moved)."""
    box, client = books_box
    page1, _ = _books_page(client, 1)
    rest = _books_page(client, 3)[0]
    box.admin.advance_clock(60)
    client.books("PUT", f"/contacts/{rest[0]}", json={"website": "www.edited.example"})
    page2, _ = _books_page(client, 2)
    page3, more = _books_page(client, 3)
    assert page2[0] == page1[-1]
    seen = page1 + page2 + page3
    assert rest[0] not in seen and not more
    assert len(set(seen)) == 249


def test_books_customers_by_time_are_the_customers_the_full_list_shows(books_box):
    """contact_type=customer by last_modified_time is read from the index (a filter on a
    stored field): the same contacts, in the same order, as the list that renders every
    contact to filter it (Status.Active: all of them are active), vendors left out."""
    box, client = books_box
    for n in range(30):
        box.admin.books_create(
            "contacts", {"contact_name": f"Vendor {n}", "contact_type": "vendor"}
        )
    box.admin.advance_clock(60)
    listed: dict[str, list[str]] = {}
    for applied in ("Status.All", "Status.Active"):
        ids: list[str] = []
        for page in range(1, 10):
            body = client.books(
                "GET",
                "/contacts",
                params={
                    "contact_type": "customer",
                    "filter_by": applied,
                    "page": page,
                    "per_page": 70,
                    "sort_column": "last_modified_time",
                    "sort_order": "D",
                },
            ).json()
            ids += [c["contact_id"] for c in body["contacts"]]
            assert all(c["contact_type"] == "customer" for c in body["contacts"])
            if not body["page_context"]["has_more_page"]:
                break
        listed[applied] = ids
    assert listed["Status.All"] == listed["Status.Active"]
    assert len(listed["Status.All"]) == len(set(listed["Status.All"])) == 250


def _vendor_page_steps(tmp_path: Any, customers: int) -> tuple[int, list[str]]:
    """Steps of the page of the 5 vendors, made before ``customers`` customers, newest
    first (a walk of the time index alone would pass every customer first)."""
    store = Store(tmp_path / f"v{customers}.db")
    with store.transaction():
        for n in range(5 + customers):
            data = {"contact_type": "vendor" if n < 5 else "customer"}
            store.put("books", "org", "contacts", Row(str(n), data, n, n, "u", "u", 0))
    vendors = {"$.contact_type": "vendor"}
    store.page("books", "org", "contacts", "modified", limit=1, equal=vendors)  # its index
    found: list[str] = []

    def read() -> None:
        rows = store.page(
            "books", "org", "contacts", "modified", limit=201, descending=True, equal=vendors
        )
        found.extend(r.id for r in rows)

    steps = _steps(store, read)
    store.close()
    return steps, found


def test_a_page_of_a_few_records_of_one_kind_among_many_costs_the_page(tmp_path):
    """The 5 vendors among 6,000 customers are one page read from an index of the contact
    type and the time, for about the SQLite work of the same page among 600."""
    steps, found = _vendor_page_steps(tmp_path, 6000)
    small, found_small = _vendor_page_steps(tmp_path, 600)
    assert found == found_small == ["4", "3", "2", "1", "0"]
    assert steps <= 2 * small + 2
