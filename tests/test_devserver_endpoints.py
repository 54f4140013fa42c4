"""The stand-in's endpoints over real HTTP: discovery and JWKS, authorize errors, the token endpoint's client
authentication and client-credentials grant, and revocation errors."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Clock
from devserver_support import CALLBACK, M2M_AUTH, Dev, authorize_params, loaded_form, location_params, running

from cognito_guard.errors import ConfigurationError
from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import create_app

NOT_ASCII_BASIC = b"Basic \xe9\xe9"  # Latin-1 on the wire: base64 of nothing


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


def test_jwks_publishes_the_access_and_id_keys(dev: Dev) -> None:
    response = dev.http.get("/us-east-1_LocalDev/.well-known/jwks.json")

    assert response.status_code == 200
    assert [key["kid"] for key in response.json()["keys"]] == [dev.pool.keys.access.kid, dev.pool.keys.id.kid]


def test_jwks_of_another_pool_is_404(dev: Dev) -> None:
    assert dev.http.get("/us-east-1_Other/.well-known/jwks.json").status_code == 404


def test_openid_configuration_names_the_issuer_and_endpoints_under_the_public_url(dev: Dev) -> None:
    document = dev.http.get("/us-east-1_LocalDev/.well-known/openid-configuration").json()

    assert document["issuer"] == dev.issuer
    assert document["jwks_uri"] == f"{dev.issuer}/.well-known/jwks.json"
    assert document["token_endpoint"] == f"{dev.base_url}/oauth2/token"
    assert "end_session_endpoint" not in document  # Cognito's has none


def test_openid_configuration_ignores_the_host_the_request_names(dev: Dev) -> None:
    path = "/us-east-1_LocalDev/.well-known/openid-configuration"

    document = dev.http.get(path, headers={"Host": "evil.example"}).json()

    assert (document["issuer"], document["jwks_uri"]) == (dev.issuer, f"{dev.issuer}/.well-known/jwks.json")


def test_tokens_name_the_public_url_in_their_issuer_whatever_host_the_request_names(dev: Dev) -> None:
    data = {"grant_type": "client_credentials"}
    response = dev.http.post("/oauth2/token", data=data, auth=M2M_AUTH, headers={"Host": "evil.example"})

    claims = dev.verify(response.json()["access_token"], token_use="access", client_id="local-m2m")  # checks iss

    assert claims["iss"] == dev.issuer


def test_userinfo_accepts_a_token_when_reached_under_another_host_name(dev: Dev) -> None:
    access = dev.pool.sign_in("alice", base_url=dev.base_url).access_token
    localhost = dev.base_url.replace("127.0.0.1", "localhost")

    response = dev.http.get(f"{localhost}/oauth2/userInfo", headers={"Authorization": f"Bearer {access}"})

    assert response.status_code == 200


def test_create_app_refuses_a_public_url_with_a_path() -> None:
    with pytest.raises(ConfigurationError, match="public URL"):
        create_app(public_url="http://127.0.0.1:9229/cognito")


def test_authorize_shows_a_sign_in_form(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params())

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert 'name="username"' in response.text
    assert 'type="password"' in response.text


def test_authorize_page_cannot_be_framed(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params())

    assert response.headers["x-frame-options"] == "DENY"


def test_authorize_escapes_echoed_values(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(state='"><script>alert(1)</script>'))

    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_authorize_with_an_unknown_client_shows_an_error_without_redirect(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(client_id="nope"))

    assert response.status_code == 400
    assert "location" not in response.headers


def test_authorize_with_an_unregistered_redirect_uri_shows_an_error_without_redirect(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(redirect_uri="https://evil.example/cb"))

    assert response.status_code == 400
    assert "location" not in response.headers


def test_authorize_redirect_uri_must_match_exactly(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(redirect_uri=CALLBACK + "/"))

    assert response.status_code == 400


def test_authorize_with_a_repeated_parameter_is_an_error_page(dev: Dev) -> None:
    query = "client_id=local-client&client_id=local-client&response_type=code&redirect_uri=" + CALLBACK

    assert dev.http.get(f"/oauth2/authorize?{query}").status_code == 400


def test_authorize_with_response_type_token_redirects_unsupported_response_type(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(response_type="token"))

    assert location_params(response) == {"error": "unsupported_response_type", "state": "state-123"}


def test_authorize_without_response_type_redirects_invalid_request(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(response_type=None))

    assert location_params(response)["error"] == "invalid_request"


def test_authorize_with_a_scope_the_client_may_not_have_redirects_invalid_scope(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(scope="openid orders/delete"))

    assert location_params(response)["error"] == "invalid_scope"
    assert response.headers["location"].startswith(CALLBACK + "?")


@pytest.mark.parametrize("scope", ["email", "profile", "email profile orders/read"])
def test_authorize_with_email_or_profile_but_no_openid_redirects_invalid_scope(dev: Dev, scope: str) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(scope=scope))

    assert location_params(response) == {"error": "invalid_scope", "state": "state-123"}


def test_authorize_with_only_custom_scopes_and_no_openid_shows_the_sign_in_form(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(scope="orders/read"))

    assert response.status_code == 200


def test_authorize_with_plain_pkce_redirects_invalid_request(dev: Dev) -> None:
    params = authorize_params(code_challenge="a" * 43, code_challenge_method="plain")

    assert location_params(dev.http.get("/oauth2/authorize", params=params))["error"] == "invalid_request"


def test_authorize_with_a_challenge_but_no_method_redirects_invalid_request(dev: Dev) -> None:
    params = authorize_params(code_challenge="a" * 43)

    assert location_params(dev.http.get("/oauth2/authorize", params=params))["error"] == "invalid_request"


def test_authorize_with_prompt_none_and_no_session_redirects_login_required(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(prompt="none"))

    assert location_params(response)["error"] == "login_required"


def test_authorize_for_a_client_without_callback_urls_shows_an_error_without_redirect(dev: Dev) -> None:
    response = dev.http.get("/oauth2/authorize", params=authorize_params(client_id="local-m2m"))

    assert response.status_code == 400
    assert "location" not in response.headers


def test_login_with_a_tampered_redirect_uri_is_refused_without_redirect(dev: Dev) -> None:
    loaded = loaded_form(dev)
    form = {**loaded, "redirect_uri": "https://evil.example/cb", "username": "alice", "password": "Passw0rd!"}

    response = dev.http.post("/login", data=form)

    assert response.status_code == 400
    assert "location" not in response.headers


def test_token_without_grant_type_is_invalid_request(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", data={"client_id": "local-client"})

    assert (response.status_code, response.json()) == (400, {"error": "invalid_request"})


def test_token_with_an_unknown_grant_type_is_unsupported_grant_type(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", data={"grant_type": "password", "client_id": "local-client"})

    assert response.json() == {"error": "unsupported_grant_type"}


def test_token_with_a_json_body_is_invalid_request(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", json={"grant_type": "client_credentials"})

    assert (response.status_code, response.json()) == (400, {"error": "invalid_request"})


def test_client_credentials_with_basic_auth_returns_an_access_token_only(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=M2M_AUTH)

    assert response.status_code == 200
    assert set(response.json()) == {"access_token", "token_type", "expires_in"}
    assert response.headers["cache-control"] == "no-store"


def test_client_credentials_token_has_the_client_as_subject_and_no_user(dev: Dev) -> None:
    body = dev.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=M2M_AUTH).json()

    claims = dev.verify(body["access_token"], token_use="access", client_id="local-m2m")

    assert claims.sub == "local-m2m"
    assert claims.is_machine
    assert "username" not in claims
    assert "cognito:groups" not in claims
    assert claims.scopes == {"orders/read", "orders/write"}  # no scope asked: every allowed scope


def test_client_credentials_with_secret_in_the_body_and_a_scope(dev: Dev) -> None:
    data = {"grant_type": "client_credentials", "client_id": M2M_AUTH[0], "client_secret": M2M_AUTH[1]}
    body = dev.http.post("/oauth2/token", data={**data, "scope": "orders/read"}).json()

    assert dev.verify(body["access_token"], token_use="access", client_id="local-m2m").scopes == {"orders/read"}


def test_client_credentials_with_a_wrong_secret_is_invalid_client(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("local-m2m", "nope"))

    assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})


def test_client_credentials_without_a_secret_is_invalid_client(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", data={"grant_type": "client_credentials", "client_id": "local-m2m"})

    assert response.json() == {"error": "invalid_client"}


def test_basic_credentials_that_are_not_ascii_are_invalid_client(dev: Dev) -> None:
    data = {"grant_type": "client_credentials"}

    response = dev.http.post("/oauth2/token", data=data, headers={b"Authorization": NOT_ASCII_BASIC})

    assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})


def test_unknown_client_is_invalid_client(dev: Dev) -> None:
    response = dev.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=("who", "x"))

    assert response.json() == {"error": "invalid_client"}


def test_public_client_sending_a_secret_is_invalid_client(dev: Dev) -> None:
    data = {"grant_type": "refresh_token", "refresh_token": "x", "client_id": "local-client", "client_secret": "x"}

    assert dev.http.post("/oauth2/token", data=data).json() == {"error": "invalid_client"}


def test_client_credentials_for_a_public_client_is_unauthorized_client(dev: Dev) -> None:
    data = {"grant_type": "client_credentials", "client_id": "local-client"}

    assert dev.http.post("/oauth2/token", data=data).json() == {"error": "unauthorized_client"}


def test_client_credentials_with_a_standard_scope_is_invalid_scope(dev: Dev) -> None:
    data = {"grant_type": "client_credentials", "scope": "openid"}

    assert dev.http.post("/oauth2/token", data=data, auth=M2M_AUTH).json() == {"error": "invalid_scope"}


def test_authorization_code_grant_for_a_client_credentials_client_is_unauthorized_client(dev: Dev) -> None:
    data = {"grant_type": "authorization_code", "code": "x", "redirect_uri": CALLBACK}

    assert dev.http.post("/oauth2/token", data=data, auth=M2M_AUTH).json() == {"error": "unauthorized_client"}


def test_authorization_code_grant_without_code_is_invalid_request(dev: Dev) -> None:
    data = {"grant_type": "authorization_code", "client_id": "local-client", "redirect_uri": CALLBACK}

    assert dev.http.post("/oauth2/token", data=data).json() == {"error": "invalid_request"}


def test_revoking_an_access_token_is_unsupported_token_type(dev: Dev) -> None:
    access = dev.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=M2M_AUTH).json()

    response = dev.http.post("/oauth2/revoke", data={"token": access["access_token"]}, auth=M2M_AUTH)

    assert (response.status_code, response.json()) == (400, {"error": "unsupported_token_type"})


def test_revoking_an_unknown_refresh_token_answers_200(dev: Dev) -> None:
    response = dev.http.post("/oauth2/revoke", data={"token": "unknown", "client_id": "local-client"})

    assert (response.status_code, response.content) == (200, b"")


def test_revoke_without_token_is_invalid_request(dev: Dev) -> None:
    response = dev.http.post("/oauth2/revoke", data={"client_id": "local-client"})

    assert (response.status_code, response.json()) == (400, {"error": "invalid_request"})


def test_revoke_with_a_wrong_secret_is_invalid_client(dev: Dev) -> None:
    response = dev.http.post("/oauth2/revoke", data={"token": "x"}, auth=("local-m2m", "nope"))

    assert response.json() == {"error": "invalid_client"}


def test_revoke_with_basic_credentials_that_are_not_ascii_is_invalid_client(dev: Dev) -> None:
    response = dev.http.post("/oauth2/revoke", data={"token": "x"}, headers={b"Authorization": NOT_ASCII_BASIC})

    assert (response.status_code, response.json()) == (400, {"error": "invalid_client"})
