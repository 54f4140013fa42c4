"""Revocation and sign-out in the stand-in, as in Cognito: ``/oauth2/revoke`` and ``RevokeToken`` kill one sign-in's
family (its refresh token and every ID/access token sharing its ``origin_jti``, refreshes included);
``GlobalSignOut`` and ``AdminUserGlobalSignOut`` kill every family of the user. Revocation is seen online only:
``/oauth2/userInfo`` (401) and the token endpoint (``invalid_grant``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Clock
from devserver_support import (
    SIGV4,
    Dev,
    authorize_params,
    call_api,
    location_params,
    refresh_answer,
    running,
    sign_in,
    userinfo_answer,
)

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import LocalUserPool, PoolKeys, TokenResponse, parse_config
from cognito_guard.testing.devserver.access import AccessTokenRefused

REVOKED = (401, 'Bearer error="invalid_token"')
TWO_CLIENTS = {
    "clients": [
        {"client_id": "web", "callback_urls": ["http://localhost:8000/cb"], "allowed_scopes": ["openid"]},
        {"client_id": "mobile", "callback_urls": ["http://localhost:8000/cb"], "allowed_scopes": ["openid"]},
    ],
    "users": [{"username": "alice", "password": "pw"}, {"username": "bob", "password": "pw"}],
}


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


@pytest.fixture
def pool(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalUserPool:
    return LocalUserPool(parse_config(TWO_CLIENTS), keys=PoolKeys(*session_keys), clock=clock)


BASE_URL = "http://127.0.0.1:9229"


def tokens(dev: Dev, username: str = "alice") -> TokenResponse:
    return dev.pool.sign_in(username, base_url=dev.base_url)


def refreshed_access_token(dev: Dev, refresh_token: str) -> str:
    status, body = refresh_answer(dev, refresh_token)
    assert status == 200, body
    return str(body["access_token"])


def is_live(pool: LocalUserPool, access_token: str) -> bool:
    try:
        pool.access_tokens.live(access_token, pool.issuer(BASE_URL))
    except AccessTokenRefused:
        return False
    return True


# -- what a family is ---------------------------------------------------------------------------------------------
def test_access_and_id_tokens_carry_their_own_jti_and_their_sign_ins_origin_jti(dev: Dev) -> None:
    signed_in = tokens(dev)
    access = dev.verify(signed_in.access_token, token_use="access")
    id_claims = dev.verify(signed_in.id_token or "", token_use="id")
    refreshed = dev.verify(refreshed_access_token(dev, signed_in.refresh_token or ""), token_use="access")

    assert None not in (access.jti, id_claims.jti, refreshed.jti, access.origin_jti)
    assert len({access.jti, id_claims.jti, refreshed.jti}) == 3
    assert access.origin_jti == id_claims.origin_jti == refreshed.origin_jti
    assert access.origin_jti not in (access.jti, id_claims.jti)


# -- /oauth2/revoke and RevokeToken: one family -------------------------------------------------------------------
def test_oauth2_revoke_kills_the_refresh_token_and_the_familys_access_tokens_refreshes_included(dev: Dev) -> None:
    signed_in = tokens(dev)
    refreshed = refreshed_access_token(dev, signed_in.refresh_token or "")

    dev.http.post("/oauth2/revoke", data={"token": signed_in.refresh_token, "client_id": "local-client"})

    assert refresh_answer(dev, signed_in.refresh_token or "") == (400, {"error": "invalid_grant"})
    assert userinfo_answer(dev, signed_in.access_token) == REVOKED
    assert userinfo_answer(dev, refreshed) == REVOKED


def test_revoke_token_kills_the_refresh_token_and_the_familys_access_tokens(dev: Dev) -> None:
    signed_in = tokens(dev)
    refreshed = refreshed_access_token(dev, signed_in.refresh_token or "")

    answer = call_api(dev, "RevokeToken", {"Token": signed_in.refresh_token, "ClientId": "local-client"})

    assert (answer.status_code, answer.json()) == (200, {})
    assert refresh_answer(dev, signed_in.refresh_token or "") == (400, {"error": "invalid_grant"})
    assert userinfo_answer(dev, signed_in.access_token) == REVOKED
    assert userinfo_answer(dev, refreshed) == REVOKED


def test_revoke_token_leaves_the_users_other_sign_ins_alone(dev: Dev) -> None:
    first, second = tokens(dev), tokens(dev)

    call_api(dev, "RevokeToken", {"Token": first.refresh_token, "ClientId": "local-client"})

    assert userinfo_answer(dev, second.access_token)[0] == 200
    assert refresh_answer(dev, second.refresh_token or "")[0] == 200


def test_revoke_token_of_an_unknown_or_already_revoked_token_answers_success(dev: Dev) -> None:
    token = tokens(dev).refresh_token
    call_api(dev, "RevokeToken", {"Token": token, "ClientId": "local-client"})

    again = call_api(dev, "RevokeToken", {"Token": token, "ClientId": "local-client"})
    unknown = call_api(dev, "RevokeToken", {"Token": "never-issued", "ClientId": "local-client"})

    assert (again.status_code, unknown.status_code) == (200, 200)


def test_oauth2_revoke_of_an_unknown_token_shaped_like_cognitos_encrypted_refresh_tokens_answers_200(dev: Dev) -> None:
    # Cognito's refresh tokens are JWEs (five dot-separated parts): only a three-part JWS is an ID/access token.
    response = dev.http.post("/oauth2/revoke", data={"token": "a.b.c.d.e", "client_id": "local-client"})

    assert response.status_code == 200


# -- GlobalSignOut and AdminUserGlobalSignOut: every family of the user -------------------------------------------
def test_global_sign_out_revokes_every_sign_in_of_the_user(dev: Dev) -> None:
    first, second = tokens(dev), tokens(dev)

    answer = call_api(dev, "GlobalSignOut", {"AccessToken": first.access_token})

    assert (answer.status_code, answer.json()) == (200, {})
    for signed_in in (first, second):
        assert userinfo_answer(dev, signed_in.access_token) == REVOKED
        assert refresh_answer(dev, signed_in.refresh_token or "") == (400, {"error": "invalid_grant"})


def test_global_sign_out_leaves_other_users_alone(dev: Dev) -> None:
    alice, bob = tokens(dev, "alice"), tokens(dev, "bob")

    call_api(dev, "GlobalSignOut", {"AccessToken": alice.access_token})

    assert userinfo_answer(dev, bob.access_token)[0] == 200


def test_a_sign_in_after_a_global_sign_out_works(dev: Dev) -> None:
    call_api(dev, "GlobalSignOut", {"AccessToken": tokens(dev).access_token})

    after = tokens(dev)

    assert userinfo_answer(dev, after.access_token)[0] == 200
    assert refresh_answer(dev, after.refresh_token or "")[0] == 200


def test_admin_user_global_sign_out_revokes_every_sign_in_of_the_user(dev: Dev) -> None:
    first, second = tokens(dev), tokens(dev)

    body = {"UserPoolId": "us-east-1_LocalDev", "Username": "alice"}
    answer = call_api(dev, "AdminUserGlobalSignOut", body, authorization=SIGV4)

    assert (answer.status_code, answer.json()) == (200, {})
    assert userinfo_answer(dev, first.access_token) == REVOKED
    assert userinfo_answer(dev, second.access_token) == REVOKED
    assert refresh_answer(dev, second.refresh_token or "") == (400, {"error": "invalid_grant"})


def test_global_sign_out_leaves_the_hosted_ui_session_so_the_next_authorize_signs_in_again(dev: Dev) -> None:
    # As in Cognito: signing out of the tokens does not end the browser's session; /logout does.
    sign_in(dev)
    call_api(dev, "GlobalSignOut", {"AccessToken": tokens(dev).access_token})

    again = dev.http.get("/oauth2/authorize", params=authorize_params())

    assert "code" in location_params(again)


def test_global_sign_out_revokes_the_users_sign_ins_at_every_client(pool: LocalUserPool) -> None:
    web = pool.sign_in("alice", base_url=BASE_URL, client_id="web")
    mobile = pool.sign_in("alice", base_url=BASE_URL, client_id="mobile")

    revoked = pool.state.sign_out_user("alice")

    assert revoked == 2
    assert not is_live(pool, web.access_token)
    assert not is_live(pool, mobile.access_token)


def test_global_sign_out_revokes_tokens_of_expired_families_that_are_still_live(
    pool: LocalUserPool, clock: Clock
) -> None:
    signed_in = pool.sign_in("alice", base_url=BASE_URL, client_id="web")
    clock.advance(30 * 86400 - 60)  # refresh just before the refresh token expires (30 days by default)
    late = pool.token(
        {"grant_type": "refresh_token", "client_id": "web", "refresh_token": signed_in.refresh_token or ""},
        None,
        BASE_URL,
    )
    clock.advance(120)  # the family has expired; the access token minted a minute before has not
    assert is_live(pool, late.access_token)

    pool.state.sign_out_user("alice")

    assert not is_live(pool, late.access_token)
