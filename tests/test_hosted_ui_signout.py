"""Signing out while a refresh is under way, or just after one: the sign-out stands.

Framework-neutral (WebSignIn), against the local Cognito stand-in on 127.0.0.1. A refresh is held at a gate so that
the sign-out can happen while it waits for Cognito."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Clock
from devserver_support import Dev, running
from signin_support import APP, hosted_ui_client, hosted_ui_settings

from cognito_guard.claims import Claims
from cognito_guard.hosted_ui import CookieSettings, HostedUIClient, MemorySessionStore, TokenSet, WebRequest
from cognito_guard.hosted_ui._web import WebSignIn
from cognito_guard.testing import SigningKeyPair

SECRET = "test-secret-key-0123456789abcdef"


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


class GatedClient(HostedUIClient):
    """A HostedUIClient whose refreshes wait at a gate (Cognito being slow) and count the refreshes asked for."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.started = asyncio.Event()
        self.gate = asyncio.Event()
        self.refreshes = 0

    async def refresh(self, refresh_token: str) -> tuple[TokenSet, Claims | None]:
        self.refreshes += 1
        self.started.set()
        await self.gate.wait()
        return await super().refresh(refresh_token)


def gated_client(dev: Dev, clock: Clock) -> GatedClient:
    return GatedClient(**hosted_ui_settings(dev, clock))


def expired_session(web: WebSignIn, dev: Dev, clock: Clock) -> WebRequest:
    """A browser request carrying alice's session whose tokens are due for a refresh."""
    answer = dev.pool.sign_in("alice", base_url=dev.base_url, client_id="local-client")
    tokens = TokenSet(answer.access_token, answer.id_token, answer.refresh_token, clock() - 1)
    set_cookies = web.sessions.save({"tokens": tokens.to_dict()}, request_cookies={}, request_url=APP, renew=True)
    pairs = [header.split(";")[0] for header in set_cookies]
    return WebRequest.from_raw(url=f"{APP}/", path="/", query_string=b"", cookie_headers=["; ".join(pairs)])


def sets_a_session(set_cookies: list[str]) -> bool:
    return any(header.startswith("cognito_session=") and "Max-Age=0" not in header for header in set_cookies)


@pytest.mark.parametrize("store", [False, True], ids=["cookie sessions", "store sessions"])
async def test_a_refresh_under_way_at_sign_out_does_not_sign_the_user_back_in(
    dev: Dev, clock: Clock, store: bool
) -> None:
    # Without revocation (switched off here, or Cognito unreachable at sign-out) the refresh itself succeeds.
    client = gated_client(dev, clock)
    sessions = MemorySessionStore(clock=clock) if store else None
    web = WebSignIn.build(client, secret_key=SECRET, store=sessions, revoke_on_logout=False, clock=clock)
    request = expired_session(web, dev, clock)
    check = asyncio.create_task(web.check_async(request))
    await client.started.wait()

    await web.logout_async(request)
    client.gate.set()
    result = await check

    assert result.user is None
    assert not sets_a_session(result.set_cookies)
    if store:
        assert web.sessions.load(request.cookies) is None
    await client.aclose()


async def test_after_sign_out_a_copy_of_the_old_cookie_does_not_get_the_refreshed_tokens(
    dev: Dev, clock: Clock
) -> None:
    client = gated_client(dev, clock)
    client.gate.set()
    web = WebSignIn.build(client, secret_key=SECRET, clock=clock)
    old = expired_session(web, dev, clock)
    refreshed = await web.check_async(old)  # the user's request refreshes the session
    new_cookie = "; ".join(header.split(";")[0] for header in refreshed.set_cookies)
    new = WebRequest.from_raw(url=f"{APP}/", path="/", query_string=b"", cookie_headers=[new_cookie])
    await web.logout_async(new)
    clock.advance(5)  # well inside the 30 s in which a refresh's result is shared

    replayed = await web.check_async(old)  # someone copied the cookie from before the refresh

    assert refreshed.user is not None
    assert replayed.user is None
    assert not sets_a_session(replayed.set_cookies)
    await client.aclose()


async def test_a_refresh_shared_within_the_window_still_works_without_a_sign_out(dev: Dev, clock: Clock) -> None:
    client = gated_client(dev, clock)
    client.gate.set()
    web = WebSignIn.build(client, secret_key=SECRET, clock=clock)
    old = expired_session(web, dev, clock)
    await web.check_async(old)
    clock.advance(5)

    again = await web.check_async(old)  # a request that left before the new cookie arrived

    assert again.user is not None
    assert client.refreshes == 1
    await client.aclose()


def test_sync_after_sign_out_a_copy_of_the_old_cookie_does_not_get_the_refreshed_tokens(dev: Dev, clock: Clock) -> None:
    client = hosted_ui_client(dev, clock)
    web = WebSignIn.build(client, secret_key=SECRET, clock=clock)
    old = expired_session(web, dev, clock)
    refreshed = web.check_sync(old)
    new_cookie = "; ".join(header.split(";")[0] for header in refreshed.set_cookies)
    web.logout_sync(WebRequest.from_raw(url=f"{APP}/", path="/", query_string=b"", cookie_headers=[new_cookie]))
    clock.advance(5)

    replayed = web.check_sync(old)

    assert refreshed.user is not None
    assert replayed.user is None
    client.close()


def test_a_sign_out_between_a_refreshs_load_and_save_still_ends_the_stored_session(dev: Dev, clock: Clock) -> None:
    # Flask threads: the sign-out runs in another thread just as the refresh is about to save. Simulated here by
    # signing out from inside the save.
    client = hosted_ui_client(dev, clock)
    store = MemorySessionStore(clock=clock)
    web = WebSignIn.build(client, secret_key=SECRET, store=store, revoke_on_logout=False, clock=clock)
    request = expired_session(web, dev, clock)
    save = web.sessions.replace_stored  # with a store, the refreshed tokens are written with a compare-and-set

    def save_after_a_sign_out(*args: Any, **kwargs: Any) -> int | None:
        web.logout_sync(request)
        return save(*args, **kwargs)

    web.sessions.replace_stored = save_after_a_sign_out  # type: ignore[method-assign]

    result = web.check_sync(request)

    assert result.user is None
    assert web.sessions.load(request.cookies) is None
    client.close()


@pytest.mark.parametrize(
    ("redirect_uri", "cookie", "name"),
    [
        ("https://app.example.com/auth/callback", None, "__Host-cognito_session"),
        (f"{APP}/auth/callback", None, "cognito_session"),
        ("https://app.example.com/auth/callback", CookieSettings(name="app_session"), "app_session"),
        ("https://app.example.com/auth/callback", CookieSettings(domain="example.com"), "cognito_session"),
        ("https://app.example.com/auth/callback", CookieSettings(secure=False), "cognito_session"),
    ],
    ids=["https", "http localhost", "own name", "with a domain", "secure=False"],
)
def test_the_default_session_cookie_is_host_prefixed_when_it_can_be(
    dev: Dev, clock: Clock, redirect_uri: str, cookie: CookieSettings | None, name: str
) -> None:
    client = hosted_ui_client(dev, clock, redirect_uri=redirect_uri)
    web = WebSignIn.build(client, secret_key=SECRET, cookie=cookie, clock=clock)

    assert web.sessions.cookie_names[0] == name
    client.close()
