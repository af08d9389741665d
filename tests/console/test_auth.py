"""The console's auth pieces: password hashes, the store, the sign-in limit, sessions."""

from __future__ import annotations

import datetime as dt
import logging
import stat

import pytest

from replicator.config.load import load_config
from replicator.console.auth import (
    MAX_FAILURES,
    SignInLimit,
    check_sign_in,
    csrf_ok,
    hash_password,
    read_store,
    secure_cookie,
    set_admin,
    signed_in,
    start_session,
    verify_password,
)
from replicator.errors import ConfigError
from tests.console.site import (
    ADMIN,
    CONSOLE,
    PASSWORD,
    USER,
    USER_PASSWORD,
    Clock,
    Site,
    signin_form,
)


def test_a_password_hash_verifies_its_password_and_no_other():
    """A hash is scrypt with its parameters and salt, checks its password, refuses others."""
    hashed = hash_password("s3cret pass")
    assert hashed.startswith("scrypt$16384$8$1$") and "s3cret" not in hashed
    assert verify_password("s3cret pass", hashed)
    assert not verify_password("s3cret pas", hashed)
    assert not verify_password("", hashed)
    assert hash_password("s3cret pass") != hashed  # a fresh salt each time


def test_a_malformed_or_missing_hash_verifies_nothing():
    """A hash in another format, with bad base64 or absent never lets anyone in."""
    for stored in (None, "", "plain", "md5$x$y$z$a$b", "scrypt$16384$8$1$!!$!!", "scrypt$1$1$1$$"):
        assert not verify_password("anything", stored)


def test_the_store_is_mode_0600_and_holds_only_hashes(tmp_path):
    """add-admin writes the store readable by its owner only, with a hash, never the password."""
    store = tmp_path / "journal.db.console.json"
    set_admin(store, "ada", "hunter2 hunter2")
    assert stat.S_IMODE(store.stat().st_mode) == 0o600
    assert "hunter2" not in store.read_text()
    data = read_store(store)
    assert len(data["secret"]) == 64
    assert check_sign_in(data, "ada", "hunter2 hunter2") == ("ada", "admin")
    assert check_sign_in(data, "ada", "wrong") is None
    assert check_sign_in(data, "bob", "hunter2 hunter2") is None


def test_an_integration_user_signs_in_with_the_integration_role(tmp_path):
    """A user with a password an admin set signs in as an integration user; one without
    a password cannot sign in with any password."""
    site = Site(tmp_path)
    data = read_store(site.store)
    assert check_sign_in(data, USER, USER_PASSWORD) == (USER, "integration")
    assert check_sign_in(data, USER.upper(), USER_PASSWORD) == (USER, "integration")
    data["users"]["nopass@example.com"] = {"hash": None}
    assert check_sign_in(data, "nopass@example.com", "") is None


def test_no_secret_reaches_the_journal_or_a_log(tmp_path, caplog):
    """Signing in (right and wrong) and a control leave no password, hash or session secret
    in the journal file or the log."""
    site = Site(tmp_path)
    site.seed()
    caplog.set_level(logging.DEBUG)
    client = site.client()
    client.post("/console/signin", data=signin_form(client, ADMIN, "not the password"))
    client.post("/console/signin", data=signin_form(client, ADMIN, PASSWORD))
    client.post("/console/pause", data={"csrf": "x"})
    data = read_store(site.store)
    secrets = [PASSWORD, "not the password", data["secret"], data["admins"][ADMIN]]
    journal_bytes = b"".join(
        p.read_bytes() for p in tmp_path.glob("journal.db*") if p != site.store
    )
    for secret in secrets:
        assert secret.encode() not in journal_bytes
        assert secret not in caplog.text


def test_five_failures_block_a_name_and_address_for_fifteen_minutes():
    """The sixth attempt within 15 minutes is refused; another address or name is not;
    once the window passes the name may try again."""
    clock = Clock()
    limit = SignInLimit(clock)
    for _ in range(MAX_FAILURES):
        assert not limit.blocked("ada", "10.0.0.1")
        limit.failed("ada", "10.0.0.1")
        clock.move(minutes=1)
    assert limit.blocked("ada", "10.0.0.1")
    assert not limit.blocked("ada", "10.0.0.2") and not limit.blocked("bob", "10.0.0.1")
    assert limit.blocked(" ADA", "10.0.0.1")  # another spelling is no fresh count
    clock.move(minutes=11)  # the first failure is 15 minutes old: four remain
    assert not limit.blocked("ada", "10.0.0.1")


def test_the_limit_keeps_a_bounded_number_of_keys():
    """A flood of made-up names never grows the limiter past its bound."""
    limit = SignInLimit(Clock(), max_keys=10)
    for n in range(100):
        limit.failed(f"name{n}", "10.0.0.1")
    assert len(limit._failures) <= 10


def test_a_session_ends_after_its_minutes():
    """A session is live until `session_minutes` have passed, then cleared."""
    clock = Clock()
    session: dict = {}
    start_session(session, "ada", "admin", clock())
    clock.move(minutes=29, seconds=59)
    assert signed_in(session, clock(), 30) == ("ada", "admin")
    clock.move(seconds=1)
    assert signed_in(session, clock(), 30) is None and session == {}


def test_a_session_from_the_future_or_without_a_time_is_not_signed_in():
    """A session whose start is later than now (a clock moved back) or missing is refused."""
    clock = Clock()
    session: dict = {}
    start_session(session, "ada", "admin", clock() + dt.timedelta(hours=1))
    assert signed_in(session, clock(), 30) is None
    assert signed_in({"user": "ada", "role": "admin"}, clock(), 30) is None


def test_the_csrf_check_wants_the_sessions_token():
    """A form's token must equal the session's; missing either is a refusal."""
    session: dict = {}
    start_session(session, "ada", "admin", Clock()())
    assert csrf_ok(session, session["csrf"])
    assert not csrf_ok(session, session["csrf"] + "x")
    assert not csrf_ok(session, None) and not csrf_ok({}, "")


def test_the_cookie_is_secure_off_loopback_unless_the_config_says():
    """ "auto" (None): Secure for any host but loopback (a name, a LAN address, every
    interface); the config's true or false wins either way."""
    for host in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"):
        assert not secure_cookie(None, host), host
    for host in ("0.0.0.0", "::", "192.168.1.20", "10.0.0.5", "sync.example.com", ""):
        assert secure_cookie(None, host), host
    assert secure_cookie(True, "127.0.0.1")
    assert not secure_cookie(False, "192.168.1.20")


def _session_cookie(site: Site, **options: str) -> str:
    """The Set-Cookie header a sign-in answers with."""
    client = site.client(**options)
    client.base_url = "https://127.0.0.1"  # a Secure cookie comes back over HTTPS only
    answer = client.post("/console/signin", data=signin_form(client, ADMIN, PASSWORD))
    assert answer.status_code == 303, answer.text
    return answer.headers["set-cookie"].lower()


def test_a_console_served_off_loopback_sets_a_secure_session_cookie(tmp_path):
    """Served on every interface the session cookie is Secure (HTTPS only), on loopback
    not (a browser on this machine reaches it over plain HTTP); both are HttpOnly and
    SameSite=Strict; `secure_cookie = true` makes it Secure on loopback too, `false` not
    off it."""
    site = Site(tmp_path)
    off, on = _session_cookie(site, served_on="0.0.0.0"), _session_cookie(site)
    assert "; secure" in off and "; secure" not in on
    assert all("httponly" in c and "samesite=strict" in c for c in (off, on))
    text = site.config.read_text()
    site.config.write_text(text.replace(CONSOLE, CONSOLE + "secure_cookie = true\n"))
    assert "; secure" in _session_cookie(site)
    site.config.write_text(text.replace(CONSOLE, CONSOLE + "secure_cookie = false\n"))
    assert "; secure" not in _session_cookie(site, served_on="192.168.1.20")


def test_secure_cookie_must_be_true_false_or_auto(tmp_path):
    """Any other value is refused, naming the key."""
    site = Site(tmp_path)
    site.config.write_text(site.config.read_text() + 'secure_cookie = "yes"\n')
    with pytest.raises(ConfigError, match="console.secure_cookie"):
        load_config(site.config)
