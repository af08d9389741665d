"""The materialised state's version and the chain's key, over every backend: a reducer of
another version rebuilds the state by replay when the journal can be written, journaled;
a key given later (``use_key``) or an unkeyed chain switched to the key (``upgrade``)
as :class:`journal.Journal` does them."""

from __future__ import annotations

from typing import Any

import pytest

from journal import ChainKeyError, IntegrityError, Kind, dumps, loads
from journal.store import CHAIN_RID, JOURNAL_MODULE, STATE_RID
from tests.journal.contract.backends import Harness
from tests.journal.contract.test_contract import KEY, Folding, fixed_now, observed


class Wrapped(Folding):
    """The same fold, its state stored in another format (version 2)."""

    version = 2

    def encode(self, state: Any) -> tuple[str, str | None, bool]:
        text, key, attention = super().encode(state)
        return dumps({"v2": text}), key, attention

    def decode(self, text: str) -> Any:
        return super().decode(loads(text)["v2"])


class Failing(Wrapped):
    """Version 3, failing on the second entry it folds."""

    version = 3

    def __init__(self) -> None:
        self.folded = 0

    def apply(self, view: Any, entry: Any) -> None:
        self.folded += 1
        if self.folded == 2:
            raise RuntimeError("fold interrupted")
        super().apply(view, entry)


def upgrades(journal: Any) -> list[Any]:
    return [e.meta for e in journal.read(module=JOURNAL_MODULE) if e.rid == STATE_RID]


def entries(n: int) -> list[Any]:
    return [observed(f"crm:{i}", 1, name=f"N{i}") for i in range(1, n + 1)]


def test_a_new_journal_records_its_version_without_an_entry(store: Harness):
    location = store.location()
    journal: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert journal.state_version == 2 and not journal.needs_state_upgrade
        journal.append(entries(1))
    finally:
        journal.close()
    again: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert again.count() == 1 and upgrades(again) == []
    finally:
        again.close()


def test_a_new_reducer_version_rebuilds_the_state_journaled_and_once(store: Harness):
    location = store.location()
    old: Any = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    old.append(entries(3))
    wanted = old.record("customers", "crm:2")
    assert old.state_version == 0
    old.close()
    new: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert new.state_version == 2 and not new.needs_state_upgrade
        (last,) = new.read(since=3)
        assert (last.seq, last.kind, last.module, last.rid) == (
            4,
            Kind.CONFIG,
            JOURNAL_MODULE,
            STATE_RID,
        )
        assert (last.meta["event"], last.meta["from"], last.meta["to"]) == ("state-upgrade", 0, 2)
        assert last.meta["entries"] == [1, 3]
        assert new.record("customers", "crm:2") == wanted
        found = store.backend.verify(new)
        assert found.ok and found.entries == 4, found.problem
    finally:
        new.close()
    again: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert again.count() == 4 and len(upgrades(again)) == 1
    finally:
        again.close()


def test_a_keyed_journal_opened_without_its_key_upgrades_once_given_it(store: Harness):
    location = store.location()
    keyed: Any = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    keyed.append(entries(3))
    keyed.close()
    journal: Any = store.backend.open(location, Wrapped(), now=fixed_now)
    try:
        assert journal.needs_state_upgrade and journal.state_version == 0
        assert journal.count() == 3
        with pytest.raises(ChainKeyError):
            journal.upgrade_state()
        journal.use_key(KEY)
        assert not journal.needs_state_upgrade and journal.state_version == 2
        assert [(u["from"], u["to"], u["entries"]) for u in upgrades(journal)] == [(0, 2, [1, 3])]
        assert store.backend.verify(journal).ok
    finally:
        journal.close()


def test_an_unkeyed_chain_given_a_key_is_upgraded_then_its_state(store: Harness):
    """A key on an unkeyed chain refuses writes until upgrade(): the chain's entry first,
    keyed from itself, then the state's."""
    location = store.location()
    plain: Any = store.backend.open(location, Folding(), now=fixed_now)
    plain.append(entries(2))
    assert plain.keyed_from is None
    plain.close()
    journal: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert journal.needs_upgrade and journal.needs_state_upgrade
        with pytest.raises(ChainKeyError):
            journal.append(entries(1))
        chain = journal.upgrade()
        assert chain is not None and (chain.seq, chain.rid) == (3, CHAIN_RID)
        assert chain.meta["keyed_from"] == 3 and journal.keyed_from == 3
        (state,) = journal.read(since=3)
        assert state.rid == STATE_RID and state.meta["to"] == 2
        assert journal.upgrade() is None
        assert store.backend.verify(journal).ok
    finally:
        journal.close()
    again: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert again.keyed_from == 3 and not again.needs_upgrade
        (fifth,) = again.append(entries(1))
        assert fifth.seq == 5 and store.backend.verify(again).ok
    finally:
        again.close()


def test_an_interrupted_rebuild_leaves_the_old_state_and_version(store: Harness):
    location = store.location()
    old: Any = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    old.append(entries(3))
    before = [old.record("customers", f"crm:{i}") for i in (1, 2, 3)]
    old.close()
    with pytest.raises(RuntimeError, match="fold interrupted"):
        store.backend.open(location, Failing(), key=KEY, now=fixed_now)
    kept: Any = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    try:
        assert kept.state_version == 0 and kept.count() == 3
        assert [kept.record("customers", f"crm:{i}") for i in (1, 2, 3)] == before
    finally:
        kept.close()
    rebuilt: Any = store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    try:
        assert rebuilt.state_version == 2 and rebuilt.count() == 4
        assert store.backend.verify(rebuilt).ok
    finally:
        rebuilt.close()


def test_missing_append_only_triggers_are_made_again_journaled(store: Harness):
    """The guard taken away (dropped or disabled) is put back by repair_triggers, which
    journals what it made; the database refuses an UPDATE again."""
    journal: Any = store.backend.open(store.location(), Folding(), key=KEY, now=fixed_now)
    try:
        journal.append(entries(2))
        assert journal.repair_triggers() is None
        store.tamper_entry(journal, 2, '{"name":"Evil"}')
        missing = journal.missing_triggers()
        assert missing != []
        repaired = journal.repair_triggers()
        assert repaired is not None and repaired.seq == 3
        assert (repaired.module, repaired.rid) == (JOURNAL_MODULE, "@triggers")
        assert repaired.meta["event"] == "repair-triggers"
        assert sorted(repaired.meta["recreated"]) == sorted(missing)
        assert journal.missing_triggers() == []
        with pytest.raises(store.refused):
            store.update_entry(journal, 1)
        assert journal.repair_triggers() is None
    finally:
        journal.close()


class Ruled(Wrapped):
    """Version 2 under settings (its ``rule``) a caller may change between opens."""

    def __init__(self, rule: str | None) -> None:
        self.rule = rule


def test_a_state_folded_under_another_rule_is_rebuilt_once_journaled(store: Harness):
    """The reducer's rule is stored with the state: the same rule reopens without a
    rebuild, another rebuilds once (journaled, same version, both rules named), and a
    reducer without a rule (a reader's) rebuilds nothing."""
    location = store.location()

    def opened(rule: str | None) -> Any:
        return store.backend.open(location, Ruled(rule), key=KEY, now=fixed_now)

    journal = opened('{"labels":"name"}')
    try:
        journal.append(entries(2))
    finally:
        journal.close()
    for rule, rebuilt in (
        ('{"labels":"name"}', 0),
        ('{"labels":"email"}', 1),
        ('{"labels":"email"}', 1),
        (None, 1),
    ):
        again = opened(rule)
        try:
            assert not again.needs_state_upgrade
            found = upgrades(again)
            assert len(found) == rebuilt and again.count() == 2 + rebuilt
        finally:
            again.close()
    journal = opened(None)
    try:
        (meta,) = upgrades(journal)
        assert (meta["from"], meta["to"], meta["entries"]) == (2, 2, [1, 2])
        assert '"email"' in meta["reason"] and '"name"' in meta["reason"]
    finally:
        journal.close()


def test_an_edited_entry_fails_the_rebuild_naming_it_and_writes_nothing(store: Harness):
    """A rebuild checks the chain first: an entry edited behind the journal's back fails
    the open with an IntegrityError naming the journal and the entry (and pointing at
    `replicator journal verify`), not a decoding error, and the journal is as it was."""
    location = store.location()
    old: Any = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    old.append(entries(3))
    store.tamper_entry(old, 2, '{"name": ')
    old.close()
    with pytest.raises(IntegrityError) as raised:
        store.backend.open(location, Wrapped(), key=KEY, now=fixed_now)
    assert raised.value.seq == 2 and "entry 2" in str(raised.value)
    assert "replicator journal verify" in str(raised.value)
    kept: Any = store.backend.open(location, Folding(), key=KEY, now=fixed_now)
    try:
        assert kept.state_version == 0 and kept.count() == 3 and upgrades(kept) == []
        found = store.backend.verify(kept)
        assert not found.chain_ok and found.first_bad_seq == 2
    finally:
        kept.close()
