"""Browser sessions for hosted-UI sign-in: the sealer, chunked session cookies, session stores and pending sign-ins.

Cookies travel as plain data: a `Browser` below plays the cookie jar, applying Set-Cookie headers the way a browser
does (Max-Age=0 deletes) and sending back name -> value.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from typing import Any

import pytest
from conftest import Clock
from hypothesis import given
from hypothesis import strategies as st

from cognito_guard.errors import ConfigurationError
from cognito_guard.hosted_ui._session import (
    MAX_CHUNKS,
    CookieSettings,
    MemorySessionStore,
    PendingSignIns,
    Sealer,
    Sessions,
)

SECRET = "a-test-secret-that-is-long-enough"
OLD_SECRET = "the-previous-secret-of-this-app"
HTTPS = "https://app.example.com/callback"
LOCAL = "http://localhost:8000/callback"


def fake_jwt(length: int) -> str:
    """Random text shaped like a compact JWS/JWE, incompressible like the real thing."""
    body = secrets.token_urlsafe(length)[: length - 2]
    third = len(body) // 3
    return f"{body[:third]}.{body[third : 2 * third]}.{body[2 * third :]}"


def realistic_tokens() -> dict[str, Any]:
    """What an app keeps after sign-in: Cognito's three tokens (~4.5 KB together) and their expiry."""
    return {
        "id_token": fake_jwt(1150),
        "access_token": fake_jwt(1050),
        "refresh_token": fake_jwt(1780) + "." + fake_jwt(400),  # a JWE has five parts
        "expires_at": 1_800_003_600,
        "token_type": "Bearer",
    }


def parse_set_cookie(header: str) -> tuple[str, str, dict[str, str]]:
    """(name, value, attributes) of a Set-Cookie header value; flag attributes map to ""."""
    pair, *attributes = header.split("; ")
    name, _, value = pair.partition("=")
    parsed = {}
    for attribute in attributes:
        key, _, attribute_value = attribute.partition("=")
        parsed[key] = attribute_value
    return name, value, parsed


class Browser:
    """A cookie jar for one site: applies Set-Cookie headers and sends the cookies back."""

    def __init__(self) -> None:
        self.cookies: dict[str, str] = {}

    def receive(self, headers: list[str]) -> None:
        for header in headers:
            name, value, attributes = parse_set_cookie(header)
            if attributes.get("Max-Age") == "0":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value


def deleted_names(headers: list[str]) -> set[str]:
    return {name for name, _, attributes in map(parse_set_cookie, headers) if attributes["Max-Age"] == "0"}


def set_names(headers: list[str]) -> list[str]:
    return [name for name, _, attributes in map(parse_set_cookie, headers) if attributes["Max-Age"] != "0"]


def raw_bytes(sealed: str) -> bytearray:
    return bytearray(base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4)))


def encode(raw: bytes | bytearray) -> str:
    return base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


@pytest.fixture
def sealer(clock: Clock) -> Sealer:
    return Sealer(SECRET, clock=clock)


# --- Sealer -----------------------------------------------------------------------------------------------------------


def test_sealed_data_unseals_to_the_same_data(sealer: Sealer) -> None:
    data = {"sub": "abc", "groups": ["admin"], "n": 1.5, "nested": {"ok": True, "none": None}, "text": "é✓"}
    assert sealer.unseal(sealer.seal(data, purpose="session", max_age=60), purpose="session") == data


def test_sealed_value_is_base64url_without_padding(sealer: Sealer) -> None:
    sealed = sealer.seal({"x": "y" * 100}, purpose="session", max_age=60)
    assert set(sealed) <= set(string.ascii_letters + string.digits + "-_")


def test_sealing_twice_gives_different_values(sealer: Sealer) -> None:
    assert sealer.seal({"a": 1}, purpose="p", max_age=60) != sealer.seal({"a": 1}, purpose="p", max_age=60)


def test_value_sealed_for_one_purpose_does_not_open_for_another(sealer: Sealer) -> None:
    sealed = sealer.seal({"state": "s"}, purpose="pending-sign-in", max_age=60)
    assert sealer.unseal(sealed, purpose="session") is None


def test_value_sealed_with_another_secret_does_not_open(clock: Clock) -> None:
    sealed = Sealer("another-secret-entirely-123", clock=clock).seal({"a": 1}, purpose="p", max_age=60)
    assert Sealer(SECRET, clock=clock).unseal(sealed, purpose="p") is None


@pytest.mark.parametrize(
    "position",
    [1, 6, 12, 13, 20, -17, -16, -8, -1],
    ids=["nonce-first", "nonce-middle", "nonce-last", "ciphertext-first", "ciphertext", "ciphertext-last", "tag-first",
         "tag-middle", "tag-last"],
)  # fmt: skip
@pytest.mark.parametrize("bit", [0, 7])
def test_flipping_any_bit_of_nonce_ciphertext_or_tag_fails(sealer: Sealer, position: int, bit: int) -> None:
    raw = raw_bytes(sealer.seal({"user": "alice", "pad": "x" * 20}, purpose="p", max_age=60))
    raw[position] ^= 1 << bit
    assert sealer.unseal(encode(raw), purpose="p") is None


@pytest.mark.parametrize("keep", [0, 1, 13, 29, -1, -16])
def test_truncated_value_fails(sealer: Sealer, keep: int) -> None:
    raw = raw_bytes(sealer.seal({"user": "alice"}, purpose="p", max_age=60))
    assert sealer.unseal(encode(raw[:keep]), purpose="p") is None


@pytest.mark.parametrize("extra", [b"\x00", b"garbage", b"\x00" * 16])
def test_value_with_appended_bytes_fails(sealer: Sealer, extra: bytes) -> None:
    raw = raw_bytes(sealer.seal({"user": "alice"}, purpose="p", max_age=60))
    assert sealer.unseal(encode(raw + extra), purpose="p") is None


def test_value_with_appended_text_fails(sealer: Sealer) -> None:
    assert sealer.unseal(sealer.seal({"user": "alice"}, purpose="p", max_age=60) + "AAAA", purpose="p") is None


@pytest.mark.parametrize("version", [0, 2, 255])
def test_unknown_version_fails(sealer: Sealer, version: int) -> None:
    raw = raw_bytes(sealer.seal({"user": "alice"}, purpose="p", max_age=60))
    raw[0] = version
    assert sealer.unseal(encode(raw), purpose="p") is None


@pytest.mark.parametrize("text", ["", "!!!!", "abc=", "ab cd", "é" * 40, "a", "abcde", "AAAA.AAAA"])
def test_text_that_is_not_base64url_fails(sealer: Sealer, text: str) -> None:
    assert sealer.unseal(text, purpose="p") is None


def test_standard_base64_alphabet_fails(sealer: Sealer) -> None:
    sealed = sealer.seal({"x": "?" * 300}, purpose="p", max_age=60)
    while "-" not in sealed and "_" not in sealed:  # almost never loops: ~400 characters
        sealed = sealer.seal({"x": "?" * 300}, purpose="p", max_age=60)
    assert sealer.unseal(sealed.replace("-", "+").replace("_", "/"), purpose="p") is None


@pytest.mark.parametrize("value", [None, 42, b"bytes", ["list"], {"a": 1}])
def test_non_string_fails(sealer: Sealer, value: Any) -> None:
    assert sealer.unseal(value, purpose="p") is None


def test_huge_input_fails_before_decoding(sealer: Sealer) -> None:
    sealed = sealer.seal({"a": 1}, purpose="p", max_age=60)
    assert sealer.unseal(sealed + "A" * (64 * 1024), purpose="p") is None


def test_value_opens_until_its_expiry_and_not_at_it(sealer: Sealer, clock: Clock) -> None:
    sealed = sealer.seal({"a": 1}, purpose="p", max_age=100)
    clock.advance(99.999)
    assert sealer.unseal(sealed, purpose="p") == {"a": 1}
    clock.advance(0.001)
    assert sealer.unseal(sealed, purpose="p") is None


def test_seal_refuses_a_lifetime_that_is_not_positive(sealer: Sealer) -> None:
    with pytest.raises(ValueError, match="max_age"):
        sealer.seal({"a": 1}, purpose="p", max_age=0)


def test_value_sealed_with_old_secret_opens_after_rotation(clock: Clock) -> None:
    sealed = Sealer(OLD_SECRET, clock=clock).seal({"a": 1}, purpose="p", max_age=60)
    assert Sealer([SECRET, OLD_SECRET], clock=clock).unseal(sealed, purpose="p") == {"a": 1}


def test_rotated_sealer_seals_with_the_first_secret(clock: Clock) -> None:
    sealed = Sealer([SECRET, OLD_SECRET], clock=clock).seal({"a": 1}, purpose="p", max_age=60)
    assert Sealer(SECRET, clock=clock).unseal(sealed, purpose="p") == {"a": 1}
    assert Sealer(OLD_SECRET, clock=clock).unseal(sealed, purpose="p") is None


def test_bytes_secrets_are_accepted(clock: Clock) -> None:
    sealer = Sealer(b"\x01" * 32, clock=clock)
    assert sealer.unseal(sealer.seal({"a": 1}, purpose="p", max_age=60), purpose="p") == {"a": 1}


@pytest.mark.parametrize("secret", ["short", b"fifteen-bytes!!", ["x" * 15], [SECRET, "short"]])
def test_short_secret_is_a_configuration_error(secret: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"secrets\.token_urlsafe\(32\)"):
        Sealer(secret)


def test_no_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="needs a secret"):
        Sealer([])


def test_configuration_error_never_shows_the_secret() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Sealer([SECRET, "tooShortSecret"])
    assert "tooShortSecret" not in str(raised.value)


_PROPERTY_SEALER = Sealer(SECRET)
_PROPERTY_SEALED = _PROPERTY_SEALER.seal({"a": 1}, purpose="p", max_age=3600)


@given(st.text(max_size=400))
def test_unseal_never_raises_on_arbitrary_text(text: str) -> None:
    assert _PROPERTY_SEALER.unseal(text, purpose="p") is None


@given(st.text(alphabet=string.ascii_letters + string.digits + "-_", max_size=400))
def test_unseal_never_raises_on_arbitrary_base64url(text: str) -> None:
    assert _PROPERTY_SEALER.unseal(text, purpose="p") is None


@given(st.integers(min_value=0, max_value=len(_PROPERTY_SEALED) - 1), st.sampled_from("AQgw-_"))
def test_unseal_refuses_any_changed_character(index: int, replacement: str) -> None:
    changed = _PROPERTY_SEALED[:index] + replacement + _PROPERTY_SEALED[index + 1 :]
    if raw_bytes(changed) == raw_bytes(_PROPERTY_SEALED):  # only unused low bits of the last character changed
        return
    assert _PROPERTY_SEALER.unseal(changed, purpose="p") is None


# --- MemorySessionStore -----------------------------------------------------------------------------------------------


def test_store_entry_lives_until_its_ttl(clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    store.set("k", {"a": 1}, ttl=10)
    clock.advance(9.9)
    assert store.get("k") == {"a": 1}
    clock.advance(0.1)
    assert store.get("k") is None


def test_store_pop_returns_the_entry_once(clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    store.set("k", {"a": 1}, ttl=10)
    assert store.pop("k") == {"a": 1}
    assert store.pop("k") is None
    assert store.get("k") is None


def test_store_pop_of_expired_entry_is_none(clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    store.set("k", {"a": 1}, ttl=10)
    clock.advance(10)
    assert store.pop("k") is None


def test_store_evicts_the_oldest_entries_beyond_max_entries(clock: Clock) -> None:
    store = MemorySessionStore(max_entries=3, clock=clock)
    for key in "abcd":
        store.set(key, {"key": key}, ttl=60)
    assert store.get("a") is None
    assert [store.get(key) for key in "bcd"] == [{"key": "b"}, {"key": "c"}, {"key": "d"}]


def test_store_replacing_an_entry_makes_it_the_newest(clock: Clock) -> None:
    store = MemorySessionStore(max_entries=2, clock=clock)
    store.set("a", {"v": 1}, ttl=60)
    store.set("b", {"v": 1}, ttl=60)
    store.set("a", {"v": 2}, ttl=60)
    store.set("c", {"v": 1}, ttl=60)
    assert store.get("b") is None
    assert store.get("a") == {"v": 2}


def test_store_keeps_its_own_copy_of_the_data(clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    data: dict[str, Any] = {"groups": ["a"]}
    store.set("k", data, ttl=60)
    data["groups"].append("b")
    got = store.get("k")
    assert got == {"groups": ["a"]}
    got["groups"].append("c")
    assert store.get("k") == {"groups": ["a"]}


def test_store_delete_removes_the_entry_and_ignores_unknown_keys(clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    store.set("k", {"a": 1}, ttl=60)
    store.delete("k")
    store.delete("never-set")
    assert store.get("k") is None


def test_store_refuses_max_entries_below_one() -> None:
    with pytest.raises(ConfigurationError, match="max_entries"):
        MemorySessionStore(max_entries=0)


# --- CookieSettings ---------------------------------------------------------------------------------------------------


def test_same_site_none_requires_secure() -> None:
    with pytest.raises(ConfigurationError, match="secure=True"):
        CookieSettings(same_site="None")
    assert CookieSettings(same_site="None", secure=True).same_site == "None"


@pytest.mark.parametrize("same_site", ["lax", "Relaxed", ""])
def test_unknown_same_site_is_a_configuration_error(same_site: str) -> None:
    with pytest.raises(ConfigurationError, match="same_site"):
        CookieSettings(same_site=same_site)


@pytest.mark.parametrize("name", ["", "has space", "semi;colon", "equals=sign", "comma,", "é"])
def test_invalid_cookie_name_is_a_configuration_error(name: str) -> None:
    with pytest.raises(ConfigurationError, match="cookie name"):
        CookieSettings(name=name)


@pytest.mark.parametrize("path", ["", "no-slash", "/a;b", "/a b"])
def test_invalid_cookie_path_is_a_configuration_error(path: str) -> None:
    with pytest.raises(ConfigurationError, match="path"):
        CookieSettings(path=path)


@pytest.mark.parametrize("chunk_size", [10, 4090])
def test_chunk_size_outside_what_browsers_keep_is_a_configuration_error(chunk_size: int) -> None:
    with pytest.raises(ConfigurationError, match="chunk_size"):
        CookieSettings(chunk_size=chunk_size)


def test_host_prefixed_cookie_name_requires_root_path_and_no_domain() -> None:
    with pytest.raises(ConfigurationError, match="__Host-"):
        CookieSettings(name="__Host-session", domain="example.com")


# --- Sessions in cookies ----------------------------------------------------------------------------------------------


@pytest.fixture
def sessions(sealer: Sealer) -> Sessions:
    return Sessions(sealer)


def signed_in(sessions: Sessions, data: dict[str, Any], url: str = HTTPS) -> Browser:
    browser = Browser()
    browser.receive(sessions.save(data, request_cookies=browser.cookies, request_url=url))
    return browser


def test_realistic_tokens_are_split_into_chunks_under_chunk_size_and_reassembled(sessions: Sessions) -> None:
    tokens = realistic_tokens()
    headers = sessions.save(tokens, request_cookies={}, request_url=HTTPS)
    values = [value for _, value, _ in map(parse_set_cookie, headers)]
    assert set_names(headers) == ["cognito_session", "cognito_session.1"]
    assert all(0 < len(value) <= 3800 for value in values)
    assert sessions.load(dict(zip(set_names(headers), values, strict=True))) == tokens


def test_small_session_uses_one_cookie(sessions: Sessions) -> None:
    assert set_names(sessions.save({"sub": "abc"}, request_cookies={}, request_url=HTTPS)) == ["cognito_session"]


def test_no_session_cookie_means_not_signed_in(sessions: Sessions) -> None:
    assert sessions.load({}) is None
    assert sessions.load({"cognito_session.1": "abc", "other": "x"}) is None


def test_missing_chunk_means_not_signed_in(sessions: Sessions) -> None:
    browser = signed_in(sessions, realistic_tokens())
    del browser.cookies["cognito_session.1"]
    assert sessions.load(browser.cookies) is None


def test_missing_first_chunk_means_not_signed_in(sessions: Sessions) -> None:
    browser = signed_in(sessions, realistic_tokens())
    del browser.cookies["cognito_session"]
    assert sessions.load(browser.cookies) is None


def test_an_empty_first_chunk_before_a_whole_session_means_not_signed_in(sessions: Sessions) -> None:
    # The seal does not bind a chunk's name: "" + a complete seal planted as chunk 1 would otherwise open.
    theirs = signed_in(sessions, {"sub": "someone-else"})
    assert sessions.load({"cognito_session": "", "cognito_session.1": theirs.cookies["cognito_session"]}) is None


def test_an_empty_later_chunk_means_not_signed_in(sessions: Sessions) -> None:
    browser = signed_in(sessions, {"sub": "alice"})
    assert sessions.load({**browser.cookies, "cognito_session.1": ""}) is None


def test_extra_chunk_means_not_signed_in(sessions: Sessions) -> None:
    browser = signed_in(sessions, realistic_tokens())
    browser.cookies["cognito_session.2"] = browser.cookies["cognito_session.1"][:100]
    assert sessions.load(browser.cookies) is None


def test_reordered_chunks_mean_not_signed_in(sessions: Sessions) -> None:
    browser = signed_in(sessions, realistic_tokens())
    first, second = browser.cookies["cognito_session"], browser.cookies["cognito_session.1"]
    browser.cookies.update({"cognito_session": second, "cognito_session.1": first})
    assert sessions.load(browser.cookies) is None


def test_chunks_from_two_sessions_do_not_combine(sessions: Sessions) -> None:
    mine, theirs = signed_in(sessions, realistic_tokens()), signed_in(sessions, realistic_tokens())
    mine.cookies["cognito_session.1"] = theirs.cookies["cognito_session.1"]
    assert sessions.load(mine.cookies) is None


def test_tampered_session_cookie_means_not_signed_in(sessions: Sessions) -> None:
    browser = signed_in(sessions, {"sub": "alice"})
    raw = raw_bytes(browser.cookies["cognito_session"])
    raw[20] ^= 1
    browser.cookies["cognito_session"] = encode(raw)
    assert sessions.load(browser.cookies) is None


def test_session_expires_after_max_age(sealer: Sealer, clock: Clock) -> None:
    sessions = Sessions(sealer, cookie=CookieSettings(max_age=3600))
    browser = signed_in(sessions, {"sub": "alice"})
    clock.advance(3599)
    assert sessions.load(browser.cookies) == {"sub": "alice"}
    clock.advance(1)
    assert sessions.load(browser.cookies) is None


def test_pending_sign_in_value_does_not_open_as_a_session(sealer: Sealer, sessions: Sessions) -> None:
    forged = sealer.seal({"sub": "mallory"}, purpose="pending-sign-in", max_age=600)
    assert sessions.load({"cognito_session": forged}) is None


def test_shrinking_session_deletes_surplus_chunk_cookies(sessions: Sessions) -> None:
    browser = signed_in(sessions, realistic_tokens())
    headers = sessions.save({"sub": "alice"}, request_cookies=browser.cookies, request_url=HTTPS)
    assert set_names(headers) == ["cognito_session"]
    assert deleted_names(headers) == {"cognito_session.1"}
    browser.receive(headers)
    assert set(browser.cookies) == {"cognito_session"}
    assert sessions.load(browser.cookies) == {"sub": "alice"}


def test_saving_does_not_delete_chunks_the_browser_does_not_have(sessions: Sessions) -> None:
    assert deleted_names(sessions.save({"sub": "alice"}, request_cookies={}, request_url=HTTPS)) == set()


def test_session_cookie_attributes(sessions: Sessions) -> None:
    name, _, attributes = parse_set_cookie(sessions.save({"a": 1}, request_cookies={}, request_url=HTTPS)[0])
    assert name == "cognito_session"
    assert attributes == {"Path": "/", "Max-Age": "2592000", "HttpOnly": "", "SameSite": "Lax", "Secure": ""}


@pytest.mark.parametrize(
    ("url", "secure"),
    [
        ("https://app.example.com/", True),
        ("https://localhost:8443/", True),
        ("http://localhost:8000/callback", False),
        ("http://127.0.0.1:8000/callback", False),
        ("http://[::1]:8000/callback", False),
        ("http://app.example.com/", True),  # secure by default: the browser drops it, nothing leaks over http
        ("http://localhost.evil.example/", True),
        ("http://127.0.0.1.evil.example/", True),
        ("not a url", True),
    ],
)
def test_secure_is_set_unless_plain_http_to_a_loopback_host(sessions: Sessions, url: str, secure: bool) -> None:
    headers = sessions.save({"a": 1}, request_cookies={}, request_url=url)
    assert ("Secure" in parse_set_cookie(headers[0])[2]) is secure


def test_explicit_secure_setting_wins_over_the_request_url(sealer: Sealer) -> None:
    never = Sessions(sealer, cookie=CookieSettings(secure=False))
    always = Sessions(sealer, cookie=CookieSettings(secure=True))
    assert "Secure" not in parse_set_cookie(never.save({}, request_cookies={}, request_url=HTTPS)[0])[2]
    assert "Secure" in parse_set_cookie(always.save({}, request_cookies={}, request_url=LOCAL)[0])[2]


def test_custom_cookie_settings_apply_to_every_chunk_and_deletion(sealer: Sealer) -> None:
    settings = CookieSettings(name="app", path="/app", domain="example.com", same_site="Strict", max_age=600.5)
    sessions = Sessions(sealer, cookie=settings)
    browser = signed_in(sessions, realistic_tokens())
    headers = sessions.save({"a": 1}, request_cookies=browser.cookies, request_url=HTTPS)
    assert set_names(headers) == ["app"]
    assert deleted_names(headers) == {"app.1"}
    for _, _, attributes in map(parse_set_cookie, headers):
        assert attributes["Path"] == "/app"
        assert attributes["Domain"] == "example.com"
        assert attributes["SameSite"] == "Strict"
        assert attributes["Max-Age"] in ("601", "0")


def test_deletion_headers_have_an_empty_value_and_max_age_zero(sessions: Sessions) -> None:
    browser = signed_in(sessions, {"a": 1})
    [header] = sessions.clear(request_cookies=browser.cookies, request_url=HTTPS)
    assert header == "cognito_session=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax; Secure"


def test_clear_deletes_every_chunk(sessions: Sessions) -> None:
    browser = signed_in(sessions, realistic_tokens())
    headers = sessions.clear(request_cookies=browser.cookies, request_url=HTTPS)
    assert deleted_names(headers) == {"cognito_session", "cognito_session.1"}
    browser.receive(headers)
    assert browser.cookies == {}


def test_clear_without_a_session_sends_nothing(sessions: Sessions) -> None:
    assert sessions.clear(request_cookies={"other": "x"}, request_url=HTTPS) == []


@pytest.mark.parametrize("size", [MAX_CHUNKS * 3800 * 3 // 4, 64 * 1024])  # just past the chunk limit; past the seal's
def test_session_too_large_for_cookies_asks_for_a_store(sessions: Sessions, size: int) -> None:
    with pytest.raises(ValueError, match="session too large for cookies; use a SessionStore"):
        sessions.save({"blob": "x" * size}, request_cookies={}, request_url=HTTPS)


def test_session_just_within_the_chunk_limit_is_saved(sessions: Sessions) -> None:
    headers = sessions.save({"blob": "x" * (MAX_CHUNKS * 3800 * 3 // 4 - 100)}, request_cookies={}, request_url=HTTPS)
    assert len(set_names(headers)) == MAX_CHUNKS


# --- Sessions in a store ----------------------------------------------------------------------------------------------


@pytest.fixture
def store(clock: Clock) -> MemorySessionStore:
    return MemorySessionStore(clock=clock)


@pytest.fixture
def stored_sessions(sealer: Sealer, store: MemorySessionStore) -> Sessions:
    return Sessions(sealer, store=store)


def test_store_backed_session_keeps_data_in_the_store_and_a_small_cookie(stored_sessions: Sessions) -> None:
    tokens = realistic_tokens()
    browser = signed_in(stored_sessions, tokens)
    assert list(browser.cookies) == ["cognito_session"]
    assert len(browser.cookies["cognito_session"]) < 200
    assert stored_sessions.load(browser.cookies) == tokens


def test_store_backed_session_keeps_its_id_across_saves(stored_sessions: Sessions) -> None:
    browser = signed_in(stored_sessions, {"v": 1})
    earlier_cookies = dict(browser.cookies)
    browser.receive(stored_sessions.save({"v": 2}, request_cookies=browser.cookies, request_url=HTTPS))
    assert stored_sessions.load(earlier_cookies) == {"v": 2}
    assert stored_sessions.load(browser.cookies) == {"v": 2}


def test_renewing_a_store_backed_session_issues_a_new_id_and_drops_the_old(stored_sessions: Sessions) -> None:
    planted = signed_in(stored_sessions, {"sub": "mallory"}).cookies
    headers = stored_sessions.save({"sub": "alice"}, request_cookies=planted, request_url=HTTPS, renew=True)
    browser = Browser()
    browser.receive(headers)
    assert stored_sessions.load(browser.cookies) == {"sub": "alice"}
    assert stored_sessions.load(planted) is None


def test_store_backed_session_with_an_invalid_cookie_gets_a_new_id(stored_sessions: Sessions) -> None:
    headers = stored_sessions.save({"v": 1}, request_cookies={"cognito_session": "junk"}, request_url=HTTPS)
    browser = Browser()
    browser.receive(headers)
    assert stored_sessions.load(browser.cookies) == {"v": 1}


def test_clear_deletes_the_store_entry(stored_sessions: Sessions) -> None:
    browser = signed_in(stored_sessions, {"v": 1})
    kept = dict(browser.cookies)
    headers = stored_sessions.clear(request_cookies=browser.cookies, request_url=HTTPS)
    assert deleted_names(headers) == {"cognito_session"}
    assert stored_sessions.load(kept) is None


def test_expired_store_entry_means_not_signed_in(sealer: Sealer) -> None:
    store_clock = Clock()
    sessions = Sessions(sealer, store=MemorySessionStore(clock=store_clock), cookie=CookieSettings(max_age=3600))
    browser = signed_in(sessions, {"v": 1})
    store_clock.advance(3600)
    assert sessions.load(browser.cookies) is None


def test_store_backed_session_cookie_expires_with_max_age(sealer: Sealer, clock: Clock) -> None:
    sessions = Sessions(sealer, store=MemorySessionStore(clock=Clock()), cookie=CookieSettings(max_age=3600))
    browser = signed_in(sessions, {"v": 1})
    clock.advance(3600)
    assert sessions.load(browser.cookies) is None


def test_cookie_held_session_does_not_open_as_a_session_id(sealer: Sealer, stored_sessions: Sessions) -> None:
    cookie_held = Sessions(sealer).save({"sid": "guess"}, request_cookies={}, request_url=HTTPS)
    browser = Browser()
    browser.receive(cookie_held)
    assert stored_sessions.load(browser.cookies) is None


def test_store_backed_save_deletes_chunks_left_from_cookie_held_sessions(
    sealer: Sealer, stored_sessions: Sessions
) -> None:
    browser = signed_in(Sessions(sealer), realistic_tokens())
    headers = stored_sessions.save({"v": 1}, request_cookies=browser.cookies, request_url=HTTPS)
    assert deleted_names(headers) == {"cognito_session.1"}


# --- PendingSignIns ---------------------------------------------------------------------------------------------------


@pytest.fixture
def pending(sealer: Sealer, clock: Clock) -> PendingSignIns:
    return PendingSignIns(sealer, clock=clock)


@pytest.fixture
def stored_pending(sealer: Sealer, clock: Clock, store: MemorySessionStore) -> PendingSignIns:
    return PendingSignIns(sealer, store=store, clock=clock)


def browser_cookie(pending_name: str, prefix: str = "__Host-") -> str:
    """The name of the browser cookie a sign-in is tied to ("__Host-" on https, none on http://localhost)."""
    return f"{prefix}cognito_signin_browser_{pending_name[-16:]}"


def pending_cookies(browser: Browser) -> dict[str, str]:
    """The browser's sign-in cookies (one per sign-in in progress), without the browser cookie they are tied to."""
    return {name: value for name, value in browser.cookies.items() if re.fullmatch("cognito_signin_[0-9a-f]{16}", name)}


def started(pending: PendingSignIns, browser: Browser, state: str, data: dict[str, Any]) -> None:
    browser.receive(pending.start(state, data, request_cookies=browser.cookies, request_url=HTTPS))


def finish(pending: PendingSignIns, browser: Browser, state: str) -> dict[str, Any] | None:
    data, headers = pending.finish(state, request_cookies=browser.cookies, request_url=HTTPS)
    browser.receive(headers)
    return data


def test_sign_ins_started_in_two_tabs_both_finish(pending: PendingSignIns) -> None:
    browser = Browser()
    started(pending, browser, "state-tab-1", {"verifier": "v1"})
    started(pending, browser, "state-tab-2", {"verifier": "v2"})
    assert finish(pending, browser, "state-tab-2") == {"verifier": "v2"}
    assert finish(pending, browser, "state-tab-1") == {"verifier": "v1"}
    assert pending_cookies(browser) == {}


def test_sign_ins_started_in_two_tabs_both_finish_with_a_store(stored_pending: PendingSignIns) -> None:
    browser = Browser()
    started(stored_pending, browser, "state-tab-1", {"verifier": "v1"})
    started(stored_pending, browser, "state-tab-2", {"verifier": "v2"})
    assert finish(stored_pending, browser, "state-tab-1") == {"verifier": "v1"}
    assert finish(stored_pending, browser, "state-tab-2") == {"verifier": "v2"}


def test_pending_sign_in_cookie_attributes(pending: PendingSignIns) -> None:
    header, _ = pending.start("the-state", {"v": 1}, request_cookies={}, request_url=HTTPS)
    name, _, attributes = parse_set_cookie(header)
    assert name.startswith("cognito_signin_")
    assert len(name) == len("cognito_signin_") + 16
    assert attributes == {"Path": "/", "Max-Age": "600", "HttpOnly": "", "SameSite": "Lax", "Secure": ""}


def test_pending_sign_in_cookie_has_no_secure_on_localhost(pending: PendingSignIns) -> None:
    header, _ = pending.start("the-state", {"v": 1}, request_cookies={}, request_url=LOCAL)
    assert "Secure" not in parse_set_cookie(header)[2]


def test_the_browser_cookie_is_host_prefixed_on_https_and_lasts_as_long_as_a_sign_in(pending: PendingSignIns) -> None:
    sign_in, header = pending.start("the-state", {"v": 1}, request_cookies={}, request_url=HTTPS)
    name, value, attributes = parse_set_cookie(header)
    assert name == browser_cookie(parse_set_cookie(sign_in)[0])
    assert len(value) == 43
    assert attributes == {"Path": "/", "Max-Age": "600", "HttpOnly": "", "SameSite": "Lax", "Secure": ""}


def test_the_browser_cookie_on_localhost_has_no_prefix_and_no_secure(pending: PendingSignIns) -> None:
    sign_in, header = pending.start("the-state", {"v": 1}, request_cookies={}, request_url=LOCAL)
    name, _, attributes = parse_set_cookie(header)
    assert name == browser_cookie(parse_set_cookie(sign_in)[0], prefix="")
    assert "Secure" not in attributes


def test_sign_ins_started_in_two_tabs_at_once_both_finish(pending: PendingSignIns) -> None:
    # Both requests leave before either answer arrives: neither carries the other's cookies.
    browser = Browser()
    first = pending.start("state-tab-1", {"v": 1}, request_cookies={}, request_url=HTTPS)
    second = pending.start("state-tab-2", {"v": 2}, request_cookies={}, request_url=HTTPS)
    browser.receive(first)
    browser.receive(second)
    assert finish(pending, browser, "state-tab-1") == {"v": 1}
    assert finish(pending, browser, "state-tab-2") == {"v": 2}


def test_a_sign_in_finishes_only_with_the_browser_cookie_it_was_started_with(pending: PendingSignIns) -> None:
    browser = Browser()
    started(pending, browser, "the-state", {"v": 1})
    without = pending_cookies(browser)
    [name] = without
    other = {**browser.cookies, browser_cookie(name): "A" * 43}
    assert pending.finish("the-state", request_cookies=without, request_url=HTTPS)[0] is None
    assert pending.finish("the-state", request_cookies=other, request_url=HTTPS)[0] is None
    assert finish(pending, browser, "the-state") == {"v": 1}


def test_a_sign_in_cookie_planted_from_another_browser_finishes_nothing(pending: PendingSignIns) -> None:
    # Login CSRF: a sibling subdomain plants its own sign-in cookie, then sends the victim to its callback URL.
    victim, attacker = Browser(), Browser()
    started(pending, victim, "victims-own-sign-in", {"v": "victim"})
    started(pending, attacker, "attackers-state", {"v": "attacker"})
    victim.cookies.update(pending_cookies(attacker))
    assert finish(pending, victim, "attackers-state") is None


def test_finish_deletes_the_pending_cookie(pending: PendingSignIns) -> None:
    browser = Browser()
    started(pending, browser, "the-state", {"v": 1})
    [cookie_name] = pending_cookies(browser)
    _, headers = pending.finish("the-state", request_cookies=browser.cookies, request_url=HTTPS)
    assert deleted_names(headers) == {cookie_name, browser_cookie(cookie_name)}


def test_finish_is_single_use_a_replayed_cookie_is_refused(pending: PendingSignIns) -> None:
    browser = Browser()
    started(pending, browser, "the-state", {"v": 1})
    replayed = dict(browser.cookies)
    assert finish(pending, browser, "the-state") == {"v": 1}
    assert pending.finish("the-state", request_cookies=replayed, request_url=HTTPS)[0] is None


def test_finish_is_single_use_with_a_store(stored_pending: PendingSignIns) -> None:
    browser = Browser()
    started(stored_pending, browser, "the-state", {"v": 1})
    replayed = dict(browser.cookies)
    assert finish(stored_pending, browser, "the-state") == {"v": 1}
    assert stored_pending.finish("the-state", request_cookies=replayed, request_url=HTTPS)[0] is None


def test_with_a_store_the_data_stays_out_of_the_cookie(stored_pending: PendingSignIns, sealer: Sealer) -> None:
    browser = Browser()
    started(stored_pending, browser, "the-state", {"verifier": "secret-pkce-verifier"})
    [value] = pending_cookies(browser).values()
    assert "verifier" not in str(sealer.unseal(value, purpose="pending-sign-in"))


def test_with_a_store_a_callback_without_the_browsers_cookie_is_refused(stored_pending: PendingSignIns) -> None:
    started(stored_pending, Browser(), "attackers-state", {"v": 1})
    assert stored_pending.finish("attackers-state", request_cookies={}, request_url=HTTPS) == (None, [])


def test_pending_sign_in_expires_after_its_lifetime(sealer: Sealer, clock: Clock) -> None:
    pending = PendingSignIns(sealer, lifetime=600, clock=clock)
    browser = Browser()
    started(pending, browser, "slow", {"v": 1})
    started(pending, browser, "fast", {"v": 2})
    clock.advance(599)
    assert finish(pending, browser, "fast") == {"v": 2}
    clock.advance(1)
    assert finish(pending, browser, "slow") is None


def test_pending_sign_in_in_a_store_expires_after_its_lifetime(sealer: Sealer) -> None:
    store_clock = Clock()
    pending = PendingSignIns(sealer, store=MemorySessionStore(clock=store_clock), lifetime=600)
    browser = Browser()
    started(pending, browser, "slow", {"v": 1})
    store_clock.advance(600)
    assert finish(pending, browser, "slow") is None


@pytest.mark.parametrize("state", ["never-started", "", None, 42])
def test_unknown_state_finishes_nothing(pending: PendingSignIns, state: Any) -> None:
    browser = Browser()
    started(pending, browser, "the-state", {"v": 1})
    assert pending.finish(state, request_cookies=browser.cookies, request_url=HTTPS) == (None, [])


def test_cookie_of_one_state_cannot_finish_another(pending: PendingSignIns) -> None:
    victim, attacker = Browser(), Browser()
    started(pending, victim, "victims-state", {"v": "victim"})
    started(pending, attacker, "attackers-state", {"v": "attacker"})
    [victim_name] = pending_cookies(victim)
    [attacker_value] = pending_cookies(attacker).values()
    cookies = {**victim.cookies, victim_name: attacker_value}
    data, headers = pending.finish("victims-state", request_cookies=cookies, request_url=HTTPS)
    assert data is None
    assert deleted_names(headers) == {victim_name, browser_cookie(victim_name)}


def test_tampered_pending_cookie_finishes_nothing(pending: PendingSignIns) -> None:
    browser = Browser()
    started(pending, browser, "the-state", {"v": 1})
    [name] = pending_cookies(browser)
    raw = raw_bytes(browser.cookies[name])
    raw[-1] ^= 1
    browser.cookies[name] = encode(raw)
    assert finish(pending, browser, "the-state") is None
    assert pending_cookies(browser) == {}


def test_beyond_max_pending_the_oldest_sign_ins_are_deleted(sealer: Sealer, clock: Clock) -> None:
    pending = PendingSignIns(sealer, max_pending=3, clock=clock)
    browser = Browser()
    for number in range(5):
        started(pending, browser, f"state-{number}", {"n": number})
        clock.advance(1)
    assert len(pending_cookies(browser)) == 3
    assert [finish(pending, browser, f"state-{number}") for number in range(5)] == [
        None,
        None,
        {"n": 2},
        {"n": 3},
        {"n": 4},
    ]


def test_beyond_max_pending_the_oldest_store_entries_are_deleted(sealer: Sealer, clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    pending = PendingSignIns(sealer, max_pending=1, store=store, clock=clock)
    browser = Browser()
    started(pending, browser, "first", {"n": 1})
    first_cookies = dict(browser.cookies)
    clock.advance(1)
    started(pending, browser, "second", {"n": 2})
    assert pending.finish("first", request_cookies=first_cookies, request_url=HTTPS)[0] is None
    assert finish(pending, browser, "second") == {"n": 2}


def test_starting_deletes_unreadable_pending_cookies(pending: PendingSignIns) -> None:
    junk = {"cognito_signin_0123456789abcdef": "junk"}
    headers = pending.start("the-state", {"v": 1}, request_cookies=junk, request_url=HTTPS)
    assert deleted_names(headers) == {
        "cognito_signin_0123456789abcdef",
        browser_cookie("cognito_signin_0123456789abcdef"),
    }


def test_starting_the_same_state_again_replaces_its_cookie(sealer: Sealer) -> None:
    pending = PendingSignIns(sealer, max_pending=1)
    browser = Browser()
    started(pending, browser, "the-state", {"v": 1})
    started(pending, browser, "the-state", {"v": 2})
    assert finish(pending, browser, "the-state") == {"v": 2}


def test_pending_data_too_large_for_a_cookie_asks_for_a_store(pending: PendingSignIns) -> None:
    with pytest.raises(ValueError, match="use a SessionStore"):
        pending.start("the-state", {"blob": "x" * 4000}, request_cookies={}, request_url=HTTPS)


def test_session_value_does_not_open_as_a_pending_sign_in(sealer: Sealer, pending: PendingSignIns) -> None:
    header, browser_header = pending.start("the-state", {"v": 1}, request_cookies={}, request_url=HTTPS)
    name = parse_set_cookie(header)[0]
    browser_name, binding, _ = parse_set_cookie(browser_header)
    content = {"s": "the-state", "c": 0, "d": {"v": "forged"}, "b": hashlib.sha256(binding.encode()).hexdigest()}
    forged = sealer.seal(content, purpose="session", max_age=600)
    cookies = {name: forged, browser_name: binding}
    assert pending.finish("the-state", request_cookies=cookies, request_url=HTTPS)[0] is None
