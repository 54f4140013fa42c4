"""Review findings on the hosted-UI fleet (issue 12) and the machine-to-machine token source (issue 14): each test
failed on the code before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Clock
from devserver_support import Dev, running
from signin_support import hosted_ui_client
from test_hosted_ui_fleet import SECRET, browser_request, check, sign_in

from cognito_guard.errors import KeysUnavailableError
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
