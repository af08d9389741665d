"""Errors of the merge engine and its policies.

ConflictError
 +-- PolicyError      a policy value that does not parse (names the value and the choices)
 +-- ResolutionError  a resolution that does not fit the conflict it names
"""

from __future__ import annotations


class ConflictError(Exception):
    """Base of the conflicts package's errors."""


class PolicyError(ConflictError, ValueError):
    """A policy string that is not one of the choices."""


class ResolutionError(ConflictError):
    """A resolution that cannot apply (unknown side, conflict already settled, ...)."""


__all__ = ["ConflictError", "PolicyError", "ResolutionError"]
