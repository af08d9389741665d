"""Connectors for Zoho CRM v8 and Zoho Books v3 over their REST APIs, and what they share:
the HTTP client with its errors, OAuth tokens, rate limits and credentials."""
