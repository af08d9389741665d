"""Two-way sync between sides (Zoho Books, Zoho CRM, SQLite databases) with the journal
(:mod:`journal`) as the one memory of what happened and the conflicts package
(:mod:`conflicts`) deciding what wins.

The public API: load a config, open the app it describes (journal, connectors, engine)
and run cycles::

    from replicator import open_app

    with open_app("replicator.toml") as app:
        app.engine.run()

Every error this layer raises is a :class:`ReplicatorError`; the tree is drawn in
:mod:`replicator.errors`.  Importing this package loads the engine and its layers, not
the connectors' HTTP clients, the daemon, the CLI or the sandbox.
"""

from replicator.config.load import Config, load_config
from replicator.errors import (
    ConfigError,
    ConnectorError,
    DaemonError,
    EngineError,
    MappingError,
    ReplicatorError,
    SetupError,
    UnavailableError,
)
from replicator.sync.app import open_app
from replicator.sync.engine import Engine

__all__ = [
    "Config",
    "ConfigError",
    "ConnectorError",
    "DaemonError",
    "Engine",
    "EngineError",
    "MappingError",
    "ReplicatorError",
    "SetupError",
    "UnavailableError",
    "load_config",
    "open_app",
]
