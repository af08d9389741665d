"""The sync: one cycle of pull, ingest, decide, push and record, and what drives it.

A cycle pulls every side of a module to its end, journals what it read, decides with the
policies of ``conflicts`` what each side should hold, pushes that and journals the outcome.
"""
