"""Zoho's data centres: where each one's accounts server (OAuth) and API domain are.

An organisation lives in one data centre; its refresh token works only with that centre's
accounts server.  The token answer's ``api_domain`` says where the API calls go and wins
over the default here.
"""

from __future__ import annotations

# Data centre -> (accounts server, default API domain).  The token answer's api_domain wins.
DATA_CENTRES: dict[str, tuple[str, str]] = {
    "com": ("https://accounts.zoho.com", "https://www.zohoapis.com"),
    "eu": ("https://accounts.zoho.eu", "https://www.zohoapis.eu"),
    "in": ("https://accounts.zoho.in", "https://www.zohoapis.in"),
    "com.au": ("https://accounts.zoho.com.au", "https://www.zohoapis.com.au"),
    "jp": ("https://accounts.zoho.jp", "https://www.zohoapis.jp"),
    "com.cn": ("https://accounts.zoho.com.cn", "https://www.zohoapis.com.cn"),
    "zohocloud.ca": ("https://accounts.zohocloud.ca", "https://www.zohoapis.ca"),
    "sa": ("https://accounts.zoho.sa", "https://www.zohoapis.sa"),
}
_DC_ALIASES = {"us": "com", "au": "com.au", "cn": "com.cn", "ca": "zohocloud.ca"}


def data_centre(name: str) -> tuple[str, str]:
    """``(accounts_url, api_domain)`` of a data centre named like ``eu`` or ``com.au``."""
    key = name.strip().lower().removeprefix("accounts.").removeprefix("zoho.")
    key = _DC_ALIASES.get(key, key)
    if key not in DATA_CENTRES:
        choices = ", ".join(DATA_CENTRES)
        raise ValueError(f"unknown Zoho data centre {name!r} (choices: {choices})")
    return DATA_CENTRES[key]


__all__ = ["DATA_CENTRES", "data_centre"]
