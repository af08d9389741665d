"""``replicator demo``: a two-way sync told end to end, over the Zoho sandbox
(:mod:`.zoho`, whose scene the integration tests share) or two SQLite databases
(:mod:`.sqlite`); both end the same way (:mod:`.story`)."""

from replicator.cli.demo.command import demo

__all__ = ["demo"]
