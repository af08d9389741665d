"""Wiring: a config file -> its journal, its connectors and an engine over them."""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from pathlib import Path

import attrs

from conflicts import RecordReducer
from journal import ChainKey, ChainKeyError, Journal, JournalStorage
from replicator.config.load import Config, load_config
from replicator.connectors import Connector, build_connector
from replicator.errors import ConfigError
from replicator.sync.context import Progress
from replicator.sync.engine import Engine
from replicator.sync.presentation import label_fields, ref_fields

# The journal key (see README, "The journal"): the HMAC-SHA256 key of the hash chain, kept
# outside the journal file.  From this variable (64 hex digits), else from the file this
# variable names, else from ``JOURNAL.key`` beside the journal, created 0600 on first use.
# Beside the journal rather than beside the credentials: credentials are one file per Zoho
# side named in the config (SQLite sides have none), so their folder is not one fixed
# place, and a key must be found the same way for the journal's whole life.
KEY_ENV = "REPLICATOR_JOURNAL_KEY"
KEY_FILE_ENV = "REPLICATOR_JOURNAL_KEY_FILE"


def key_path(config: Config) -> Path:
    """Where the journal key file is (whether or not it exists)."""
    named = os.environ.get(KEY_FILE_ENV)
    if named:
        return Path(named).expanduser()
    path = config.journal_path
    return path.with_name(path.name + ".key")


def _read_key(path: Path) -> ChainKey:
    if os.name != "nt":
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                str(path),
                "(permissions)",
                f"the journal key file is readable by group or others (mode "
                f"{stat.S_IMODE(mode):04o}): run `chmod 600 {path}`",
            )
    try:
        return ChainKey.from_text(path.read_text(encoding="ascii"))
    except (ChainKeyError, UnicodeDecodeError):
        # the reason names the file, never its text
        raise ConfigError(str(path), "(key)", "not a journal key (64 hex digits)") from None


def _create_key(path: Path) -> ChainKey | None:
    """A new key in a new 0600 file (None if another process made the file first)."""
    key, text = ChainKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)  # complete or absent, and never replaces a key
        except FileExistsError:
            return None
        except OSError:  # a file system without hard links: create it exclusively
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return None
            with os.fdopen(fd, "w", encoding="ascii") as handle:
                handle.write(text + "\n")
    finally:
        temporary.unlink(missing_ok=True)
    return key


def journal_key(config: Config, journal: JournalStorage) -> tuple[ChainKey, bool]:
    """The journal key and whether it was just created.

    A key is created only for a journal that has no keyed entry yet: a keyed journal whose
    key is gone is refused (a new key would make every keyed entry fail verification).
    """
    text = os.environ.get(KEY_ENV)
    if text:
        try:
            return ChainKey.from_text(text), False
        except ChainKeyError as exc:
            raise ConfigError(KEY_ENV, "(environment)", str(exc)) from None
    path = key_path(config)
    try:
        return _read_key(path), False
    except FileNotFoundError:
        pass
    if journal.keyed_from is not None and journal.last_seq >= journal.keyed_from:
        raise ConfigError(
            str(path),
            "(key)",
            f"journal {config.journal_path} is keyed from entry {journal.keyed_from} but its "
            f"key file is missing: restore it from your backup, or set {KEY_ENV}",
        )
    key = _create_key(path)
    if key is None:  # made by another process meanwhile
        return _read_key(path), False
    return key, True


def record_reducer(config: Config) -> RecordReducer:
    """The reducer of the config's journal: with the field that names each module's
    records and the one naming each document's party, stored beside each state."""
    return RecordReducer(labels=label_fields(config), refs=ref_fields(config))


def open_journal(config: Config, *, rebuild_state: bool = True) -> Journal:
    """The config's journal with its key.  The first open of a journal made before keyed
    chains (the key is created then) journals its upgrade (see :meth:`Journal.upgrade`).
    ``rebuild_state=False``: a state of another reducer version is not rebuilt (to verify)."""
    config.journal_path.parent.mkdir(parents=True, exist_ok=True)
    reducer = record_reducer(config)
    journal = Journal(config.journal_path, reducer, rebuild_state=rebuild_state)
    try:
        key, created = journal_key(config, journal)
        journal.use_key(key)
        if created and journal.needs_upgrade:
            journal.upgrade()
    except BaseException:
        journal.close()
        raise
    return journal


@attrs.define
class App:
    config: Config
    journal: JournalStorage
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


__all__ = ["App", "open_app", "open_journal", "record_reducer"]
