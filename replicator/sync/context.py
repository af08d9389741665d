"""What every step of a cycle is given: the engine's context, and what a run keeps.

The steps (:mod:`~replicator.sync.pull`, :mod:`~replicator.sync.ingest`,
:mod:`~replicator.sync.decide`, :mod:`~replicator.sync.push`,
:mod:`~replicator.sync.record`) are functions taking a :class:`Context` first: each says
what it reads, and none imports the :class:`~replicator.sync.engine.Engine`, which is one
context and calls them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Protocol

import attrs

from journal import JournalStorage
from replicator.config.load import Config
from replicator.connectors.base import Connector
from replicator.sync.clone_names import HeldNames

Progress = Callable[[str, str, str, int], None]  # (phase, module, side, count so far)


@attrs.define
class RunState:
    """What the steps of a run keep between them.  None of it is journaled: each piece is
    read again from the journal when it is lost (a new engine, a new process)."""

    pushed: Counter[tuple[str, str]] = attrs.field(factory=Counter)  # writes sent, for progress
    pulled: set[tuple[str, str]] = attrs.field(factory=set)  # (module, side) read to its end
    held_names: dict[str, HeldNames] = attrs.field(factory=dict)  # per module, for clone names
    identities: dict[str, str] = attrs.field(factory=dict)  # sides' accounts to journal next
    # per module, (record, side) of updates sent with no outcome: see decide.finish_pending
    in_flight: dict[str, set[tuple[str, str]]] = attrs.field(factory=dict)


class Context(Protocol):
    """The settings, journal and sides a cycle runs over, and the run's hooks."""

    config: Config
    journal: JournalStorage
    connectors: Mapping[str, Connector]
    batch_size: int  # records planned and pushed at a time
    progress: Progress
    stop_requested: Callable[[], bool]  # asked between pages and batches (SIGTERM)
    kept: RunState


__all__ = ["Context", "Progress", "RunState"]
