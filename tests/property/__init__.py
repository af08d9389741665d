"""The laws of DESIGN section 8, checked with hypothesis."""
