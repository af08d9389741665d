"""The web console (issue 14): server-rendered pages over the journal, for admins and
integration users, mounted at ``/console`` by the daemon when ``[console] enabled`` or
served alone by ``replicator console serve``."""

from __future__ import annotations
