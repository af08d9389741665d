"""The sync: one cycle of pull, ingest, decide, push and record, and what drives it.

A cycle pulls every side of a module to its end, journals what it read, decides with the
policies of ``conflicts`` what each side should hold, pushes that and journals the outcome.

Read top-down: :mod:`.engine` (the :class:`~.engine.Engine` and its cycle), then one module
per step, each a set of functions over the engine's :class:`~.context.Context`:
:mod:`.pull`, :mod:`.ingest`, :mod:`.decide` (with :mod:`.suggestions` for near matches),
:mod:`.push` (with :mod:`.clone_names`) and :mod:`.record` (the run's report, settings,
marker and anchor).  Around them: :mod:`.one` (records named one by one: ``fetch``, the
daemon's callbacks), :mod:`.checks` (what a side must offer before a sync), :mod:`.resolve`
(a person's decisions), :mod:`.lifecycle` (pause, disable, delete, history), :mod:`.guard`
(the journal checked before a sync writes) and :mod:`.app` (a config file wired to its
journal, connectors and engine).
"""
