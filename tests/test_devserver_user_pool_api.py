"""The stand-in's Cognito JSON API over HTTP (``POST /`` with ``X-Amz-Target``): each answer and each error in
Cognito's shape, HTTP 400 with ``{"__type": ..., "message": ...}``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import Clock
from devserver_support import SIGV4, Dev, call_api, running

from cognito_guard.testing import LocalIssuer, SigningKeyPair
from cognito_guard.testing.devserver import TokenResponse

ADMIN_SCOPE = "aws.cognito.signin.user.admin"
ALICE = {"UserPoolId": "us-east-1_LocalDev", "Username": "alice"}


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


def tokens(dev: Dev, **options: Any) -> TokenResponse:
    return dev.pool.sign_in("alice", base_url=dev.base_url, **options)


def error(response: httpx.Response) -> tuple[int, str, str | None]:
    body = response.json()
    return response.status_code, body["__type"], body.get("message")


# -- the protocol -------------------------------------------------------------------------------------------------
def test_an_answer_is_amz_json_with_a_request_id(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {"AccessToken": tokens(dev).access_token})

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-requestid"]


def test_an_error_is_amz_json_too(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {})

    assert response.headers["content-type"] == "application/x-amz-json-1.1"


def test_an_unknown_operation_is_unknown_operation_exception(dev: Dev) -> None:
    response = call_api(dev, "SignUp", {"ClientId": "local-client"})

    assert (response.status_code, response.json()) == (400, {"__type": "UnknownOperationException"})


def test_a_target_of_another_service_is_unknown_operation_exception(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {}, target="DynamoDB_20120810.GetUser")

    assert (response.status_code, response.json()) == (400, {"__type": "UnknownOperationException"})


def test_a_call_without_a_target_is_unknown_operation_exception(dev: Dev) -> None:
    response = dev.http.post("/", content=b"{}", headers={"Content-Type": "application/x-amz-json-1.1"})

    assert response.json() == {"__type": "UnknownOperationException"}


def test_a_body_of_another_content_type_is_unknown_operation_exception(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {"AccessToken": "x"}, content_type="application/x-www-form-urlencoded")

    assert response.json() == {"__type": "UnknownOperationException"}


def test_a_body_that_is_not_json_is_serialization_exception(dev: Dev) -> None:
    headers = {"X-Amz-Target": "AWSCognitoIdentityProviderService.GetUser"}
    headers["Content-Type"] = "application/x-amz-json-1.1"

    response = dev.http.post("/", content=b"{not json", headers=headers)

    assert error(response)[:2] == (400, "SerializationException")


def test_a_body_that_is_not_a_json_object_is_serialization_exception(dev: Dev) -> None:
    assert error(call_api(dev, "GetUser", ["AccessToken"]))[:2] == (400, "SerializationException")


def test_a_missing_parameter_is_invalid_parameter_exception_naming_it(dev: Dev) -> None:
    status, error_type, message = error(call_api(dev, "GetUser", {}))

    assert (status, error_type) == (400, "InvalidParameterException")
    assert "'accessToken'" in (message or "")


def test_a_parameter_that_is_not_a_string_is_invalid_parameter_exception(dev: Dev) -> None:
    assert error(call_api(dev, "GetUser", {"AccessToken": 42}))[:2] == (400, "InvalidParameterException")


# -- GetUser ------------------------------------------------------------------------------------------------------
def test_get_user_answers_the_username_and_the_attributes_as_strings(dev: Dev) -> None:
    body = call_api(dev, "GetUser", {"AccessToken": tokens(dev).access_token}).json()

    assert body["Username"] == "alice"
    attributes = {attribute["Name"]: attribute["Value"] for attribute in body["UserAttributes"]}
    assert attributes == {
        "sub": dev.pool.config.users["alice"].sub,
        "email": "alice@example.com",
        "email_verified": "true",
    }


def test_get_user_with_a_revoked_token_is_not_authorized_access_token_has_been_revoked(dev: Dev) -> None:
    signed_in = tokens(dev)
    dev.http.post("/oauth2/revoke", data={"token": signed_in.refresh_token, "client_id": "local-client"})

    response = call_api(dev, "GetUser", {"AccessToken": signed_in.access_token})

    assert error(response) == (400, "NotAuthorizedException", "Access Token has been revoked")


def test_get_user_with_an_expired_token_is_not_authorized_access_token_has_expired(dev: Dev) -> None:
    access = tokens(dev).access_token
    dev.clock.advance(3600)

    assert error(call_api(dev, "GetUser", {"AccessToken": access})) == (
        400,
        "NotAuthorizedException",
        "Access Token has expired",
    )


def test_get_user_with_a_garbage_token_is_not_authorized_invalid_access_token(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {"AccessToken": "a.b.c"})

    assert error(response) == (400, "NotAuthorizedException", "Invalid Access Token")


def test_get_user_with_an_id_token_is_not_authorized_invalid_access_token(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {"AccessToken": tokens(dev).id_token})

    assert error(response) == (400, "NotAuthorizedException", "Invalid Access Token")


def test_get_user_with_a_token_of_another_pool_is_not_authorized_invalid_access_token(
    dev: Dev, issuer: LocalIssuer
) -> None:
    # The pool of a token call is the token's issuer: a token of eu-west-1_TestPool1 is not one of this pool's.
    response = call_api(dev, "GetUser", {"AccessToken": issuer.access_token(username="alice")})

    assert error(response) == (400, "NotAuthorizedException", "Invalid Access Token")


def test_get_user_without_the_admin_scope_is_not_authorized(dev: Dev) -> None:
    response = call_api(dev, "GetUser", {"AccessToken": tokens(dev, scopes=("openid",)).access_token})

    assert error(response) == (400, "NotAuthorizedException", "Access Token does not have required scopes")


def test_get_user_with_a_client_credentials_token_is_not_authorized(dev: Dev) -> None:
    m2m = dev.pool.client_credentials("local-m2m", base_url=dev.base_url)

    assert error(call_api(dev, "GetUser", {"AccessToken": m2m}))[:2] == (400, "NotAuthorizedException")


# -- GlobalSignOut ------------------------------------------------------------------------------------------------
def test_global_sign_out_with_a_revoked_token_is_not_authorized(dev: Dev) -> None:
    access = tokens(dev).access_token
    call_api(dev, "GlobalSignOut", {"AccessToken": access})

    again = call_api(dev, "GlobalSignOut", {"AccessToken": access})

    assert error(again) == (400, "NotAuthorizedException", "Access Token has been revoked")


def test_global_sign_out_without_the_admin_scope_is_not_authorized_and_signs_nobody_out(dev: Dev) -> None:
    narrow = tokens(dev, scopes=("openid",))

    response = call_api(dev, "GlobalSignOut", {"AccessToken": narrow.access_token})

    assert error(response) == (400, "NotAuthorizedException", "Access Token does not have required scopes")
    assert call_api(dev, "GetUser", {"AccessToken": tokens(dev).access_token}).status_code == 200
    assert dev.http.get("/oauth2/userInfo", headers={"Authorization": f"Bearer {narrow.access_token}"}).is_success


# -- AdminUserGlobalSignOut ---------------------------------------------------------------------------------------
def test_admin_user_global_sign_out_of_an_unknown_pool_is_resource_not_found(dev: Dev) -> None:
    body = {"UserPoolId": "eu-west-1_Other", "Username": "alice"}

    response = call_api(dev, "AdminUserGlobalSignOut", body, authorization=SIGV4)

    assert error(response) == (400, "ResourceNotFoundException", "User pool eu-west-1_Other does not exist.")


def test_admin_user_global_sign_out_with_a_malformed_pool_id_is_invalid_parameter(dev: Dev) -> None:
    body = {"UserPoolId": "not a pool", "Username": "alice"}

    response = call_api(dev, "AdminUserGlobalSignOut", body, authorization=SIGV4)

    assert error(response)[:2] == (400, "InvalidParameterException")


def test_admin_user_global_sign_out_of_an_unknown_user_is_user_not_found(dev: Dev) -> None:
    body = {"UserPoolId": "us-east-1_LocalDev", "Username": "mallory"}

    response = call_api(dev, "AdminUserGlobalSignOut", body, authorization=SIGV4)

    assert error(response) == (400, "UserNotFoundException", "User does not exist.")


def test_admin_user_global_sign_out_without_an_authorization_header_is_refused(dev: Dev) -> None:
    access = tokens(dev).access_token

    response = call_api(dev, "AdminUserGlobalSignOut", ALICE)

    assert error(response) == (400, "MissingAuthenticationTokenException", "Missing Authentication Token")
    assert call_api(dev, "GetUser", {"AccessToken": access}).status_code == 200


def test_admin_user_global_sign_out_with_a_header_that_is_not_sigv4_is_refused(dev: Dev) -> None:
    response = call_api(dev, "AdminUserGlobalSignOut", ALICE, authorization="Bearer x")

    assert error(response)[:2] == (400, "IncompleteSignatureException")


# -- RevokeToken --------------------------------------------------------------------------------------------------
def test_revoke_token_given_an_access_token_is_unsupported_token_type(dev: Dev) -> None:
    body = {"Token": tokens(dev).access_token, "ClientId": "local-client"}

    assert error(call_api(dev, "RevokeToken", body))[:2] == (400, "UnsupportedTokenTypeException")


def test_revoke_token_with_a_wrong_client_secret_is_not_authorized(dev: Dev) -> None:
    body = {"Token": "some-refresh-token", "ClientId": "local-m2m", "ClientSecret": "wrong-secret"}

    assert error(call_api(dev, "RevokeToken", body))[:2] == (400, "NotAuthorizedException")


def test_revoke_token_without_the_secret_of_a_confidential_client_is_not_authorized(dev: Dev) -> None:
    body = {"Token": "some-refresh-token", "ClientId": "local-m2m"}

    assert error(call_api(dev, "RevokeToken", body))[:2] == (400, "NotAuthorizedException")


def test_revoke_token_with_a_secret_for_a_public_client_is_not_authorized(dev: Dev) -> None:
    body = {"Token": tokens(dev).refresh_token, "ClientId": "local-client", "ClientSecret": "anything"}

    assert error(call_api(dev, "RevokeToken", body))[:2] == (400, "NotAuthorizedException")


def test_revoke_token_with_an_unknown_client_is_resource_not_found(dev: Dev) -> None:
    response = call_api(dev, "RevokeToken", {"Token": "some-refresh-token", "ClientId": "nope"})

    assert error(response) == (400, "ResourceNotFoundException", "User pool client nope does not exist.")


def test_revoke_token_of_another_clients_token_is_invalid_parameter_and_revokes_nothing(dev: Dev) -> None:
    signed_in = tokens(dev)
    body = {"Token": signed_in.refresh_token, "ClientId": "local-m2m", "ClientSecret": "local-m2m-secret"}

    response = call_api(dev, "RevokeToken", body)

    assert error(response)[:2] == (400, "InvalidParameterException")
    assert call_api(dev, "GetUser", {"AccessToken": signed_in.access_token}).status_code == 200


def test_revoke_token_without_a_client_id_is_invalid_parameter(dev: Dev) -> None:
    response = call_api(dev, "RevokeToken", {"Token": tokens(dev).refresh_token})

    assert error(response)[:2] == (400, "InvalidParameterException")
