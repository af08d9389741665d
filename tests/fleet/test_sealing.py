"""The fleet key seals and opens tenants' secrets (Fernet, from ``cryptography``)."""

from __future__ import annotations

import pytest

from replicator.fleet import KEY_ENV, FleetKeyError, Sealer, new_key


def test_what_is_sealed_opens_with_the_same_key_and_is_not_in_the_sealed_bytes():
    """A round trip gives the bytes back; the sealed form does not hold them."""
    sealer = Sealer([new_key()])
    token = sealer.seal(b"refresh-token-xyz")
    assert b"refresh-token-xyz" not in token
    assert sealer.open(token, tenant="acme") == b"refresh-token-xyz"


def test_another_key_is_refused_with_the_tenant_named_and_no_key_shown():
    """Opening with a wrong key names the tenant and the variable, never a key."""
    right, wrong = new_key(), new_key()
    token = Sealer([right]).seal(b"secret")
    with pytest.raises(FleetKeyError) as caught:
        Sealer([wrong]).open(token, tenant="acme")
    message = str(caught.value)
    assert "tenant acme" in message and KEY_ENV in message
    assert right not in message and wrong not in message


def test_a_rotation_seals_with_the_first_key_and_opens_with_any():
    """Keys comma-separated: the old key's secrets open, new seals need only the new key."""
    old, new = new_key(), new_key()
    token = Sealer([old]).seal(b"secret")
    rotating = Sealer.from_env({KEY_ENV: f"{new}, {old}"})
    assert rotating.open(token, tenant="acme") == b"secret"
    resealed = rotating.reseal(token, tenant="acme")
    assert Sealer([new]).open(resealed, tenant="acme") == b"secret"


def test_a_missing_or_malformed_key_is_refused_without_echoing_it():
    """No variable: say how to make a key; a malformed one: say which, not its text."""
    with pytest.raises(FleetKeyError, match="fleet new-key"):
        Sealer.from_env({})
    with pytest.raises(FleetKeyError, match="key 2 is not a fleet key") as caught:
        Sealer.from_env({KEY_ENV: f"{new_key()},not-a-key-SECRETISH"})
    assert "SECRETISH" not in str(caught.value)


def test_a_sealer_does_not_print_its_key():
    key = new_key()
    assert key not in repr(Sealer([key]))
