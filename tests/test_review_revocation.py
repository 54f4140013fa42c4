"""Review findings on the revocation list, the online check and their hooks (issue 11): each test failed before its
fix."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
import respx

from cognito_guard import CognitoOnlineCheck
from cognito_guard.cli import main
from cognito_guard.errors import ConfigurationError, OnlineCheckUnavailableError
from cognito_guard.revocation import RevocationList
from cognito_guard.testing import LocalIssuer

MALFORMED_URLS = [
    "redis://localhost:notaport/0",
    "redis://:s3cret@localhost:6379/0?socket_timeout=soon",
    "redis://[::1/0",
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_redis_url_is_a_configuration_error_that_does_not_repeat_it(url: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        RevocationList(redis_url=url)
    assert "s3cret" not in str(raised.value)


@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_revoke_with_a_malformed_redis_url_exits_1_with_configuration_error(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["revoke", "--redis-url", url, "--jti", "token-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("configuration_error: ")
    assert "s3cret" not in err


# -- the online check: an odd GetUser answer is unavailability, never a crash -----------------------------------------
GET_USER = "https://cognito-idp.eu-west-1.amazonaws.com/"  # the region of the `issuer` fixture's pool


@pytest.mark.parametrize("attributes", [5, True, 2.5], ids=["int", "bool", "float"])
@pytest.mark.parametrize("how", ["sync", "async"])
async def test_get_user_answering_200_with_attributes_that_are_not_a_list_is_unavailability(
    issuer: LocalIssuer, respx_mock: respx.MockRouter, attributes: object, how: str
) -> None:
    token = issuer.access_token(scopes=("aws.cognito.signin.user.admin",))
    claims = issuer.verifier(token_use=None).verify_sync(token)
    respx_mock.post(GET_USER).mock(
        return_value=httpx.Response(200, json={"Username": "alice", "UserAttributes": attributes})
    )
    check = CognitoOnlineCheck(timeout=5)
    try:
        started = time.monotonic()
        with pytest.raises(OnlineCheckUnavailableError):
            await (check.check(token, claims) if how == "async" else asyncio.to_thread(check.check_sync, token, claims))
        assert time.monotonic() - started < 4  # answered, not given up on at the timeout
    finally:
        await check.aclose()


# -- a record outlives every moment its token can be accepted --------------------------------------------------------
def test_a_verifier_with_a_revocation_list_refuses_a_leeway_its_records_would_not_outlive(issuer: LocalIssuer) -> None:
    # Records are kept 10 minutes past the token's end; a larger leeway accepted a revoked token once its record went.
    with pytest.raises(ConfigurationError, match="leeway"):
        issuer.verifier(revocations=RevocationList(), leeway=1800)


def test_a_verifier_with_a_revocation_list_accepts_a_leeway_of_ten_minutes(issuer: LocalIssuer) -> None:
    assert issuer.verifier(revocations=RevocationList(), leeway=600).revocations is not None
