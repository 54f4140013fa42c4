"""Specification of AlbVerifier (issue 13, part 1): the ``x-amzn-oidc-data`` token an ALB signs, checked completely.

Most tests run twice, through ``await verify(token)`` and ``verify_sync(token)`` (the ``verify`` fixture). Keys are
preloaded (``LocalAlb.verifier()`` passes ``keys=``): no test here touches the network (tests/test_alb_keys.py and
tests/test_alb_key_server.py cover fetching).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import Clock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cognito_guard import AlbClaims, AlbVerifier, Claims, errors
from cognito_guard.testing import AlbKeyPair, LocalAlb, LocalIssuer

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"
VerifyFn = Callable[..., Awaitable[AlbClaims]]


@pytest.fixture(params=["verify_sync", "verify"])
def verify(request: pytest.FixtureRequest) -> VerifyFn:
    """Both front doors: every test using this fixture runs once through each."""
    if request.param == "verify":

        async def run_async(verifier: AlbVerifier, token: object, **options: Any) -> AlbClaims:
            return await verifier.verify(token, **options)

        return run_async

    async def run_sync(verifier: AlbVerifier, token: object, **options: Any) -> AlbClaims:
        return verifier.verify_sync(token, **options)

    return run_sync


@pytest.fixture
def alb(issuer: LocalIssuer) -> LocalAlb:
    """An ALB in front of the ``issuer`` pool (its clock, issuer and client)."""
    return LocalAlb(alb_arn=ARN, pool=issuer)


@pytest.fixture
def verifier(alb: LocalAlb) -> AlbVerifier:
    return alb.verifier()


def segments(token: str) -> list[str]:
    return token.split(".")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def rsa_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# -- accepted tokens ---------------------------------------------------------------------------------------------------


async def test_alb_token_is_accepted_with_its_user_claims(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    claims = await verify(verifier, alb.data_token(username="alice", email="alice@example.com"))

    assert isinstance(claims, Claims)
    assert claims.sub == alb.subject("alice")
    assert claims.username == "alice"
    assert claims.email == "alice@example.com"
    assert claims.issuer == alb.issuer


async def test_claims_carry_the_signer_and_client_of_the_token_header(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    claims = await verify(verifier, alb.data_token())

    assert claims.signer == ARN
    assert claims.client_id == alb.client_id


async def test_string_booleans_read_as_booleans(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    token = alb.data_token(claims={"email_verified": "true", "phone_number_verified": "false"})

    claims = await verify(verifier, token)

    assert claims["email_verified"] == "true"  # the mapping keeps what the ALB sent
    assert claims.email_verified is True
    assert claims.phone_number_verified is False


async def test_json_booleans_read_as_booleans_too(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    claims = await verify(verifier, alb.data_token(claims={"email_verified": False, "phone_number_verified": True}))

    assert claims.email_verified is False
    assert claims.phone_number_verified is True


async def test_cognito_identities_as_a_json_string_pass_through(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    identities = json.dumps([{"providerName": "Google", "primary": "true"}])

    claims = await verify(verifier, alb.data_token(claims={"identities": identities}))

    assert json.loads(claims["identities"])[0]["providerName"] == "Google"


async def test_unknown_claims_of_any_json_type_are_kept_read_only(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    claims = await verify(verifier, alb.data_token(claims={"address": {"country": "NL"}, "tags": ["a", 1]}))

    assert claims["address"]["country"] == "NL"
    assert claims["tags"] == ("a", 1)
    with pytest.raises(TypeError):
        claims["address"]["country"] = "BE"


async def test_a_token_of_a_newer_key_of_the_same_alb_is_accepted(alb: LocalAlb, verify: VerifyFn) -> None:
    old = alb.data_token()
    alb.rotate()
    verifier = alb.verifier()

    assert (await verify(verifier, alb.data_token())).sub == (await verify(verifier, old)).sub


async def test_any_of_several_alb_arns_is_accepted(alb: LocalAlb, verify: VerifyFn) -> None:
    second = alb.other_alb()
    verifier = alb.verifier(alb_arn=[ARN, second.alb_arn])

    assert (await verify(verifier, second.data_token())).signer == second.alb_arn


async def test_verify_and_verify_sync_return_equal_claims(alb: LocalAlb, verifier: AlbVerifier) -> None:
    token = alb.data_token()

    assert dict(verifier.verify_sync(token)) == dict(await alb.verifier().verify(token))


def test_verify_sync_needs_no_event_loop(alb: LocalAlb, verifier: AlbVerifier) -> None:
    assert verifier.verify_sync(alb.data_token()).username == "alice"


# -- the signer: tokens of other ALBs (ALBeast) ------------------------------------------------------------------------


async def test_token_of_another_alb_in_the_region_is_refused_although_its_signature_verifies(
    alb: LocalAlb, verify: VerifyFn
) -> None:
    foreign = alb.other_alb()  # its key is on the same (shared) key server, so the signature is right
    verifier = alb.verifier()
    assert foreign.key.kid in alb.keys

    with pytest.raises(errors.SignerError) as refused:
        await verify(verifier, foreign.data_token())

    assert refused.value.code == "invalid_signer"
    assert refused.value.status_code == 401


async def test_token_of_another_alb_is_refused_even_when_it_copies_our_issuer_and_client(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    foreign = alb.other_alb()

    with pytest.raises(errors.SignerError):
        await verify(verifier, foreign.data_token(headers={"client": alb.client_id, "iss": alb.issuer}))


@pytest.mark.parametrize("signer", [None, 7, ["x"], "", ARN.upper(), ARN + " "])
async def test_token_without_our_exact_signer_string_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, signer: object
) -> None:
    with pytest.raises(errors.SignerError):
        await verify(verifier, alb.data_token(headers={"signer": signer}))


# -- client and issuer -------------------------------------------------------------------------------------------------


async def test_token_for_another_app_client_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.ClientIdError):
        await verify(verifier, alb.data_token(headers={"client": "someone-elses-client"}))


async def test_any_of_several_clients_is_accepted(alb: LocalAlb, verify: VerifyFn) -> None:
    verifier = alb.verifier(client_id=["other", alb.client_id])

    assert (await verify(verifier, alb.data_token())).client_id == alb.client_id


async def test_client_id_none_accepts_any_client(alb: LocalAlb, verify: VerifyFn) -> None:
    verifier = alb.verifier(client_id=None)

    assert (await verify(verifier, alb.data_token(headers={"client": "any"}))).client_id == "any"


@pytest.mark.parametrize("client", [None, "", 42])
async def test_token_without_a_client_string_is_refused_even_when_any_client_is_accepted(
    alb: LocalAlb, verify: VerifyFn, client: object
) -> None:
    with pytest.raises(errors.ClaimError):
        await verify(alb.verifier(client_id=None), alb.data_token(headers={"client": client}))


async def test_token_from_another_issuer_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.IssuerError):
        await verify(verifier, alb.data_token(claims={"iss": "https://cognito-idp.eu-west-1.amazonaws.com/other"}))


async def test_token_without_iss_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.IssuerError):
        await verify(verifier, alb.data_token(claims={"iss": None}))


async def test_any_of_several_issuers_is_accepted(alb: LocalAlb, verify: VerifyFn) -> None:
    verifier = alb.verifier(issuer=["https://accounts.example.com", alb.issuer])

    assert (await verify(verifier, alb.data_token())).issuer == alb.issuer


# -- time --------------------------------------------------------------------------------------------------------------


async def test_expired_token_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.ExpiredTokenError):
        await verify(verifier, alb.data_token(expires_in=-1))


async def test_token_is_refused_from_the_second_of_its_exp(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, clock: Clock
) -> None:
    token = alb.data_token(expires_in=120)
    clock.advance(120)

    with pytest.raises(errors.ExpiredTokenError):
        await verify(verifier, token)


async def test_leeway_accepts_a_just_expired_token(alb: LocalAlb, verify: VerifyFn) -> None:
    assert (await verify(alb.verifier(leeway=30), alb.data_token(expires_in=-10))).username == "alice"


async def test_token_without_exp_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.ClaimError):
        await verify(verifier, alb.data_token(claims={"exp": None}))


async def test_token_issued_in_the_future_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, clock: Clock
) -> None:
    with pytest.raises(errors.IssuedInFutureError):
        await verify(verifier, alb.data_token(claims={"iat": int(clock()) + 600}))


async def test_token_not_valid_yet_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, clock: Clock
) -> None:
    with pytest.raises(errors.NotYetValidError):
        await verify(verifier, alb.data_token(claims={"nbf": int(clock()) + 600}))


@pytest.mark.parametrize("exp", ["1900000000", True, None, 1e300, -1, [1]])
async def test_exp_that_is_not_a_time_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, exp: object
) -> None:
    token = alb.data_token(claims={"exp": exp}) if exp is not None else alb.data_token(claims={"exp": None})

    with pytest.raises(errors.ClaimError):
        await verify(verifier, token)


# -- claims of the wrong type ------------------------------------------------------------------------------------------


async def test_token_without_sub_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.ClaimError):
        await verify(verifier, alb.data_token(claims={"sub": None}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sub", 12),
        ("username", ["alice"]),
        ("email", {"a": 1}),
        ("iss", 1),
        ("email_verified", "yes"),
        ("email_verified", 1),
        ("phone_number_verified", "TRUE"),
        ("cognito:groups", "admin"),
        ("cognito:groups", ["admin", 1]),
        ("iat", "1800000000"),
    ],
)
async def test_standard_claim_of_the_wrong_type_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, name: str, value: object
) -> None:
    with pytest.raises(errors.ClaimError):
        await verify(verifier, alb.data_token(claims={name: value}))


async def test_claims_nested_too_deeply_are_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    deep: Any = []
    for _ in range(40):
        deep = [deep]

    with pytest.raises(errors.ClaimError):
        await verify(verifier, alb.data_token(claims={"deep": deep}))


# -- the header: algorithm, kid ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "HS256", "none", "ES384", None, "es256"])
async def test_algorithm_other_than_es256_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, alg: object
) -> None:
    with pytest.raises(errors.AlgorithmError):
        await verify(verifier, alb.data_token(headers={"alg": alg}))


async def test_header_with_crit_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.AlgorithmError):
        await verify(verifier, alb.data_token(headers={"crit": ["exp"]}))


@pytest.mark.parametrize("kid", ["key-1", "../../etc/passwd", "0" * 36, 123])
async def test_kid_that_is_not_a_uuid_is_refused_as_malformed(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, kid: object
) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(verifier, alb.data_token(headers={"kid": kid}))


async def test_kid_not_among_the_offline_keys_is_refused(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    stranger = AlbKeyPair()

    with pytest.raises(errors.KeyNotFoundError):
        await verify(verifier, alb.data_token(key=stranger))


async def test_jwk_or_x5u_in_the_header_never_choose_the_key(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    impostor = AlbKeyPair(kid=alb.key.kid)
    token = alb.data_token(key=impostor, headers={"x5u": "https://attacker.example/key.pem", "jwk": {"kty": "EC"}})

    with pytest.raises(errors.SignatureError):
        await verify(verifier, token)


# -- the signature -----------------------------------------------------------------------------------------------------


async def test_token_with_a_bad_signature_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    with pytest.raises(errors.SignatureError):
        await verify(verifier, alb.data_token(bad_signature=True))


async def test_token_with_a_changed_payload_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    header, _, signature = segments(alb.data_token(username="bob"))
    _, payload, _ = segments(alb.data_token(username="admin"))

    with pytest.raises(errors.SignatureError):
        await verify(verifier, f"{header}.{payload}.{signature}")


async def test_der_encoded_signature_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    header, payload, _ = segments(alb.data_token())
    from cryptography.hazmat.primitives import hashes

    der = alb.key.private_key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))

    with pytest.raises(errors.SignatureError):
        await verify(verifier, f"{header}.{payload}.{b64(der)}".rstrip("="))


async def test_signature_of_zeros_is_refused(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    header, payload, _ = segments(alb.data_token())

    with pytest.raises(errors.SignatureError):
        await verify(verifier, f"{header}.{payload}.{b64(bytes(64))}")


# -- malformed input ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, 1, b"a.b.c", "", "a.b", "a.b.c.d", "é.é.é", "x" * 40_000])
async def test_input_that_is_no_token_is_refused_as_malformed(
    verifier: AlbVerifier, verify: VerifyFn, token: object
) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(verifier, token)


async def test_refusals_never_quote_the_token(alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn) -> None:
    token = alb.other_alb().data_token()

    with pytest.raises(errors.TokenError) as refused:
        await verify(verifier, token)

    assert token not in repr(refused.value)
    assert all(part not in refused.value.message for part in segments(token))


# -- requirements ------------------------------------------------------------------------------------------------------


async def test_group_requirement_is_refused_with_403_without_groups_in_the_claims(
    alb: LocalAlb, verify: VerifyFn
) -> None:
    with pytest.raises(errors.MissingGroupError):
        await verify(alb.verifier(groups="admin"), alb.data_token())


async def test_group_requirement_is_met_by_groups_the_idp_puts_in_the_claims(alb: LocalAlb, verify: VerifyFn) -> None:
    token = alb.data_token(claims={"cognito:groups": ["admin"]})

    assert (await verify(alb.verifier(groups="admin"), token)).groups == ("admin",)


# -- the access token too ----------------------------------------------------------------------------------------------


async def test_access_token_of_the_same_user_is_verified_and_joined(
    alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    verifier = alb.verifier(access_token=True)
    access = issuer.access_token(username="alice", scopes=["orders/read"], groups=["admin"])

    claims = await verify(verifier, alb.data_token(username="alice"), access_token=access)

    assert claims.access_token is not None
    assert claims.access_token.token_use == "access"
    assert claims.scopes == frozenset({"orders/read"})
    assert claims.groups == ("admin",)


async def test_requirements_are_checked_against_the_access_token(
    alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    verifier = alb.verifier(access_token=True, groups="admin", scopes="orders/read")
    member = issuer.access_token(username="alice", scopes=["orders/read"], groups=["admin"])
    outsider = issuer.access_token(username="alice", scopes=["orders/read"], groups=["staff"])

    assert (await verify(verifier, alb.data_token(), access_token=member)).groups == ("admin",)
    with pytest.raises(errors.MissingGroupError):
        await verify(verifier, alb.data_token(), access_token=outsider)


async def test_missing_access_token_is_refused_when_it_is_required(alb: LocalAlb, verify: VerifyFn) -> None:
    with pytest.raises(errors.MalformedTokenError, match="x-amzn-oidc-accesstoken"):
        await verify(alb.verifier(access_token=True), alb.data_token())


async def test_access_token_of_another_user_is_refused(alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.ClaimError, match="different users"):
        await verify(
            alb.verifier(access_token=True),
            alb.data_token(username="alice"),
            access_token=issuer.access_token(username="bob"),
        )


async def test_access_token_of_another_app_client_is_refused(
    alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    verifier = alb.verifier(access_token=issuer.verifier(token_use="access", client_id=None))
    access = issuer.access_token(username="alice", client_id="another-client")

    with pytest.raises(errors.ClaimError, match="different app clients"):
        await verify(verifier, alb.data_token(username="alice"), access_token=access)


async def test_invalid_access_token_is_refused_with_its_own_error(
    alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.ExpiredTokenError):
        await verify(alb.verifier(access_token=True), alb.data_token(), access_token=issuer.access_token(expires_in=-5))


async def test_id_token_in_the_access_token_header_is_refused(
    alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.TokenUseError):
        await verify(alb.verifier(access_token=True), alb.data_token(), access_token=issuer.id_token())


async def test_access_token_passed_to_a_verifier_without_an_access_token_verifier_is_a_configuration_error(
    alb: LocalAlb, issuer: LocalIssuer, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    with pytest.raises(errors.ConfigurationError):
        await verify(verifier, alb.data_token(), access_token=issuer.access_token())


# -- the result cache --------------------------------------------------------------------------------------------------


async def test_a_token_seen_before_gives_the_same_claims_without_a_second_signature_check(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn
) -> None:
    token = alb.data_token()

    assert await verify(verifier, token) is await verify(verifier, token)


async def test_a_cached_token_still_expires(
    alb: LocalAlb, verifier: AlbVerifier, verify: VerifyFn, clock: Clock
) -> None:
    token = alb.data_token(expires_in=60)
    await verify(verifier, token)
    clock.advance(60)

    with pytest.raises(errors.ExpiredTokenError):
        await verify(verifier, token)


async def test_a_cached_token_still_meets_the_requirements_of_each_call(
    alb: LocalAlb, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    verifier = alb.verifier(access_token=True, groups="admin")
    token = alb.data_token()
    await verify(verifier, token, access_token=issuer.access_token(groups=["admin"]))

    with pytest.raises(errors.MissingGroupError):
        await verify(verifier, token, access_token=issuer.access_token(groups=[]))


async def test_cache_size_zero_keeps_nothing(alb: LocalAlb, verify: VerifyFn) -> None:
    verifier = alb.verifier(cache_size=0)
    token = alb.data_token()

    assert await verify(verifier, token) is not await verify(verifier, token)


async def test_a_full_cache_makes_room_and_keeps_verifying(alb: LocalAlb, verify: VerifyFn) -> None:
    verifier = alb.verifier(cache_size=4)

    for index in range(20):
        assert (await verify(verifier, alb.data_token(username=f"user{index}"))).username == f"user{index}"


# -- configuration -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:elasticloadbalancing",
        "arn:aws:elasticloadbalancing:.:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/net/my-nlb/50dc6c495c0c9188",
        "arn:aws:elasticloadbalancing:eu-west-1:1234:loadbalancer/app/my-alb/50dc6c495c0c9188",
        "arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/my-targets/50dc6c495c0c9188",
        "arn:aws:ec2:eu-west-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188",
        " " + ARN,
    ],
)
def test_alb_arn_that_is_not_an_application_load_balancer_is_a_configuration_error(arn: str) -> None:
    with pytest.raises(errors.ConfigurationError, match="Application Load Balancer ARN"):
        AlbVerifier(alb_arn=arn, client_id="c", issuer="https://issuer.example.com")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"alb_arn": []}, "alb_arn"),
        ({"client_id": ""}, "client_id"),
        ({"client_id": []}, "client_id"),
        ({"issuer": ""}, "issuer"),
        ({"leeway": -1}, "leeway"),
        ({"leeway": float("nan")}, "leeway"),
        ({"cache_size": -1}, "cache_size"),
        ({"key_url": "https://keys.example.com/"}, "{kid}"),
        ({"key_url": "http://keys.example.com/{kid}"}, "https"),
        ({"key_url": "https://keys.example.com/{kid}", "keys": {}}, "either keys"),
        ({"access_token": object()}, "CognitoVerifier"),
    ],
)
def test_bad_settings_are_configuration_errors_naming_the_setting(options: dict[str, Any], message: str) -> None:
    settings: dict[str, Any] = {"alb_arn": ARN, "client_id": "c", "issuer": "https://issuer.example.com"}

    with pytest.raises(errors.ConfigurationError, match=message):
        AlbVerifier(**{**settings, **options})


def test_client_id_and_issuer_are_required_keywords() -> None:
    with pytest.raises(TypeError):
        AlbVerifier(alb_arn=ARN, issuer="https://issuer.example.com")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        AlbVerifier(alb_arn=ARN, client_id="c")  # type: ignore[call-arg]


def test_partition_without_a_known_key_server_needs_a_key_url() -> None:
    china = "arn:aws-cn:elasticloadbalancing:cn-north-1:123456789012:loadbalancer/app/my-alb/50dc6c495c0c9188"

    with pytest.raises(errors.ConfigurationError, match="key_url"):
        AlbVerifier(alb_arn=china, client_id="c", issuer="https://issuer.example.com")
    assert AlbVerifier(
        alb_arn=china, client_id="c", issuer="https://issuer.example.com", key_url="https://keys.example.cn/{kid}"
    ).alb_arns == (china,)


def test_offline_keys_load_from_a_directory_of_files_named_by_kid(alb: LocalAlb, tmp_path: Path) -> None:
    for kid, pem in alb.keys.items():
        (tmp_path / kid).write_text(pem)
    (tmp_path / "README").write_text("not a key")

    verifier = alb.verifier(keys=tmp_path)

    assert verifier.verify_sync(alb.data_token()).username == "alice"


def test_empty_key_directory_is_a_configuration_error(alb: LocalAlb, tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError, match="no key"):
        alb.verifier(keys=tmp_path)


def test_missing_key_directory_is_a_configuration_error(alb: LocalAlb, tmp_path: Path) -> None:
    with pytest.raises(errors.ConfigurationError, match="cannot read"):
        alb.verifier(keys=tmp_path / "missing")


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"not-a-uuid": "x"}, "not a UUID"),
        ({"6a1b8c5e-0d1f-4c2b-9a7e-3f5d2c1b0a99": "-----BEGIN PUBLIC KEY-----\nnope\n"}, "unusable"),
        ({"6a1b8c5e-0d1f-4c2b-9a7e-3f5d2c1b0a99": rsa_pem()}, "P-256"),
        (
            {
                "6a1b8c5e-0d1f-4c2b-9a7e-3f5d2c1b0a99": ec.generate_private_key(ec.SECP384R1())
                .public_key()
                .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
                .decode()
            },
            "P-256",
        ),
    ],
)
def test_unusable_offline_key_is_a_configuration_error(alb: LocalAlb, keys: dict[str, str], message: str) -> None:
    with pytest.raises(errors.ConfigurationError, match=message):
        alb.verifier(keys=keys)


def test_issuers_lists_the_accepted_issuers(alb: LocalAlb) -> None:
    assert alb.verifier(issuer=["https://b.example.com", alb.issuer]).issuers == tuple(
        sorted(["https://b.example.com", alb.issuer])
    )
