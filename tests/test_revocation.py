"""The revocation list in one process (memory), and the verifier consulting it (issue 11, items 1 and 2).

Redis-backed lists, several processes and faults are in tests/test_revocation_redis.py.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import Clock

from cognito_guard import CognitoVerifier, errors
from cognito_guard.revocation import InvalidRevocationError, RevocationList
from cognito_guard.testing import LocalIssuer

VerifyFn = Callable[[CognitoVerifier, str], Awaitable[Any]]


@pytest.fixture(params=["verify", "verify_sync"])
def verify(request: pytest.FixtureRequest) -> VerifyFn:
    async def call(verifier: CognitoVerifier, token: str) -> Any:
        if request.param == "verify":
            return await verifier.verify(token)
        return verifier.verify_sync(token)

    return call


@pytest.fixture
def revocations(clock: Clock) -> RevocationList:
    return RevocationList(clock=clock)


@pytest.fixture
def verifier(issuer: LocalIssuer, revocations: RevocationList) -> CognitoVerifier:
    return issuer.verifier(token_use=None, jwks=issuer.jwks, revocations=revocations)


# -- the verifier refuses what the list names ----------------------------------------------------------------------


async def test_a_token_of_a_revoked_family_is_refused_with_token_revoked(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    token = issuer.access_token(claims={"origin_jti": "family-1"})
    revocations.revoke_family("family-1")

    with pytest.raises(errors.TokenRevokedError) as raised:
        await verify(verifier, token)

    assert raised.value.code == "token_revoked"
    assert raised.value.status_code == 401


async def test_revoking_a_family_refuses_its_id_token_too(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    revocations.revoke_family("family-1")
    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, issuer.id_token(claims={"origin_jti": "family-1"}))


async def test_another_family_of_the_same_user_still_verifies(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    revocations.revoke_family("family-1")
    claims = await verify(verifier, issuer.access_token(claims={"origin_jti": "family-2"}))
    assert claims.username == "alice"


async def test_a_revoked_jti_is_refused(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    revocations.revoke_token("token-1")
    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, issuer.access_token(claims={"jti": "token-1"}))


async def test_a_token_signed_in_before_a_user_sign_out_is_refused(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn, clock: Clock
) -> None:
    token = issuer.access_token(sub="user-1")
    clock.advance(10)
    revocations.sign_out_user("user-1")

    with pytest.raises(errors.TokenRevokedError, match="signed out"):
        await verify(verifier, token)


async def test_a_token_refreshed_after_the_sign_out_from_an_older_sign_in_is_refused(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn, clock: Clock
) -> None:
    signed_in_at = clock()
    clock.advance(60)
    revocations.sign_out_user("user-1")
    clock.advance(60)

    refreshed = issuer.access_token(sub="user-1", claims={"auth_time": int(signed_in_at)})

    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, refreshed)


async def test_a_sign_in_after_the_sign_out_verifies(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn, clock: Clock
) -> None:
    revocations.sign_out_user("user-1")
    clock.advance(2)

    claims = await verify(verifier, issuer.access_token(sub="user-1", claims={"auth_time": int(clock())}))

    assert claims.sub == "user-1"


async def test_a_sign_in_in_the_same_second_as_the_sign_out_is_refused(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn, clock: Clock
) -> None:
    revocations.sign_out_user("user-1", at=clock() + 0.5)
    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, issuer.access_token(sub="user-1", claims={"auth_time": int(clock())}))


async def test_other_users_are_untouched_by_a_sign_out(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    revocations.sign_out_user("user-1")
    assert (await verify(verifier, issuer.access_token(sub="user-2"))).sub == "user-2"


async def test_a_cached_result_is_refused_once_its_family_is_revoked(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    token = issuer.access_token(claims={"origin_jti": "family-1"})
    await verify(verifier, token)  # now in the verified-result cache
    revocations.revoke_family("family-1")

    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, token)


async def test_a_cached_result_is_refused_once_its_user_signs_out(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn, clock: Clock
) -> None:
    token = issuer.access_token(sub="user-1")
    await verify(verifier, token)
    clock.advance(1)
    revocations.sign_out_user("user-1")

    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, token)


async def test_a_revoked_token_is_refused_before_a_missing_scope_is_reported(
    issuer: LocalIssuer, revocations: RevocationList, verify: VerifyFn
) -> None:
    verifier = issuer.verifier(jwks=issuer.jwks, revocations=revocations, scopes="orders/write")
    revocations.revoke_family("family-1")
    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, issuer.access_token(claims={"origin_jti": "family-1"}, scopes=["profile"]))


async def test_a_client_credentials_token_is_revoked_by_its_jti(
    issuer: LocalIssuer, verifier: CognitoVerifier, revocations: RevocationList, verify: VerifyFn
) -> None:
    token = issuer.client_credentials_token(claims={"jti": "m2m-1"})
    revocations.revoke_token("m2m-1")
    with pytest.raises(errors.TokenRevokedError):
        await verify(verifier, token)


def test_a_verifier_without_a_list_accepts_a_token_another_list_revoked(issuer: LocalIssuer) -> None:
    RevocationList().revoke_family("family-1")
    token = issuer.access_token(claims={"origin_jti": "family-1"})
    assert issuer.verifier(jwks=issuer.jwks).verify_sync(token).username == "alice"


def test_revocations_must_be_a_revocation_list(issuer: LocalIssuer) -> None:
    with pytest.raises(errors.ConfigurationError, match="RevocationList"):
        issuer.verifier(jwks=issuer.jwks, revocations={"family-1"})


# -- records expire with the tokens they name ---------------------------------------------------------------------


def test_a_family_record_outlives_the_longest_token_then_expires(revocations: RevocationList, clock: Clock) -> None:
    revocations.revoke_family("family-1")
    clock.advance(86400)
    revocations.prune()
    assert revocations.is_revoked({"origin_jti": "family-1", "sub": "s", "iat": 0})

    clock.advance(3600)
    revocations.prune()

    assert not revocations.is_revoked({"origin_jti": "family-1", "sub": "s", "iat": 0})
    assert revocations.status().entries == 0


def test_a_token_record_lives_until_the_given_expiry(revocations: RevocationList, clock: Clock) -> None:
    revocations.revoke_token("token-1", expires_at=clock() + 60)
    clock.advance(3600)
    revocations.prune()
    assert revocations.status().entries == 0


def test_a_user_record_expires_a_token_lifetime_after_the_sign_out(revocations: RevocationList, clock: Clock) -> None:
    revocations.sign_out_user("user-1")
    clock.advance(86400 + 3600)
    revocations.prune()
    assert revocations.status().entries == 0


def test_expired_records_are_pruned_as_new_ones_arrive(revocations: RevocationList, clock: Clock) -> None:
    revocations.revoke_token("token-1", expires_at=clock())
    clock.advance(3600)

    revocations.revoke_token("token-2")

    assert revocations.status().entries == 1


def test_a_later_sign_out_of_the_same_user_wins(revocations: RevocationList, clock: Clock) -> None:
    revocations.sign_out_user("user-1", at=clock() - 100)
    revocations.sign_out_user("user-1", at=clock())
    revocations.sign_out_user("user-1", at=clock() - 50)
    assert revocations.is_revoked({"sub": "user-1", "iat": clock() - 10})


def test_revoke_claims_revokes_the_family_when_there_is_one(revocations: RevocationList) -> None:
    revocations.revoke_claims({"origin_jti": "family-1", "jti": "token-1", "exp": 1, "sub": "s"})
    assert revocations.is_revoked({"origin_jti": "family-1", "jti": "token-9", "sub": "s", "iat": 0})


def test_revoke_claims_revokes_the_token_without_a_family(revocations: RevocationList) -> None:
    revocations.revoke_claims({"jti": "token-1", "sub": "s"})
    assert revocations.is_revoked({"jti": "token-1", "sub": "s", "iat": 0})


def test_revoke_claims_without_ids_is_refused(revocations: RevocationList) -> None:
    with pytest.raises(InvalidRevocationError, match="neither origin_jti nor jti"):
        revocations.revoke_claims({"sub": "s"})


async def test_the_async_ways_in_record_too(revocations: RevocationList) -> None:
    await revocations.arevoke_family("family-1")
    await revocations.arevoke_token("token-1")
    await revocations.asign_out_user("user-1")
    await revocations.arevoke_claims({"origin_jti": "family-2"})
    assert revocations.status().entries == 4


# -- bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["", " ", " padded", "line\nbreak", "tab\there", "x" * 1025, None, 5, b"bytes"])
@pytest.mark.parametrize("way", ["revoke_family", "revoke_token", "sign_out_user"])
def test_an_unusable_id_is_refused_with_a_clear_error(revocations: RevocationList, way: str, value: object) -> None:
    with pytest.raises(InvalidRevocationError) as raised:
        getattr(revocations, way)(value)
    assert raised.value.code == "invalid_revocation"
    assert revocations.status().entries == 0


@pytest.mark.parametrize("at", [-1, math.nan, math.inf, "now", True])
def test_an_unusable_sign_out_time_is_refused(revocations: RevocationList, at: object) -> None:
    with pytest.raises(InvalidRevocationError, match="at"):
        revocations.sign_out_user("user-1", at=at)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "options",
    [
        {"max_token_lifetime": 0},
        {"max_token_lifetime": math.inf},
        {"max_staleness": 0},
        {"max_staleness": -1},
        {"resync_interval": 0},
        {"max_token_lifetime": True},
    ],
)
def test_bad_settings_are_a_configuration_error(options: dict[str, Any]) -> None:
    with pytest.raises(errors.ConfigurationError):
        RevocationList(**options)


# -- status and configuration from the environment -----------------------------------------------------------------


def test_a_memory_list_is_never_stale(revocations: RevocationList) -> None:
    status = revocations.status()
    assert (status.backend, status.staleness, status.connected) == ("memory", 0.0, True)


def test_from_env_without_a_redis_url_keeps_the_list_in_memory() -> None:
    assert RevocationList.from_env({}).status().backend == "memory"


@pytest.mark.parametrize("url", ["http://localhost:6379", "localhost:6379", "   "])
def test_from_env_refuses_a_url_that_is_not_redis_without_echoing_it(url: str) -> None:
    if not url.strip():
        assert RevocationList.from_env({"COGNITO_REDIS_URL": url}).status().backend == "memory"
        return
    with pytest.raises(errors.ConfigurationError, match="COGNITO_REDIS_URL") as raised:
        RevocationList.from_env({"COGNITO_REDIS_URL": url})
    assert url not in raised.value.message


@pytest.mark.parametrize("value", ["abc", "0", "-5", "inf", "86401"])
def test_from_env_refuses_a_bad_max_staleness(value: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="COGNITO_REVOCATION_MAX_STALENESS"):
        RevocationList.from_env({"COGNITO_REVOCATION_MAX_STALENESS": value})


def test_is_revoked_cannot_answer_for_a_list_past_its_max_staleness(clock: Clock) -> None:
    from servers import free_port

    from cognito_guard.errors import RevocationUnavailableError

    revocations = RevocationList(redis_url=f"redis://127.0.0.1:{free_port()}/0", max_staleness=5, clock=clock)
    try:
        with pytest.raises(RevocationUnavailableError):
            revocations.is_revoked({"origin_jti": "family-1", "sub": "s", "iat": 0})
    finally:
        revocations.close()
