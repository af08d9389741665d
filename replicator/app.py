"""Wiring: a config file -> its journal, its connectors and an engine over them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import attrs

from conflicts import RecordReducer
from journal import Journal
from replicator.config import Config, load_config
from replicator.connectors import Connector, build_connector
from replicator.engine import Engine, Progress


def open_journal(config: Config) -> Journal:
    config.journal_path.parent.mkdir(parents=True, exist_ok=True)
    return Journal(config.journal_path, RecordReducer())


@attrs.define
class App:
    config: Config
    journal: Journal
    connectors: Mapping[str, Connector]
    engine: Engine

    def close(self) -> None:
        for connector in self.connectors.values():
            connector.close()
        self.journal.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_app(config: Config | str | Path, *, progress: Progress | None = None) -> App:
    if not isinstance(config, Config):
        config = load_config(config)
    journal = open_journal(config)
    connectors = {name: build_connector(side) for name, side in config.sides.items()}
    return App(config, journal, connectors, Engine(config, journal, connectors, progress=progress))


__all__ = ["App", "open_app", "open_journal"]
