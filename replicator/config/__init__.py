"""The configuration: the TOML file, the daemon's settings, field maps and the Zoho preset."""
