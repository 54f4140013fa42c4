"""The shipped test kit: LocalIssuer's tokens look like Cognito's, and the pytest/respx helpers work."""

from __future__ import annotations

import httpx
import pytest
import respx

from cognito_guard import CognitoVerifier, errors
from cognito_guard.testing import LocalIssuer, mock_jwks

pytest_plugins = ["pytester"]

# Two tests run in order in one session: the first changes every part of its cognito_issuer that a test can change.
ISOLATION_TESTS = """
from cognito_guard.testing import SigningKeyPair

KIDS = []


def test_a_changes_its_issuer(cognito_issuer):
    KIDS.append(cognito_issuer.id_key.kid)
    cognito_issuer.add_key(SigningKeyPair(kid="stray"))
    cognito_issuer.rotate()
    cognito_issuer.clock = lambda: 0.0


def test_b_gets_an_untouched_issuer(cognito_issuer, cognito_verifier):
    assert [key["kid"] for key in cognito_issuer.jwks["keys"]] == [
        cognito_issuer.access_key.kid,
        cognito_issuer.id_key.kid,
    ]
    assert cognito_issuer.clock() > 0
    assert cognito_verifier.verify_sync(cognito_issuer.access_token()).username == "alice"


def test_c_shares_the_sessions_key_pairs(cognito_issuer):
    assert cognito_issuer.id_key.kid == KIDS[0]
"""


def test_access_and_id_tokens_are_signed_by_different_keys_like_cognito(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_use=None)
    access = issuer.access_token()
    id_token = issuer.id_token()

    assert access.split(".")[0] != id_token.split(".")[0]
    assert verifier.verify_sync(access).is_access_token
    assert verifier.verify_sync(id_token).is_id_token


def test_access_token_carries_cognitos_access_claims(issuer: LocalIssuer) -> None:
    claims = issuer.verifier().verify_sync(issuer.access_token(username="alice", groups=["admin"]))

    expected = {"sub", "iss", "client_id", "token_use", "scope", "auth_time", "exp", "iat", "jti", "origin_jti"}
    assert expected | {"event_id", "username", "version", "cognito:groups"} <= set(claims)
    assert "aud" not in claims


def test_id_token_carries_cognitos_id_claims(issuer: LocalIssuer) -> None:
    claims = issuer.verifier(token_use="id").verify_sync(issuer.id_token(nonce="n-1", custom={"tenant": "acme"}))

    assert claims["aud"] == issuer.client_id
    assert claims["cognito:username"] == "alice"
    assert claims["nonce"] == "n-1"
    assert claims["custom:tenant"] == "acme"
    assert claims["email_verified"] is True


def test_client_credentials_token_has_the_client_as_subject_and_no_user(issuer: LocalIssuer) -> None:
    claims = issuer.verifier(client_id="m2m").verify_sync(issuer.client_credentials_token(client_id="m2m"))

    assert claims.sub == "m2m"
    assert claims.is_machine
    assert "cognito:groups" not in claims


def test_sub_is_stable_per_username(issuer: LocalIssuer) -> None:
    verifier = issuer.verifier(token_use=None)

    first = verifier.verify_sync(issuer.access_token(username="alice")).sub
    second = verifier.verify_sync(issuer.id_token(username="alice")).sub

    assert first == second


def test_claims_override_replaces_and_none_removes(issuer: LocalIssuer) -> None:
    token = issuer.access_token(claims={"username": "mallory", "jti": None, "tenant": ["a"]})

    claims = issuer.verifier().verify_sync(token)

    assert claims.username == "mallory"
    assert "jti" not in claims
    assert claims["tenant"] == ("a",)


def test_rotate_replaces_the_access_key_in_the_jwks(issuer: LocalIssuer) -> None:
    old = issuer.access_key.kid
    issuer.rotate()
    kids = {key["kid"] for key in issuer.jwks["keys"]}

    assert old not in kids
    assert issuer.access_key.kid in kids


def test_cognito_issuer_fixture_mints_tokens_its_verifier_accepts(
    cognito_issuer: LocalIssuer, cognito_verifier: CognitoVerifier
) -> None:
    assert cognito_verifier.verify_sync(cognito_issuer.access_token(username="zoe")).username == "zoe"


def run_isolation_tests(pytester: pytest.Pytester, *names: str) -> pytest.RunResult:
    """Run the named ISOLATION_TESTS, in this order, in one session of their own."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    path = pytester.makepyfile(test_isolation=ISOLATION_TESTS)
    return pytester.runpytest(*(f"{path}::{name}" for name in names))


def test_changes_to_cognito_issuer_in_one_test_do_not_reach_the_next(pytester: pytest.Pytester) -> None:
    result = run_isolation_tests(pytester, "test_a_changes_its_issuer", "test_b_gets_an_untouched_issuer")

    result.assert_outcomes(passed=2)


def test_cognito_issuer_key_pairs_are_made_once_per_session(pytester: pytest.Pytester) -> None:
    result = run_isolation_tests(pytester, "test_a_changes_its_issuer", "test_c_shares_the_sessions_key_pairs")

    result.assert_outcomes(passed=2)


def test_cognito_verifier_fixture_rejects_tokens_of_another_pool(cognito_verifier: CognitoVerifier) -> None:
    stranger = LocalIssuer(user_pool_id="us-east-1_Stranger")

    with pytest.raises(errors.IssuerError):
        cognito_verifier.verify_sync(stranger.access_token())


async def test_mock_jwks_serves_the_issuer_keys_at_its_real_url(issuer: LocalIssuer) -> None:
    verifier = CognitoVerifier(
        user_pool_id=issuer.user_pool_id, client_id=issuer.client_id, token_use="access", clock=issuer.clock
    )
    with respx.mock(assert_all_called=True) as router:
        route = mock_jwks(issuer, router)

        claims = await verifier.verify(issuer.access_token(username="erin"))

    assert claims.username == "erin"
    assert route.call_count == 1


def test_mock_jwks_follows_key_rotation() -> None:
    pool = LocalIssuer(user_pool_id="us-east-1_Rotating")
    with respx.mock() as router:
        mock_jwks(pool, router)
        pool.rotate()

        document = httpx.get(pool.jwks_uri).json()

    assert pool.access_key.kid in {key["kid"] for key in document["keys"]}
