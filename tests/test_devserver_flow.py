"""The stand-in's hosted-UI flow over real HTTP: authorize -> sign-in form -> code -> tokens (PKCE), session,
refresh, revocation, userInfo and logout."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from conftest import Clock
from devserver_support import (
    CALLBACK,
    SIGN_OUT,
    Dev,
    authorize_params,
    code_for,
    exchange,
    form_fields,
    location_params,
    pkce,
    running,
    sign_in,
    signed_in_tokens,
)

from cognito_guard import _token
from cognito_guard.testing import SigningKeyPair


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


def refresh(dev: Dev, refresh_token: str) -> tuple[int, dict[str, object]]:
    response = dev.http.post(
        "/oauth2/token",
        data={"grant_type": "refresh_token", "client_id": "local-client", "refresh_token": refresh_token},
    )
    return response.status_code, response.json()


def userinfo(dev: Dev, access_token: str) -> tuple[int, str]:
    response = dev.http.get("/oauth2/userInfo", headers={"Authorization": f"Bearer {access_token}"})
    return response.status_code, response.headers.get("www-authenticate", "")


def test_authorization_code_flow_with_pkce_returns_verifiable_tokens(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)

    assert set(tokens) == {"access_token", "id_token", "refresh_token", "token_type", "expires_in"}
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3600
    assert dev.verify(tokens["access_token"], token_use="access").username == "alice"
    assert dev.verify(tokens["id_token"], token_use="id").username == "alice"


def test_sign_in_redirects_to_the_callback_with_code_and_state(dev: Dev) -> None:
    response = sign_in(dev)

    assert response.headers["location"].startswith(CALLBACK + "?")
    assert location_params(response)["state"] == "state-123"


def test_id_token_echoes_nonce_and_carries_at_hash_of_the_access_token(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    claims = dev.verify(tokens["id_token"], token_use="id")

    digest = hashlib.sha256(tokens["access_token"].encode()).digest()
    assert claims["nonce"] == "nonce-456"
    assert claims["at_hash"] == _token.b64url_encode(digest[:16])


def test_id_token_carries_user_attributes_groups_and_preferred_role(dev: Dev) -> None:
    claims = dev.verify(signed_in_tokens(dev)["id_token"], token_use="id")

    assert claims["aud"] == "local-client"
    assert claims["cognito:username"] == "alice"
    assert claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert claims.groups == ("admin", "users")
    assert claims.roles == ("arn:aws:iam::123456789012:role/Admin", "arn:aws:iam::123456789012:role/User")
    assert claims.preferred_role == "arn:aws:iam::123456789012:role/Admin"
    assert claims["auth_time"] == int(dev.clock())


def test_access_token_carries_client_username_scope_and_version_2(dev: Dev) -> None:
    claims = dev.verify(signed_in_tokens(dev)["access_token"], token_use="access")

    assert claims.client_id == "local-client"
    assert claims["username"] == "alice"
    assert claims.scopes == {"openid", "email", "orders/read"}
    assert claims["version"] == 2
    assert claims.groups == ("admin", "users")
    assert "aud" not in claims


def test_tokens_of_one_sign_in_share_sub_and_origin_jti_but_not_jti_or_key(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    access = dev.verify(tokens["access_token"], token_use="access")
    id_claims = dev.verify(tokens["id_token"], token_use="id")

    assert access.sub == id_claims.sub
    assert access.origin_jti == id_claims.origin_jti
    assert access.jti != id_claims.jti
    assert tokens["access_token"].split(".")[0] != tokens["id_token"].split(".")[0]  # different kid


def test_sub_is_stable_across_sign_ins(dev: Dev) -> None:
    first = dev.verify(signed_in_tokens(dev)["access_token"], token_use="access")
    second = dev.verify(signed_in_tokens(dev)["access_token"], token_use="access")

    assert first.sub == second.sub
    assert first.origin_jti != second.origin_jti


def test_token_lifetime_follows_the_clients_setting(dev: Dev) -> None:
    claims = dev.verify(signed_in_tokens(dev)["access_token"], token_use="access")

    assert claims["exp"] - claims["iat"] == 3600


def test_without_openid_scope_no_id_token_is_issued(dev: Dev) -> None:
    tokens = signed_in_tokens(dev, scope="orders/read")

    assert "id_token" not in tokens
    assert "access_token" in tokens


def test_wrong_password_shows_the_form_again_with_one_generic_error(dev: Dev) -> None:
    response = sign_in(dev, password="wrong")

    assert response.status_code == 200
    assert response.text.count("Incorrect username or password.") == 1
    assert form_fields(response.text)["client_id"] == "local-client"


def test_unknown_user_gets_the_same_generic_error_as_a_wrong_password(dev: Dev) -> None:
    unknown = sign_in(dev, username="mallory")
    wrong = sign_in(dev, password="wrong")

    assert unknown.status_code == wrong.status_code == 200
    # Identical but for the refilled username field: nothing tells whether "mallory" exists.
    assert unknown.text.replace('value="mallory"', 'value="alice"') == wrong.text


def test_a_failed_sign_in_refills_the_username_but_never_the_password(dev: Dev) -> None:
    response = sign_in(dev, username="al<ice", password="wrong-secret")

    assert 'name="username" value="al&lt;ice"' in response.text
    assert "wrong-secret" not in response.text


def test_sign_in_sets_an_http_only_session_cookie(dev: Dev) -> None:
    cookie = sign_in(dev).headers["set-cookie"].lower()

    assert "cognito_dev_session=" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie


def test_second_authorize_with_a_session_skips_the_form(dev: Dev) -> None:
    sign_in(dev)

    response = dev.http.get("/oauth2/authorize", params=authorize_params(state="again"))

    assert location_params(response)["state"] == "again"
    assert "code" in location_params(response)


def test_prompt_login_shows_the_form_despite_a_session(dev: Dev) -> None:
    sign_in(dev)

    response = dev.http.get("/oauth2/authorize", params=authorize_params(prompt="login"))

    assert response.status_code == 200
    assert 'name="password"' in response.text


def test_session_expires_after_one_hour(dev: Dev) -> None:
    sign_in(dev)
    dev.clock.advance(3600)

    response = dev.http.get("/oauth2/authorize", params=authorize_params())

    assert response.status_code == 200
    assert 'name="password"' in response.text


def test_code_works_only_once(dev: Dev) -> None:
    verifier, challenge = pkce()
    code = code_for(dev, challenge)
    assert exchange(dev, code, verifier).status_code == 200

    again = exchange(dev, code, verifier)

    assert again.status_code == 400
    assert again.json() == {"error": "invalid_grant"}


def test_code_expires_after_five_minutes(dev: Dev) -> None:
    verifier, challenge = pkce()
    code = code_for(dev, challenge)
    dev.clock.advance(300)

    assert exchange(dev, code, verifier).json() == {"error": "invalid_grant"}


def test_code_is_accepted_just_before_five_minutes(dev: Dev) -> None:
    verifier, challenge = pkce()
    code = code_for(dev, challenge)
    dev.clock.advance(299)

    assert exchange(dev, code, verifier).status_code == 200


def test_wrong_code_verifier_is_invalid_grant(dev: Dev) -> None:
    _, challenge = pkce()
    other_verifier, _ = pkce()

    response = exchange(dev, code_for(dev, challenge), other_verifier)

    assert (response.status_code, response.json()) == (400, {"error": "invalid_grant"})


def test_missing_code_verifier_is_invalid_grant_when_a_challenge_was_sent(dev: Dev) -> None:
    _, challenge = pkce()

    assert exchange(dev, code_for(dev, challenge)).json() == {"error": "invalid_grant"}


def test_code_without_pkce_is_exchanged_without_verifier(dev: Dev) -> None:
    assert exchange(dev, code_for(dev)).status_code == 200


def test_code_with_a_different_redirect_uri_is_invalid_grant(dev: Dev) -> None:
    verifier, challenge = pkce()

    response = exchange(dev, code_for(dev, challenge), verifier, redirect_uri="http://127.0.0.1:8000/auth/callback")

    assert response.json() == {"error": "invalid_grant"}


def test_failed_exchange_consumes_the_code(dev: Dev) -> None:
    verifier, challenge = pkce()
    code = code_for(dev, challenge)
    exchange(dev, code, "x" * 43)

    assert exchange(dev, code, verifier).json() == {"error": "invalid_grant"}


def test_refresh_returns_new_tokens_of_the_same_family_and_no_refresh_token(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    dev.clock.advance(60)

    status, body = refresh(dev, tokens["refresh_token"])

    assert status == 200
    assert "refresh_token" not in body
    old = dev.verify(tokens["access_token"], token_use="access")
    new = dev.verify(str(body["access_token"]), token_use="access")
    new_id = dev.verify(str(body["id_token"]), token_use="id")
    assert new.origin_jti == old.origin_jti == new_id.origin_jti
    assert new.jti != old.jti
    assert new["iat"] == old["iat"] + 60
    assert new["auth_time"] == old["auth_time"]


def test_refresh_with_an_unknown_token_is_invalid_grant(dev: Dev) -> None:
    assert refresh(dev, "not-a-refresh-token") == (400, {"error": "invalid_grant"})


def test_revoked_refresh_token_no_longer_refreshes(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)

    revoked = dev.http.post("/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": "local-client"})

    assert (revoked.status_code, revoked.content) == (200, b"")
    assert refresh(dev, tokens["refresh_token"]) == (400, {"error": "invalid_grant"})


def test_revocation_makes_userinfo_reject_the_familys_access_tokens(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    _, refreshed = refresh(dev, tokens["refresh_token"])
    dev.http.post("/oauth2/revoke", data={"token": tokens["refresh_token"], "client_id": "local-client"})

    assert userinfo(dev, tokens["access_token"]) == (401, 'Bearer error="invalid_token"')
    assert userinfo(dev, str(refreshed["access_token"]))[0] == 401


def test_revocation_leaves_other_sign_ins_alone(dev: Dev) -> None:
    first, second = signed_in_tokens(dev), signed_in_tokens(dev)

    dev.http.post("/oauth2/revoke", data={"token": first["refresh_token"], "client_id": "local-client"})

    assert userinfo(dev, second["access_token"])[0] == 200


def test_revoking_twice_answers_200(dev: Dev) -> None:
    token = signed_in_tokens(dev)["refresh_token"]
    dev.http.post("/oauth2/revoke", data={"token": token, "client_id": "local-client"})

    again = dev.http.post("/oauth2/revoke", data={"token": token, "client_id": "local-client"})

    assert again.status_code == 200


def test_userinfo_returns_the_users_attributes_as_strings(dev: Dev) -> None:
    access = signed_in_tokens(dev)["access_token"]

    response = dev.http.get("/oauth2/userInfo", headers={"Authorization": f"Bearer {access}"})

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice"
    assert body["email"] == "alice@example.com"
    assert body["email_verified"] == "true"
    assert body["sub"] == dev.verify(access, token_use="access").sub


def test_userinfo_rejects_an_expired_access_token(dev: Dev) -> None:
    access = signed_in_tokens(dev)["access_token"]
    dev.clock.advance(3600)

    assert userinfo(dev, access) == (401, 'Bearer error="invalid_token"')


def test_userinfo_rejects_a_garbage_token(dev: Dev) -> None:
    assert userinfo(dev, "a.b.c") == (401, 'Bearer error="invalid_token"')


def test_userinfo_without_a_bearer_token_is_401(dev: Dev) -> None:
    response = dev.http.get("/oauth2/userInfo")

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_userinfo_refuses_an_access_token_without_openid_scope(dev: Dev) -> None:
    access = signed_in_tokens(dev, scope="orders/read")["access_token"]

    assert userinfo(dev, access) == (403, 'Bearer error="insufficient_scope"')


def test_logout_redirects_to_the_sign_out_url_and_ends_the_session(dev: Dev) -> None:
    sign_in(dev)

    response = dev.http.get("/logout", params={"client_id": "local-client", "logout_uri": SIGN_OUT})

    assert (response.status_code, response.headers["location"]) == (302, SIGN_OUT)
    after = dev.http.get("/oauth2/authorize", params=authorize_params())
    assert 'name="password"' in after.text


def test_logout_ends_the_session_on_the_server_even_if_the_cookie_is_replayed(dev: Dev) -> None:
    sign_in(dev)
    session = dev.http.cookies["cognito_dev_session"]
    dev.http.get("/logout", params={"client_id": "local-client", "logout_uri": SIGN_OUT})

    dev.http.cookies.set("cognito_dev_session", session)
    after = dev.http.get("/oauth2/authorize", params=authorize_params())

    assert after.status_code == 200
    assert 'name="password"' in after.text


def test_logout_with_an_unregistered_uri_is_an_error_page_without_redirect(dev: Dev) -> None:
    response = dev.http.get("/logout", params={"client_id": "local-client", "logout_uri": "https://evil.example/"})

    assert response.status_code == 400
    assert "location" not in response.headers


def test_logout_uri_must_match_exactly(dev: Dev) -> None:
    response = dev.http.get("/logout", params={"client_id": "local-client", "logout_uri": SIGN_OUT + "extra"})

    assert response.status_code == 400


def test_logout_with_an_unknown_client_is_an_error_page(dev: Dev) -> None:
    response = dev.http.get("/logout", params={"client_id": "nope", "logout_uri": SIGN_OUT})

    assert (response.status_code, response.headers.get("location")) == (400, None)


def test_logout_with_a_callback_url_ends_the_session_and_shows_the_sign_in_form_again(dev: Dev) -> None:
    sign_in(dev)
    params = {"client_id": "local-client", "redirect_uri": CALLBACK, "response_type": "code", "state": "again"}

    response = dev.http.get("/logout", params=params)

    assert response.status_code == 302
    again = dev.http.get(response.headers["location"])
    assert 'name="password"' in again.text
    assert form_fields(again.text)["state"] == "again"


def test_logout_with_a_redirect_uri_that_is_not_a_callback_url_is_an_error_page(dev: Dev) -> None:
    params = {"client_id": "local-client", "redirect_uri": SIGN_OUT, "response_type": "code"}

    response = dev.http.get("/logout", params=params)

    assert (response.status_code, response.headers.get("location")) == (400, None)


def test_logout_with_a_redirect_uri_needs_response_type_code(dev: Dev) -> None:
    response = dev.http.get("/logout", params={"client_id": "local-client", "redirect_uri": CALLBACK})

    assert (response.status_code, response.headers.get("location")) == (400, None)
