"""The ALB test kit (issue 13): ``LocalAlb`` mints what an ALB sends, serves its keys as the ALB key server does, and
the pytest plugin's ``cognito_alb`` fixture puts one in front of ``cognito_issuer``."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from cognito_guard import AlbVerifier, errors
from cognito_guard.testing import DEFAULT_ALB_ARN, LocalAlb, LocalIssuer


def decoded(segment: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(segment))
    return data


def test_fixture_puts_an_alb_in_front_of_the_fixtures_user_pool(
    cognito_alb: LocalAlb, cognito_issuer: LocalIssuer
) -> None:
    assert cognito_alb.pool is cognito_issuer
    assert cognito_alb.issuer == cognito_issuer.issuer
    assert cognito_alb.client_id == cognito_issuer.client_id
    assert cognito_alb.alb_arn == DEFAULT_ALB_ARN


def test_fixtures_verifier_checks_the_fixtures_tokens_offline(cognito_alb: LocalAlb) -> None:
    headers = cognito_alb.headers(username="alice")

    claims = cognito_alb.verifier(access_token=True).verify_sync(
        headers["x-amzn-oidc-data"], access_token=headers["x-amzn-oidc-accesstoken"]
    )

    assert claims.username == "alice"
    assert claims.sub == headers["x-amzn-oidc-identity"]


def test_data_token_is_shaped_like_the_albs(cognito_alb: LocalAlb) -> None:
    token = cognito_alb.data_token(username="alice", expires_in=120)
    header_segment, payload_segment, signature_segment = token.split(".")

    header, payload = decoded(header_segment), decoded(payload_segment)

    assert all(len(segment) % 4 == 0 for segment in (header_segment, payload_segment, signature_segment))
    assert list(header) == ["typ", "kid", "alg", "iss", "client", "signer", "exp"]
    assert header["alg"] == "ES256"
    assert header["signer"] == cognito_alb.alb_arn
    assert header["exp"] == payload["exp"]
    assert payload["email_verified"] == "true"
    assert set(payload) == {"sub", "email_verified", "email", "username", "exp", "iss"}
    assert len(base64.urlsafe_b64decode(signature_segment)) == 64


def test_headers_carry_the_data_token_the_pools_access_token_and_the_identity(cognito_alb: LocalAlb) -> None:
    headers = cognito_alb.headers(username="bob")

    assert set(headers) == {"x-amzn-oidc-data", "x-amzn-oidc-accesstoken", "x-amzn-oidc-identity"}
    assert headers["x-amzn-oidc-identity"] == cognito_alb.subject("bob")


def test_another_alb_shares_the_key_server_but_signs_as_itself(cognito_alb: LocalAlb) -> None:
    other = cognito_alb.other_alb()

    assert other.alb_arn != cognito_alb.alb_arn
    assert set(cognito_alb.keys) == {cognito_alb.key.kid, other.key.kid}
    with pytest.raises(errors.SignerError):
        cognito_alb.verifier().verify_sync(other.data_token())


def test_rotation_keeps_the_old_key_published(cognito_alb: LocalAlb) -> None:
    old = cognito_alb.key

    cognito_alb.rotate()

    assert {old.kid, cognito_alb.key.kid} <= set(cognito_alb.keys)


def test_mock_keys_serves_the_published_keys_at_the_aws_key_server_under_respx(
    respx_mock: Any, cognito_alb: LocalAlb
) -> None:
    route = cognito_alb.mock_keys(respx_mock)
    verifier = AlbVerifier(alb_arn=cognito_alb.alb_arn, client_id=cognito_alb.client_id, issuer=cognito_alb.issuer)

    assert verifier.verify_sync(cognito_alb.data_token()).username == "alice"
    assert httpx.get(cognito_alb.key_url.replace("{kid}", "00000000-0000-0000-0000-000000000000")).status_code == 404
    verifier.close()

    assert route.call_count == 2


def test_verifier_with_access_token_needs_a_pool() -> None:
    with pytest.raises(ValueError, match="pool"):
        LocalAlb().verifier(access_token=True)
