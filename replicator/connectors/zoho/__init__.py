"""Connectors for Zoho CRM v8 and Zoho Books v3 over their REST APIs, and what they share.

Shared, from the bottom up: :mod:`.secrets` (secrets that print as ``***``),
:mod:`.datacentres` (accounts servers and API domains), :mod:`.values` (JSON with exact
numbers, record digests), :mod:`.cursors` (Zoho's times, cursor texts), :mod:`.limits`
(rate limits, credit budget, server-asked waits), :mod:`.http` (the retrying client and the
one translation of httpx errors), :mod:`.auth` (OAuth), :mod:`.tokens` (the access token
shared between processes through a file), :mod:`.credentials` (where a side's secrets come
from).  The connectors: :mod:`.crm`, :mod:`.books` and its :mod:`.books_persons`.  Their
errors are drawn in :mod:`replicator.errors` (``ZohoError`` and below).
"""
