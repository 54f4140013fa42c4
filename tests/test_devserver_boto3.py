"""Real boto3 against the stand-in (on 127.0.0.1, as ``endpoint_url``): ``RevokeToken``, ``GlobalSignOut``,
``AdminUserGlobalSignOut`` and ``GetUser`` work as against Cognito, and boto3 parses the stand-in's errors into its
own exception classes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock
from devserver_support import Dev, refresh_answer, running, userinfo_answer

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import TokenResponse
from cognito_guard.testing.devserver.serve import DevServer

boto3 = pytest.importorskip("boto3")
from botocore.config import Config  # noqa: E402 (boto3 is optional: skip before importing botocore)

REVOKED = (401, 'Bearer error="invalid_token"')
DOC = Path(__file__).resolve().parent.parent / "docs" / "devserver.md"


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


@pytest.fixture
def cognito(dev: Dev) -> Any:
    """A boto3 cognito-idp client whose endpoint is the stand-in; no retries, so an error surfaces at once."""
    return boto3.client(
        "cognito-idp",
        endpoint_url=dev.base_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",  # the stand-in has no IAM: any credentials do
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


def tokens(dev: Dev, username: str = "alice") -> TokenResponse:
    return dev.pool.sign_in(username, base_url=dev.base_url)


def test_get_user_answers_the_username_and_attributes(dev: Dev, cognito: Any) -> None:
    answer = cognito.get_user(AccessToken=tokens(dev).access_token)

    assert answer["Username"] == "alice"
    assert {"Name": "email", "Value": "alice@example.com"} in answer["UserAttributes"]


def test_global_sign_out_revokes_the_users_refresh_and_access_tokens(dev: Dev, cognito: Any) -> None:
    first, second = tokens(dev), tokens(dev)

    cognito.global_sign_out(AccessToken=first.access_token)

    for signed_in in (first, second):
        assert refresh_answer(dev, signed_in.refresh_token or "") == (400, {"error": "invalid_grant"})
        assert userinfo_answer(dev, signed_in.access_token) == REVOKED


def test_after_global_sign_out_get_user_raises_not_authorized_access_token_has_been_revoked(
    dev: Dev, cognito: Any
) -> None:
    access = tokens(dev).access_token
    cognito.global_sign_out(AccessToken=access)

    with pytest.raises(cognito.exceptions.NotAuthorizedException) as raised:
        cognito.get_user(AccessToken=access)

    assert raised.value.response["Error"] == {
        "Code": "NotAuthorizedException",
        "Message": "Access Token has been revoked",
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_sign_in_after_global_sign_out_works(dev: Dev, cognito: Any) -> None:
    cognito.global_sign_out(AccessToken=tokens(dev).access_token)

    assert cognito.get_user(AccessToken=tokens(dev).access_token)["Username"] == "alice"


def test_admin_user_global_sign_out_revokes_the_users_tokens(dev: Dev, cognito: Any) -> None:
    alice, bob = tokens(dev, "alice"), tokens(dev, "bob")

    cognito.admin_user_global_sign_out(UserPoolId="us-east-1_LocalDev", Username="alice")

    assert refresh_answer(dev, alice.refresh_token or "") == (400, {"error": "invalid_grant"})
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.get_user(AccessToken=alice.access_token)
    assert cognito.get_user(AccessToken=bob.access_token)["Username"] == "bob"


def test_admin_user_global_sign_out_of_another_pool_raises_resource_not_found(cognito: Any) -> None:
    with pytest.raises(cognito.exceptions.ResourceNotFoundException):
        cognito.admin_user_global_sign_out(UserPoolId="eu-west-1_Other", Username="alice")


def test_admin_user_global_sign_out_of_an_unknown_user_raises_user_not_found(cognito: Any) -> None:
    with pytest.raises(cognito.exceptions.UserNotFoundException):
        cognito.admin_user_global_sign_out(UserPoolId="us-east-1_LocalDev", Username="mallory")


def test_revoke_token_revokes_the_family_and_nothing_else(dev: Dev, cognito: Any) -> None:
    revoked, kept = tokens(dev), tokens(dev)

    cognito.revoke_token(Token=revoked.refresh_token, ClientId="local-client")

    assert refresh_answer(dev, revoked.refresh_token or "") == (400, {"error": "invalid_grant"})
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.get_user(AccessToken=revoked.access_token)
    assert cognito.get_user(AccessToken=kept.access_token)["Username"] == "alice"


def test_revoke_token_given_an_access_token_raises_unsupported_token_type(dev: Dev, cognito: Any) -> None:
    with pytest.raises(cognito.exceptions.UnsupportedTokenTypeException):
        cognito.revoke_token(Token=tokens(dev).access_token, ClientId="local-client")


def test_revoke_token_with_a_wrong_client_secret_raises_not_authorized(cognito: Any) -> None:
    with pytest.raises(cognito.exceptions.NotAuthorizedException):
        cognito.revoke_token(
            Token="some-refresh-token", ClientId="local-m2m", ClientSecret="wrong-secret-of-24-characters"
        )


def test_the_boto3_example_of_the_docs_runs_as_written(cognito_dev_server: DevServer) -> None:
    [source] = [block for block in re.findall(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL) if "boto3" in block]
    namespace: dict[str, Any] = {"__name__": "devserver_doc_snippet"}
    exec(compile(source, str(DOC), "exec"), namespace)  # noqa: S102 - our own docs

    namespace["test_global_sign_out_revokes_every_token"](cognito_dev_server)
