"""Refresh-token rotation in the stand-in, as Cognito's app-client setting ``RefreshTokenRotation``: each refresh
returns a new refresh token of the same family (same ``origin_jti``); the presented one keeps working for the
client's ``RetryGracePeriodSeconds`` after its first refresh, then gets ``invalid_grant``; revoking any refresh token
of the family revokes all of them. Without rotation nothing changes."""

from __future__ import annotations

import re
import shlex
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock
from devserver_support import (
    SIGV4,
    Dev,
    call_api,
    refresh_answer,
    running,
    unverified_claims,
    userinfo_answer,
)

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import (
    LocalUserPool,
    OAuthError,
    PoolKeys,
    default_config,
    parse_config,
)

GRACE = 30
INVALID_GRANT = (400, {"error": "invalid_grant"})
BASE_URL = "http://127.0.0.1:9229"


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    """The built-in pool with rotation on for local-client and a 30-second grace period."""
    config = default_config(refresh_token_rotation=True, retry_grace_period_seconds=GRACE)
    with running(clock, session_keys, config) as server:
        yield server


def signed_in(dev: Dev) -> str:
    """alice's refresh token, as after a hosted-UI sign-in."""
    return dev.pool.sign_in("alice", base_url=dev.base_url).refresh_token or ""


def rotated(dev: Dev, refresh_token: str) -> dict[str, Any]:
    status, body = refresh_answer(dev, refresh_token)
    assert status == 200, body
    return body


def revoke(dev: Dev, refresh_token: str) -> None:
    response = dev.http.post("/oauth2/revoke", data={"token": refresh_token, "client_id": "local-client"})
    assert response.status_code == 200, response.text


def test_refresh_with_rotation_returns_a_new_refresh_token(dev: Dev) -> None:
    old = signed_in(dev)

    body = rotated(dev, old)

    assert set(body) == {"access_token", "id_token", "refresh_token", "token_type", "expires_in"}
    assert body["refresh_token"] != old


def test_the_new_refresh_token_belongs_to_the_same_family(dev: Dev) -> None:
    signed = dev.pool.sign_in("alice", base_url=dev.base_url)
    first = rotated(dev, signed.refresh_token or "")

    second = rotated(dev, first["refresh_token"])

    origin = unverified_claims(signed.access_token)["origin_jti"]
    assert unverified_claims(first["access_token"])["origin_jti"] == origin
    assert unverified_claims(second["id_token"])["origin_jti"] == origin


def test_the_new_refresh_token_refreshes_again(dev: Dev) -> None:
    new = rotated(dev, signed_in(dev))["refresh_token"]

    assert "refresh_token" in rotated(dev, new)


def test_the_old_refresh_token_still_refreshes_within_the_grace_period(dev: Dev) -> None:
    old = signed_in(dev)
    rotated(dev, old)
    dev.clock.advance(GRACE - 1)

    status, body = refresh_answer(dev, old)

    assert status == 200
    assert dev.verify(str(body["access_token"]), token_use="access").username == "alice"


def test_a_retry_within_the_grace_period_gets_another_new_refresh_token(dev: Dev) -> None:
    old = signed_in(dev)
    first = rotated(dev, old)["refresh_token"]

    retry = rotated(dev, old)["refresh_token"]

    assert retry not in (old, first)
    assert "refresh_token" in rotated(dev, retry)
    assert "refresh_token" in rotated(dev, first)


def test_the_old_refresh_token_is_invalid_grant_once_the_grace_period_ends(dev: Dev) -> None:
    old = signed_in(dev)
    rotated(dev, old)
    dev.clock.advance(GRACE)

    assert refresh_answer(dev, old) == INVALID_GRANT


def test_the_grace_period_counts_from_the_first_refresh_not_from_retries(dev: Dev) -> None:
    old = signed_in(dev)
    rotated(dev, old)
    dev.clock.advance(GRACE - 10)
    rotated(dev, old)  # a retry does not extend the grace period
    dev.clock.advance(10)

    assert refresh_answer(dev, old) == INVALID_GRANT


def test_the_new_refresh_token_outlives_the_old_ones_grace_period(dev: Dev) -> None:
    old = signed_in(dev)
    new = rotated(dev, old)["refresh_token"]
    dev.clock.advance(GRACE + 1)

    assert "refresh_token" in rotated(dev, new)


def test_without_a_grace_period_the_old_refresh_token_fails_at_once(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    with running(clock, session_keys, default_config(refresh_token_rotation=True)) as dev:
        old = signed_in(dev)
        rotated(dev, old)

        assert refresh_answer(dev, old) == INVALID_GRANT


def test_rotated_refresh_tokens_expire_with_the_sign_in(dev: Dev) -> None:
    old = signed_in(dev)
    dev.clock.advance(30 * 86400 - 60)  # just before the sign-in's refresh token expires (30 days by default)
    new = rotated(dev, old)["refresh_token"]
    dev.clock.advance(60)

    assert refresh_answer(dev, new) == INVALID_GRANT


def test_revoking_the_new_refresh_token_revokes_the_old_one(dev: Dev) -> None:
    old = signed_in(dev)
    new = rotated(dev, old)["refresh_token"]

    revoke(dev, new)

    assert refresh_answer(dev, old) == INVALID_GRANT


def test_revoking_the_old_refresh_token_after_its_grace_period_revokes_the_new_one(dev: Dev) -> None:
    old = signed_in(dev)
    new = rotated(dev, old)["refresh_token"]
    dev.clock.advance(GRACE)

    revoke(dev, old)

    assert refresh_answer(dev, new) == INVALID_GRANT


def test_revoking_a_rotated_refresh_token_revokes_every_access_token_of_the_family(dev: Dev) -> None:
    signed = dev.pool.sign_in("alice", base_url=dev.base_url)
    body = rotated(dev, signed.refresh_token or "")

    revoke(dev, body["refresh_token"])

    assert userinfo_answer(dev, signed.access_token)[0] == 401
    assert userinfo_answer(dev, body["access_token"])[0] == 401


def test_revoke_token_of_the_new_refresh_token_revokes_the_old_one(dev: Dev) -> None:
    old = signed_in(dev)
    new = rotated(dev, old)["refresh_token"]

    answer = call_api(dev, "RevokeToken", {"Token": new, "ClientId": "local-client"})

    assert answer.status_code == 200, answer.text
    assert refresh_answer(dev, old) == INVALID_GRANT


def test_global_sign_out_revokes_every_refresh_token_of_a_rotated_family(dev: Dev) -> None:
    old = signed_in(dev)
    new = rotated(dev, old)["refresh_token"]

    answer = call_api(
        dev, "AdminUserGlobalSignOut", {"UserPoolId": "us-east-1_LocalDev", "Username": "alice"}, authorization=SIGV4
    )

    assert answer.status_code == 200, answer.text
    assert (refresh_answer(dev, old), refresh_answer(dev, new)) == (INVALID_GRANT, INVALID_GRANT)


def test_without_rotation_the_refresh_token_keeps_working_and_none_is_returned(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    with running(clock, session_keys) as dev:
        token = signed_in(dev)
        answers = []
        for _ in range(3):
            answers.append(rotated(dev, token))
            clock.advance(3600)

        assert all("refresh_token" not in answer for answer in answers)


def test_another_clients_refresh_attempt_does_not_retire_the_token(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    client = {"callback_urls": ["http://localhost:8000/cb"], "refresh_token_rotation": True}
    config = parse_config(
        {
            "clients": [{"client_id": "web", **client}, {"client_id": "mobile", **client}],
            "users": [{"username": "alice", "password": "pw"}],
        }
    )
    pool = LocalUserPool(config, keys=PoolKeys(*session_keys), clock=clock)
    token = pool.sign_in("alice", base_url=BASE_URL, client_id="web").refresh_token or ""

    def refresh(client_id: str) -> str | None:
        form = {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": token}
        return pool.token(form, None, BASE_URL).refresh_token

    with pytest.raises(OAuthError, match="invalid_grant"):
        refresh("mobile")
    assert refresh("web") is not None


def test_of_concurrent_refreshes_with_one_token_and_no_grace_period_exactly_one_succeeds(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    pool = LocalUserPool(default_config(refresh_token_rotation=True), keys=PoolKeys(*session_keys), clock=clock)
    token = pool.sign_in("alice", base_url=BASE_URL).refresh_token or ""
    form = {"grant_type": "refresh_token", "client_id": "local-client", "refresh_token": token}
    start = threading.Barrier(20)
    outcomes: list[str] = []

    def refresh() -> None:
        start.wait()
        try:
            pool.token(form, None, BASE_URL)
            outcomes.append("ok")
        except OAuthError as error:
            outcomes.append(error.error)

    threads = [threading.Thread(target=refresh) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["invalid_grant"] * 19 + ["ok"]


def test_the_command_in_the_docs_turns_rotation_on_for_the_built_in_pool() -> None:
    from cognito_guard import cli

    text = (Path(__file__).resolve().parent.parent / "docs" / "devserver.md").read_text(encoding="utf-8")
    [command] = re.findall(r"```sh\n(cognito-guard dev --refresh-token-rotation[^\n]*)\n", text)
    args = cli._parser().parse_args(shlex.split(command)[1:])

    client = cli._dev_pool(args, create_keys=False).config.clients["local-client"]

    assert (client.refresh_token_rotation, client.retry_grace_period_seconds) == (True, 10)
