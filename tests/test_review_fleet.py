"""Review findings on the hosted-UI fleet (issue 12) and the machine-to-machine token source (issue 14): each test
failed on the code before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Clock
from devserver_support import Dev, running
from signin_support import hosted_ui_client
from test_hosted_ui_fleet import SECRET, browser_request, check, sign_in

from cognito_guard.client import ClientCredentials, MemoryTokenCache, TokenCache
from cognito_guard.errors import KeysUnavailableError, TokenEndpointUnavailableError
from cognito_guard.hosted_ui import MemorySessionStore
from cognito_guard.hosted_ui._web import WebSignIn
from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver.config import default_config


@pytest.fixture
def rotating(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    """The stand-in rotating refresh tokens with no grace period: a refresh token works for one refresh only."""
    config = default_config(refresh_token_rotation=True, retry_grace_period_seconds=0)
    with running(clock, session_keys, config) as stand_in:
        yield stand_in


def test_a_rotated_refresh_token_is_kept_when_the_new_id_token_cannot_be_verified_yet(
    rotating: Dev, clock: Clock
) -> None:
    # A worker that just started refreshes an expired stored session while the JWKS cannot be fetched: Cognito has
    # already rotated the refresh token, so the new one must be stored, or the next refresh presents the old one again
    # and the user is signed out.
    web = WebSignIn.build(
        hosted_ui_client(rotating, clock), secret_key=SECRET, store=MemorySessionStore(clock=clock), clock=clock
    )
    cookies, _ = sign_in(rotating, web)
    clock.advance(3600)
    verify = web.client.verifier.verify_sync

    def keys_out_of_reach(token: str, *args: Any, **kwargs: Any) -> Any:
        raise KeysUnavailableError("the JWKS could not be fetched")

    web.client.verifier.verify_sync = keys_out_of_reach  # type: ignore[method-assign, assignment]
    during = web.check_sync(browser_request(cookies))
    web.client.verifier.verify_sync = verify  # type: ignore[method-assign]
    after = check(web, cookies)
    web.client.close()

    assert during.unavailable is not None  # 503 while the keys are out of reach, the session kept
    assert after == "alice"
    assert sum(rotating.pool.stats.refreshes_by_family.values()) == 1


# -- machine to machine: the shared cache's lock ----------------------------------------------------------------------

TOKEN_URL = "https://auth.example.com/oauth2/token"


def _credentials(cache: TokenCache, transport: httpx.MockTransport, clock: Clock) -> ClientCredentials:
    return ClientCredentials(
        token_url=TOKEN_URL,
        client_id="worker",
        client_secret="s3cret",
        cache=cache,
        http_client=httpx.Client(transport=transport),
        clock=clock,
    )


def test_a_failure_stored_just_before_the_lock_was_taken_is_shared_not_asked_again(clock: Clock) -> None:
    # Another process held the cache's lock, failed, stored its failure and released the lock between this source's
    # read of the cache and its taking of the lock: the backoff holds for this source too (no stampede after failures).
    shared = MemoryTokenCache()
    requests: list[httpx.Request] = []
    other = _credentials(shared, httpx.MockTransport(lambda request: httpx.Response(503)), clock)

    def counting(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json={"access_token": "a.b.c", "expires_in": 3600, "token_type": "Bearer"})

    class Interleaved(MemoryTokenCache):
        def acquire(self, name: str, owner: str, ttl: float) -> bool:
            with pytest.raises(TokenEndpointUnavailableError):
                other.token()  # the other process's whole failed attempt
            return shared.acquire(name, owner, ttl)

        def get(self, name: str) -> tuple[str | None, str | None]:
            return shared.get(name)

        def put(self, name: str, token: str, ttl: float) -> None:
            shared.put(name, token, ttl)

        def put_failure(self, name: str, failure: str, ttl: float) -> None:
            shared.put_failure(name, failure, ttl)

        def release(self, name: str, owner: str) -> None:
            shared.release(name, owner)

    source = _credentials(Interleaved(), httpx.MockTransport(counting), clock)

    with pytest.raises(TokenEndpointUnavailableError):
        source.token()
    assert requests == []
