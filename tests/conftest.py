"""Shared test set-up: the hypothesis profiles.

Profiles (pick one with ``--hypothesis-profile NAME`` or ``HYPOTHESIS_PROFILE=NAME``):

- ``ci`` (the default): modest example counts so the whole property suite runs in a
  couple of minutes on two cores;
- ``thorough``: ten times the examples and longer stateful runs, for a run by hand.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.pg import Cluster, need_postgres

# Sync examples open SQLite files and run whole cycles: slow per example by design, and
# their data (edit scripts) is large on purpose.
_SLOW_OK = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    max_examples=50,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=_SLOW_OK,
    print_blob=True,
)
settings.register_profile(
    "thorough",
    max_examples=500,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=_SLOW_OK,
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 for the session (tests/pg.py); tests
    that ask for it are marked ``postgres``."""
    cluster = Cluster(need_postgres()).start()
    yield cluster
    cluster.stop()
