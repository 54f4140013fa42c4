"""Specification of CognitoVerifier (issue 2, section 2): every check accepts the right token and rejects the wrong one.

Most tests run twice, through ``await verify(token)`` and ``verify_sync(token)`` (the ``verify`` fixture): the two
front doors must decide alike. No test touches the network: keys are preloaded with ``jwks=`` (``issuer.verifier``)
or served by an ``httpx.MockTransport``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from conftest import Clock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from cognito_guard import Claims, CognitoVerifier, Requirement, UserPool, errors, verifier_from_env
from cognito_guard.jwks import SigningKey
from cognito_guard.testing import LocalIssuer, SigningKeyPair, sign_compact

VerifyFn = Callable[[CognitoVerifier, object], Awaitable[Claims]]
TokenBuilder = Callable[[LocalIssuer], str]

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
API = "https://api.example.com"


# -- fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture(params=["verify_sync", "verify"])
def verify(request: pytest.FixtureRequest) -> VerifyFn:
    """Both front doors: every test using this fixture runs once through each."""
    if request.param == "verify":

        async def run_async(verifier: CognitoVerifier, token: object) -> Claims:
            return await verifier.verify(token)

        return run_async

    async def run_sync(verifier: CognitoVerifier, token: object) -> Claims:
        return verifier.verify_sync(token)

    return run_sync


@pytest.fixture(scope="module")
def other_keys() -> tuple[SigningKeyPair, SigningKeyPair]:
    """Keys of a second pool (or of an attacker): in no JWKS of the ``issuer`` fixture."""
    return SigningKeyPair(kid="other-key-1"), SigningKeyPair(kid="other-key-2")


@pytest.fixture
def other_issuer(other_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock) -> LocalIssuer:
    access_key, id_key = other_keys
    return LocalIssuer(
        user_pool_id="us-west-2_OtherPool",
        client_id="client-b",
        clock=clock,
        access_key=access_key,
        id_key=id_key,
    )


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_raw(header: str, payload: str, key: SigningKeyPair) -> str:
    """A compact JWS of exactly these header and payload texts, RS256-signed by ``key``."""
    signing_input = f"{b64url(header.encode())}.{b64url(payload.encode())}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def valid_claims(issuer: LocalIssuer, token_use: str = "access") -> dict[str, Any]:
    """The claims of a valid token of ``issuer`` at its clock's time, as plain JSON values."""
    now = int(issuer.clock())
    common: dict[str, Any] = {
        "iss": issuer.issuer,
        "sub": "4f1a2b3c-user",
        "iat": now,
        "exp": now + 3600,
        "auth_time": now,
        "jti": "jti-1",
        "origin_jti": "origin-jti-1",
        "event_id": "event-1",
    }
    if token_use == "access":
        return {
            **common,
            "token_use": "access",
            "client_id": issuer.client_id,
            "scope": "openid",
            "username": "alice",
            "version": 2,
        }
    return {
        **common,
        "token_use": "id",
        "aud": issuer.client_id,
        "cognito:username": "alice",
        "email": "alice@example.com",
        "email_verified": True,
    }


def with_raw_claim(claims: dict[str, Any], name: str, raw_json: str) -> str:
    """``claims`` as JSON text with ``name`` set to the literal JSON ``raw_json`` (for 1e999, NaN, huge integers)."""
    rest = {key: value for key, value in claims.items() if key != name}
    return json.dumps(rest)[:-1] + f", {json.dumps(name)}: {raw_json}}}"


def no_network_client() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"unexpected HTTP request to {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def replace_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


def non_canonical(segment: str) -> str:
    """The same bytes spelled with stray low bits in the last character (only for lengths 2 or 3 mod 4)."""
    assert len(segment) % 4 in (2, 3)
    return segment[:-1] + B64URL[B64URL.index(segment[-1]) | 1]


# -- accepted tokens ------------------------------------------------------------------------------------------------


async def test_access_token_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    claims = await verify(issuer.verifier(token_use="access"), issuer.access_token(username="alice"))
    assert (claims.token_use, claims.username, claims.client_id) == ("access", "alice", "client-a")


async def test_id_token_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    claims = await verify(issuer.verifier(token_use="id"), issuer.id_token(username="bob"))
    assert (claims.token_use, claims.username, claims.client_id) == ("id", "bob", "client-a")


async def test_client_credentials_token_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    claims = await verify(issuer.verifier(token_use="access"), issuer.client_credentials_token())
    assert claims.is_machine


async def test_token_use_not_the_signing_key_tells_the_token_type(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token(key=issuer.id_key)
    assert (await verify(issuer.verifier(token_use="access"), token)).token_use == "access"


def test_verify_sync_needs_no_event_loop(issuer: LocalIssuer) -> None:
    assert issuer.verifier(token_use="access").verify_sync(issuer.access_token()).username == "alice"


async def test_verify_and_verify_sync_return_identical_claims(issuer: LocalIssuer) -> None:
    token = issuer.id_token(groups=["admins"], custom={"tenant": "acme"})
    by_async = await issuer.verifier(token_use="id").verify(token)
    by_sync = issuer.verifier(token_use="id").verify_sync(token)
    assert by_async.to_dict() == by_sync.to_dict()


@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda issuer: issuer.access_token(expires_in=-1), id="expired"),
        pytest.param(lambda issuer: issuer.access_token(bad_signature=True), id="bad-signature"),
        pytest.param(lambda issuer: issuer.id_token(), id="wrong-token-use"),
        pytest.param(lambda issuer: "not.a.token", id="malformed"),
        pytest.param(lambda issuer: issuer.access_token(scopes=["other"]), id="missing-scope"),
    ],
)
async def test_verify_and_verify_sync_raise_the_same_error(issuer: LocalIssuer, build: TokenBuilder) -> None:
    token = build(issuer)
    verifier = issuer.verifier(token_use="access", scopes="aws.cognito.signin.user.admin")
    with pytest.raises(errors.CognitoGuardError) as by_async:
        await verifier.verify(token)
    with pytest.raises(errors.CognitoGuardError) as by_sync:
        verifier.verify_sync(token)
    assert (type(by_async.value), by_async.value.message) == (type(by_sync.value), by_sync.value.message)


# -- the token's shape ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [None, 0, 1.5, b"eyJ.eyJ.sig", bytearray(b"a.b.c"), ["a", "b", "c"], {"token": "a.b.c"}],
    ids=["None", "int", "float", "bytes", "bytearray", "list", "dict"],
)
async def test_token_that_is_not_a_str_is_rejected_as_malformed(
    issuer: LocalIssuer, verify: VerifyFn, token: object
) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), token)


async def test_a_valid_token_as_bytes_is_rejected_as_malformed(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token().encode())


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda token: f"Bearer {token}", id="bearer-prefix"),
        pytest.param(lambda token: f" {token}", id="leading-space"),
        pytest.param(lambda token: f"{token} ", id="trailing-space"),
        pytest.param(lambda token: f"{token}\n", id="trailing-newline"),
        pytest.param(lambda token: f"\t{token}", id="leading-tab"),
        pytest.param(lambda token: token.replace(".", ". ", 1), id="space-after-dot"),
        pytest.param(lambda token: token[:20] + "\r\n" + token[20:], id="line-break-inside"),
        pytest.param(lambda token: f"{token}=", id="padding-on-signature"),
        pytest.param(lambda token: f"{token}==", id="double-padding-on-signature"),
        pytest.param(lambda token: token.replace(".", "=.", 1), id="padding-on-header"),
        pytest.param(lambda token: token.replace(".", "==.", 2), id="padding-on-header-and-payload"),
        pytest.param(lambda token: replace_segment(token, 2, non_canonical(token.split(".")[2])), id="non-canonical"),
        pytest.param(lambda token: token[:-1], id="impossible-length"),
        pytest.param(lambda token: f"{token}AAA", id="impossible-length-ending-in-A"),
        pytest.param(lambda token: "+" + token[1:], id="standard-base64-plus"),
        pytest.param(lambda token: token[:-1] + "/", id="standard-base64-slash"),
        pytest.param(lambda token: token.rsplit(".", 1)[0], id="two-segments"),
        pytest.param(lambda token: f"{token}.{token.split('.')[2]}", id="four-segments"),
        pytest.param(lambda token: f"{token}.", id="trailing-dot"),
        pytest.param(lambda token: token.split(".")[1], id="one-segment"),
        pytest.param(lambda token: "", id="empty"),
        pytest.param(lambda token: "..", id="only-dots"),
        pytest.param(lambda token: replace_segment(token, 0, ""), id="empty-header"),
        pytest.param(lambda token: replace_segment(token, 1, ""), id="empty-payload"),
        pytest.param(lambda token: replace_segment(token, 2, ""), id="empty-signature"),
        pytest.param(lambda token: "é" + token[1:], id="non-ascii-letter"),
        pytest.param(lambda token: token[:30] + "\u200b" + token[30:], id="zero-width-space"),
        pytest.param(lambda token: token.replace("e", "\uff45", 1), id="fullwidth-letter"),
        pytest.param(lambda token: token[:10] + "\x00" + token[10:], id="nul-byte"),
    ],
)
async def test_token_that_is_not_three_base64url_segments_is_rejected_as_malformed(
    issuer: LocalIssuer, verify: VerifyFn, mangle: Callable[[str], str]
) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), mangle(issuer.access_token()))


@pytest.mark.parametrize("header", ["not json", "[]", '"RS256"', "1", "null", '{"alg": "RS256"', "{}x", "\ufeff{}"])
async def test_header_that_is_not_a_json_object_is_rejected_as_malformed(
    issuer: LocalIssuer, verify: VerifyFn, header: str
) -> None:
    token = sign_raw(header, json.dumps(valid_claims(issuer)), issuer.access_key)
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), token)


@pytest.mark.parametrize(
    "payload", ["not json", "[]", '"claims"', "1", "null", "true", '{"sub": "x"', '{"sub": "x"} {}', "\ufeff{}"]
)
async def test_payload_that_is_not_a_json_object_is_rejected_as_malformed(
    issuer: LocalIssuer, verify: VerifyFn, payload: str
) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), issuer.sign(payload))


async def test_payload_that_is_not_utf8_is_rejected_as_malformed(issuer: LocalIssuer, verify: VerifyFn) -> None:
    header = b64url(json.dumps({"kid": issuer.access_key.kid, "alg": "RS256"}).encode())
    payload = b64url(b'{"sub": "\xff"}')
    signing_input = f"{header}.{payload}"
    token = f"{signing_input}.{b64url(issuer.access_key.sign(signing_input.encode()))}"
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), token)


def padded_token(issuer: LocalIssuer, max_length: int) -> str:
    """The longest valid access token (a ``pad`` claim grows it) of at most ``max_length`` characters."""
    low, high = 0, max_length
    while low < high:
        middle = (low + high + 1) // 2
        if len(issuer.access_token(claims={"pad": "x" * middle})) <= max_length:
            low = middle
        else:
            high = middle - 1
    return issuer.access_token(claims={"pad": "x" * low})


async def test_token_of_max_token_length_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token()
    assert (await verify(issuer.verifier(token_use="access", max_token_length=len(token)), token)).sub


async def test_token_longer_than_max_token_length_is_rejected_as_malformed(
    issuer: LocalIssuer, verify: VerifyFn
) -> None:
    token = issuer.access_token()
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access", max_token_length=len(token) - 1), token)


async def test_token_just_under_32_kib_is_accepted_by_default(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = padded_token(issuer, 32 * 1024)
    assert len(token) > 32 * 1024 - 4
    assert (await verify(issuer.verifier(token_use="access"), token)).sub


async def test_token_over_32_kib_is_rejected_as_malformed_by_default(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token(claims={"pad": "x" * 24 * 1024})
    assert len(token) > 32 * 1024
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), token)


async def test_huge_garbage_string_is_rejected_as_malformed(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.MalformedTokenError):
        await verify(issuer.verifier(token_use="access"), "é" * 10_000_000)


# -- algorithm --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "HS512", "RS512", "PS256", "ES256", "", "rs256", 256])
async def test_token_with_a_disallowed_alg_is_rejected(issuer: LocalIssuer, verify: VerifyFn, alg: object) -> None:
    with pytest.raises(errors.AlgorithmError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token(headers={"alg": alg}))


async def test_token_without_alg_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = sign_compact({"kid": issuer.access_key.kid}, valid_claims(issuer), issuer.access_key)
    with pytest.raises(errors.AlgorithmError):
        await verify(issuer.verifier(token_use="access"), token)


async def test_unsigned_alg_none_token_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    header = b64url(json.dumps({"kid": issuer.access_key.kid, "alg": "none"}).encode())
    token = f"{header}.{b64url(json.dumps(valid_claims(issuer)).encode())}."
    with pytest.raises(errors.TokenError):
        await verify(issuer.verifier(token_use="access"), token)


async def test_hs256_token_keyed_with_the_public_key_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    public_pem = issuer.access_key.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = b64url(json.dumps({"kid": issuer.access_key.kid, "alg": "HS256"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(valid_claims(issuer)).encode())}"
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(errors.AlgorithmError):
        await verify(issuer.verifier(token_use="access"), f"{signing_input}.{b64url(mac)}")


@pytest.mark.parametrize("crit", [["exp"], [], "b64", None])
async def test_token_with_a_crit_header_is_rejected(issuer: LocalIssuer, verify: VerifyFn, crit: object) -> None:
    header = {"kid": issuer.access_key.kid, "alg": "RS256", "crit": crit}
    token = sign_compact(header, valid_claims(issuer), issuer.access_key)
    with pytest.raises(errors.AlgorithmError):
        await verify(issuer.verifier(token_use="access"), token)


def rsa_jwks_without_alg(issuer: LocalIssuer) -> dict[str, Any]:
    keys = [{name: value for name, value in jwk.items() if name != "alg"} for jwk in issuer.jwks["keys"]]
    return {"keys": keys}


async def test_rs512_token_is_accepted_when_allowed_and_the_key_does_not_pin_alg(
    issuer: LocalIssuer, verify: VerifyFn
) -> None:
    verifier = issuer.verifier(token_use="access", algorithms=["RS256", "RS512"], jwks=rsa_jwks_without_alg(issuer))
    token = jwt.encode(
        valid_claims(issuer), issuer.access_key.private_key, algorithm="RS512", headers={"kid": issuer.access_key.kid}
    )
    assert (await verify(verifier, token)).sub


async def test_token_alg_differing_from_the_jwk_alg_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access", algorithms=["RS256", "RS512"])  # the JWKS says "alg": "RS256"
    token = jwt.encode(
        valid_claims(issuer), issuer.access_key.private_key, algorithm="RS512", headers={"kid": issuer.access_key.kid}
    )
    with pytest.raises(errors.AlgorithmError):
        await verify(verifier, token)


async def test_token_alg_that_does_not_fit_the_rsa_key_type_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = issuer.verifier(token_use="access", algorithms=["RS256", "ES256"], jwks=rsa_jwks_without_alg(issuer))
    token = jwt.encode(valid_claims(issuer), ec_key, algorithm="ES256", headers={"kid": issuer.access_key.kid})
    with pytest.raises(errors.AlgorithmError):
        await verify(verifier, token)


def jwks_with_ec_key(issuer: LocalIssuer, ec_key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    ec_jwk = {**ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True), "kid": "ec-key-1", "use": "sig"}
    return {"keys": [*issuer.jwks["keys"], ec_jwk]}


async def test_es256_token_is_accepted_with_an_ec_key_when_allowed(
    issuer: LocalIssuer, verify: VerifyFn, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = issuer.verifier(token_use="access", algorithms=["RS256", "ES256"], jwks=jwks_with_ec_key(issuer, ec_key))
    token = jwt.encode(valid_claims(issuer), ec_key, algorithm="ES256", headers={"kid": "ec-key-1"})
    assert (await verify(verifier, token)).sub


async def test_rs256_token_naming_an_ec_key_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, ec_key: ec.EllipticCurvePrivateKey
) -> None:
    verifier = issuer.verifier(token_use="access", algorithms=["RS256", "ES256"], jwks=jwks_with_ec_key(issuer, ec_key))
    with pytest.raises(errors.AlgorithmError):
        await verify(verifier, issuer.access_token(headers={"kid": "ec-key-1"}))


async def test_key_with_use_enc_never_verifies(issuer: LocalIssuer, verify: VerifyFn) -> None:
    jwks = issuer.jwks
    jwks["keys"][0]["use"] = "enc"  # the access key
    with pytest.raises(errors.KeyNotFoundError):
        await verify(issuer.verifier(token_use="access", jwks=jwks), issuer.access_token())


async def test_key_without_use_verifies(issuer: LocalIssuer, verify: VerifyFn) -> None:
    jwks = issuer.jwks
    del jwks["keys"][0]["use"]
    assert (await verify(issuer.verifier(token_use="access", jwks=jwks), issuer.access_token())).sub


# -- which key ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["jwk", "jku", "x5u", "x5c"])
async def test_key_headers_never_choose_the_key(
    issuer: LocalIssuer, verify: VerifyFn, other_keys: tuple[SigningKeyPair, SigningKeyPair], header: str
) -> None:
    attacker = other_keys[0]
    values: dict[str, object] = {
        "jwk": attacker.public_jwk,
        "jku": "https://attacker.example/jwks.json",
        "x5u": "https://attacker.example/cert.pem",
        "x5c": ["MIIBattacker"],
    }
    token = issuer.access_token(key=attacker, headers={header: values[header]})
    with pytest.raises(errors.KeyNotFoundError):
        await verify(issuer.verifier(token_use="access"), token)


async def test_embedded_jwk_under_a_known_kid_fails_the_signature_check(
    issuer: LocalIssuer, verify: VerifyFn, other_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    attacker = other_keys[0]
    header = {
        "kid": issuer.access_key.kid,
        "alg": "RS256",
        "jwk": {**attacker.public_jwk, "kid": issuer.access_key.kid},
    }
    with pytest.raises(errors.SignatureError):
        await verify(issuer.verifier(token_use="access"), sign_compact(header, valid_claims(issuer), attacker))


async def test_key_headers_are_ignored_when_the_pool_key_signed(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token(headers={"jku": "https://attacker.example/jwks.json", "typ": "JWT"})
    assert (await verify(issuer.verifier(token_use="access"), token)).sub


async def test_token_with_an_unknown_kid_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.KeyNotFoundError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token(headers={"kid": "unknown-kid"}))


@pytest.mark.parametrize("kid", [None, 1, "", ["access-key-1"], {"kid": "access-key-1"}])
async def test_token_without_a_string_kid_is_rejected(issuer: LocalIssuer, verify: VerifyFn, kid: object) -> None:
    header = {"alg": "RS256"} if kid is None else {"alg": "RS256", "kid": kid}
    with pytest.raises(errors.TokenError):
        await verify(issuer.verifier(token_use="access"), sign_compact(header, valid_claims(issuer), issuer.access_key))


# -- signature ------------------------------------------------------------------------------------------------------


async def test_token_signed_by_a_key_outside_the_jwks_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.SignatureError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token(bad_signature=True))


async def test_token_with_a_tampered_payload_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    mine = issuer.access_token(username="mallory", scopes=["profile"])
    admins = issuer.access_token(username="mallory", scopes=["admin"])
    with pytest.raises(errors.SignatureError):
        await verify(issuer.verifier(token_use="access"), replace_segment(mine, 1, admins.split(".")[1]))


async def test_token_with_a_tampered_header_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token()
    header = b64url(json.dumps({"kid": issuer.access_key.kid, "alg": "RS256", "typ": "JWT"}).encode())
    with pytest.raises(errors.SignatureError):
        await verify(issuer.verifier(token_use="access"), replace_segment(token, 0, header))


async def test_signature_of_the_wrong_length_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token()
    with pytest.raises(errors.SignatureError):
        await verify(issuer.verifier(token_use="access"), token + "AA")


def token_whose_signature_starts_with_a_zero_byte(issuer: LocalIssuer) -> str:
    """A genuine token whose RS256 signature begins with 0x00 (about one in 256 does)."""
    for attempt in range(5000):  # fails to find one with probability (255/256) ** 5000, about 3e-9
        token = issuer.access_token(claims={"jti": f"jti-{attempt}"})
        if signature_of(token)[0] == 0:
            return token
    raise AssertionError("no signature starting with a zero byte in 5000 tokens")


def signature_of(token: str) -> bytes:
    segment = token.split(".")[2]
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


async def test_signature_missing_its_leading_zero_byte_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = token_whose_signature_starts_with_a_zero_byte(issuer)
    verifier = issuer.verifier(token_use="access", cache_size=0)
    await verify(verifier, token)  # the genuine spelling verifies
    shortened = replace_segment(token, 2, b64url(signature_of(token)[1:]))  # same number, another token string

    with pytest.raises(errors.SignatureError):
        await verify(verifier, shortened)


async def test_signature_with_an_extra_leading_zero_byte_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token()
    lengthened = replace_segment(token, 2, b64url(b"\x00" + signature_of(token)))

    with pytest.raises(errors.SignatureError):
        await verify(issuer.verifier(token_use="access", cache_size=0), lengthened)


# -- required claims and claim types --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token_use", "claim"),
    [
        ("access", "exp"),
        ("access", "iat"),
        ("access", "sub"),
        ("access", "client_id"),
        ("id", "exp"),
        ("id", "iat"),
        ("id", "sub"),
        ("id", "aud"),
    ],
)
async def test_token_missing_a_required_claim_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, token_use: str, claim: str
) -> None:
    claims = valid_claims(issuer, token_use)
    del claims[claim]
    with pytest.raises(errors.ClaimError):
        await verify(issuer.verifier(token_use=None), issuer.sign(claims, key="access"))


async def test_access_token_missing_client_id_is_rejected_even_when_any_client_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.ClaimError):
        await verify(
            issuer.verifier(token_use="access", client_id=None), issuer.access_token(claims={"client_id": None})
        )


@pytest.mark.parametrize("sub", ['""', "1", "null", '["user"]', '{"id": "user"}'])
async def test_token_whose_sub_is_not_a_non_empty_string_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, sub: str
) -> None:
    with pytest.raises(errors.ClaimError):
        await verify(issuer.verifier(token_use="access"), issuer.sign(with_raw_claim(valid_claims(issuer), "sub", sub)))


WRONG_TYPES = [
    # (token_use, claim, the claim's value as JSON text)
    pytest.param("access", "scope", '["openid", "profile"]', id="scope-list"),
    pytest.param("access", "scope", "1", id="scope-number"),
    pytest.param("access", "scope", "null", id="scope-null"),
    pytest.param("access", "cognito:groups", '["admins", 1]', id="groups-with-number"),
    pytest.param("access", "cognito:groups", "[null]", id="groups-with-null"),
    pytest.param("access", "cognito:groups", '[["admins"]]', id="groups-nested"),
    pytest.param("access", "cognito:groups", '{"admins": true}', id="groups-object"),
    pytest.param("access", "cognito:groups", "true", id="groups-bool"),
    pytest.param(
        "access",
        "cognito:groups",
        '"admins"',
        id="groups-string",
    ),
    pytest.param("id", "cognito:roles", '[{"arn": "x"}]', id="roles-with-object"),
    pytest.param(
        "id",
        "cognito:roles",
        '"arn:aws:iam::123456789012:role/admin"',
        id="roles-string",
    ),
    pytest.param("id", "cognito:preferred_role", '["arn:aws:iam::123456789012:role/a"]', id="preferred-role-list"),
    pytest.param(
        "access",
        "exp",
        '"4102444800"',
        id="exp-string",
    ),
    pytest.param("access", "exp", "true", id="exp-bool"),
    pytest.param("access", "exp", "null", id="exp-null"),
    pytest.param("access", "exp", "[4102444800]", id="exp-list"),
    pytest.param("access", "exp", "1e999", id="exp-1e999-is-infinity"),
    pytest.param("access", "exp", "Infinity", id="exp-infinity"),
    pytest.param("access", "exp", "NaN", id="exp-nan"),
    pytest.param(
        "access",
        "exp",
        "1" + "0" * 400,
        id="exp-integer-beyond-float-range",
    ),
    pytest.param(
        "access",
        "iat",
        '"1"',
        id="iat-string",
    ),
    pytest.param("access", "iat", "false", id="iat-bool"),
    pytest.param("access", "iat", "-Infinity", id="iat-minus-infinity"),
    pytest.param(
        "access",
        "iat",
        "-1" + "0" * 400,
        id="iat-integer-beyond-float-range",
    ),
    pytest.param(
        "access",
        "nbf",
        '"1"',
        id="nbf-string",
    ),
    pytest.param("access", "nbf", "{}", id="nbf-object"),
    pytest.param(
        "access",
        "auth_time",
        '"yesterday"',
        id="auth-time-string",
    ),
    pytest.param("access", "auth_time", "true", id="auth-time-bool"),
    pytest.param("access", "username", "1", id="username-number"),
    pytest.param("id", "cognito:username", '["alice"]', id="cognito-username-list"),
    pytest.param("access", "client_id", '["client-a"]', id="client-id-list"),
    pytest.param("access", "client_id", "null", id="client-id-null"),
    pytest.param("access", "token_use", "1", id="token-use-number"),
    pytest.param("access", "jti", "1", id="jti-number"),
    pytest.param("access", "origin_jti", "[]", id="origin-jti-list"),
    pytest.param("access", "event_id", "{}", id="event-id-object"),
    pytest.param("id", "nonce", "1", id="nonce-number"),
    pytest.param("id", "at_hash", "true", id="at-hash-bool"),
    pytest.param("id", "aud", '["client-a"]', id="id-aud-list"),
    pytest.param("id", "aud", "null", id="id-aud-null"),
    pytest.param("id", "aud", "1", id="id-aud-number"),
]


@pytest.mark.parametrize(("token_use", "claim", "raw_json"), WRONG_TYPES)
async def test_standard_claim_of_the_wrong_json_type_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, token_use: str, claim: str, raw_json: str
) -> None:
    token = issuer.sign(with_raw_claim(valid_claims(issuer, token_use), claim, raw_json))
    with pytest.raises(errors.ClaimError):
        await verify(issuer.verifier(token_use=None), token)


@pytest.mark.parametrize(
    ("token_use", "claim", "raw_json"),
    [
        ("access", "scope", '"openid profile"'),
        ("access", "cognito:groups", '["admins", "users"]'),
        ("access", "cognito:groups", "[]"),
        ("id", "cognito:roles", '["arn:aws:iam::123456789012:role/a"]'),
        ("id", "cognito:preferred_role", '"arn:aws:iam::123456789012:role/a"'),
        ("access", "exp", "4102444800.5"),
        ("access", "iat", "1799999999.25"),
        ("access", "nbf", "1700000000"),
        ("access", "auth_time", "1700000000"),
        ("id", "identities", '[{"providerName": "Google", "primary": "true"}]'),
        ("access", "version", "2"),
    ],
)
async def test_standard_claim_of_the_right_json_type_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn, token_use: str, claim: str, raw_json: str
) -> None:
    token = issuer.sign(with_raw_claim(valid_claims(issuer, token_use), claim, raw_json))
    assert claim in await verify(issuer.verifier(token_use=None), token)


@pytest.mark.parametrize(
    "depth",
    [
        100,
        pytest.param(600),
        pytest.param(900),
        5000,
    ],
)
async def test_deeply_nested_extra_claim_never_crashes(issuer: LocalIssuer, verify: VerifyFn, depth: int) -> None:
    token = issuer.sign(with_raw_claim(valid_claims(issuer), "deep", "[" * depth + "]" * depth))
    try:
        claims = await verify(issuer.verifier(token_use="access"), token)
    except errors.TokenError:
        return
    assert len(json.dumps(claims.to_dict())) > 2 * depth


# -- time -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("exp_offset", "leeway"), [(1, 0), (0.5, 0), (-29, 30), (-1, 1.5)])
async def test_token_before_exp_plus_leeway_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn, exp_offset: float, leeway: float
) -> None:
    token = issuer.access_token(claims={"exp": issuer.clock() + exp_offset})
    assert (await verify(issuer.verifier(token_use="access", leeway=leeway), token)).sub


@pytest.mark.parametrize(("exp_offset", "leeway"), [(0, 0), (-1, 0), (-30, 30), (-3600, 60)])
async def test_expired_token_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, exp_offset: float, leeway: float
) -> None:
    token = issuer.access_token(claims={"exp": issuer.clock() + exp_offset})
    with pytest.raises(errors.ExpiredTokenError):
        await verify(issuer.verifier(token_use="access", leeway=leeway), token)


async def test_token_expired_by_the_helper_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.ExpiredTokenError):
        await verify(issuer.verifier(token_use="access"), issuer.id_token(expires_in=-1))


@pytest.mark.parametrize(("iat_offset", "leeway"), [(0, 0), (-60, 0), (30, 30), (1, 1.5)])
async def test_token_issued_before_now_plus_leeway_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn, iat_offset: float, leeway: float
) -> None:
    token = issuer.access_token(issued_at=issuer.clock() + iat_offset)
    assert (await verify(issuer.verifier(token_use="access", leeway=leeway), token)).sub


@pytest.mark.parametrize(("iat_offset", "leeway"), [(1, 0), (31, 30), (3600, 60)])
async def test_token_issued_in_the_future_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, iat_offset: float, leeway: float
) -> None:
    token = issuer.access_token(issued_at=issuer.clock() + iat_offset)
    with pytest.raises(errors.IssuedInFutureError):
        await verify(issuer.verifier(token_use="access", leeway=leeway), token)


@pytest.mark.parametrize(("nbf_offset", "leeway"), [(0, 0), (-60, 0), (30, 30)])
async def test_token_past_its_nbf_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn, nbf_offset: float, leeway: float
) -> None:
    token = issuer.access_token(claims={"nbf": issuer.clock() + nbf_offset})
    assert (await verify(issuer.verifier(token_use="access", leeway=leeway), token)).sub


@pytest.mark.parametrize(("nbf_offset", "leeway"), [(1, 0), (31, 30)])
async def test_token_before_its_nbf_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, nbf_offset: float, leeway: float
) -> None:
    token = issuer.access_token(claims={"nbf": issuer.clock() + nbf_offset})
    with pytest.raises(errors.NotYetValidError):
        await verify(issuer.verifier(token_use="access", leeway=leeway), token)


async def test_token_accepted_now_is_rejected_once_the_clock_passes_exp(
    issuer: LocalIssuer, verify: VerifyFn, clock: Clock
) -> None:
    verifier = issuer.verifier(token_use="access")
    token = issuer.access_token(expires_in=300)
    await verify(verifier, token)
    clock.advance(300)
    with pytest.raises(errors.ExpiredTokenError):
        await verify(verifier, token)


# -- issuer ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["cognito-idp", "issuer-cognito-idp"])
async def test_both_cognito_issuer_hosts_are_accepted(issuer: LocalIssuer, verify: VerifyFn, host: str) -> None:
    token = issuer.access_token(claims={"iss": f"https://{host}.eu-west-1.amazonaws.com/eu-west-1_TestPool1"})
    assert (await verify(issuer.verifier(token_use="access"), token)).sub


def test_verifier_lists_both_issuer_hosts_of_its_pool(issuer: LocalIssuer) -> None:
    assert set(issuer.verifier(token_use="access").issuers) == {
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1",
        "https://issuer-cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1",
    }


@pytest.mark.parametrize(
    "iss",
    [
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_OtherPool",
        "https://cognito-idp.us-east-1.amazonaws.com/eu-west-1_TestPool1",
        "http://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1/",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_testpool1",
        "https://Cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1",
        "https://cognito-idp.eu-west-1.amazonaws.com.evil.example/eu-west-1_TestPool1",
        "https://evil.example/https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1",
        " https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1",
        "",
    ],
)
async def test_token_from_another_issuer_is_rejected(issuer: LocalIssuer, verify: VerifyFn, iss: str) -> None:
    with pytest.raises(errors.IssuerError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token(claims={"iss": iss}))


@pytest.mark.parametrize("iss", [None, 1, ["https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"]])
async def test_token_without_a_string_iss_is_rejected(issuer: LocalIssuer, verify: VerifyFn, iss: object) -> None:
    with pytest.raises(errors.IssuerError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token(claims={"iss": iss}))


@pytest.fixture
def local_issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock) -> LocalIssuer:
    """A pool of a local emulator: custom issuer and a pool id that is not a Cognito one."""
    return LocalIssuer(
        user_pool_id="local_AbC123",
        client_id="client-a",
        issuer="http://localhost:9229/local_AbC123",
        clock=clock,
        access_key=session_keys[0],
        id_key=session_keys[1],
    )


async def test_issuer_override_accepts_its_issuer(local_issuer: LocalIssuer, verify: VerifyFn) -> None:
    assert (await verify(local_issuer.verifier(token_use="access"), local_issuer.access_token())).sub


async def test_issuer_override_replaces_the_cognito_hosts(local_issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = local_issuer.access_token(claims={"iss": "https://cognito-idp.local.amazonaws.com/local_AbC123"})
    with pytest.raises(errors.IssuerError):
        await verify(local_issuer.verifier(token_use="access"), token)


# -- token_use ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("token_use", [None, "refresh", "ID", "Access", "", "both"])
async def test_token_whose_token_use_is_not_id_or_access_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, token_use: str | None
) -> None:
    token = issuer.access_token(claims={"token_use": token_use})
    with pytest.raises(errors.TokenUseError):
        await verify(issuer.verifier(token_use=None), token)


async def test_id_token_is_rejected_where_access_tokens_are_required(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.TokenUseError):
        await verify(issuer.verifier(token_use="access"), issuer.id_token())


async def test_access_token_is_rejected_where_id_tokens_are_required(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.TokenUseError):
        await verify(issuer.verifier(token_use="id"), issuer.access_token())


@pytest.mark.parametrize("kind", ["access", "id"])
async def test_token_use_none_accepts_both_kinds(issuer: LocalIssuer, verify: VerifyFn, kind: str) -> None:
    token = issuer.access_token() if kind == "access" else issuer.id_token()
    assert (await verify(issuer.verifier(token_use=None), token)).token_use == kind


# -- app client and audience ----------------------------------------------------------------------------------------


async def test_id_token_for_another_app_client_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.ClientIdError):
        await verify(issuer.verifier(token_use="id"), issuer.id_token(client_id="client-z"))


async def test_access_token_for_another_app_client_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.ClientIdError):
        await verify(issuer.verifier(token_use="access"), issuer.access_token(client_id="client-z"))


async def test_client_credentials_token_for_another_app_client_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.ClientIdError):
        await verify(issuer.verifier(token_use="access"), issuer.client_credentials_token(client_id="client-z"))


async def test_access_token_with_the_client_id_in_aud_only_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.access_token(client_id="client-z", claims={"aud": "client-a"})
    with pytest.raises(errors.ClientIdError):
        await verify(issuer.verifier(token_use="access"), token)


@pytest.mark.parametrize("client", ["client-a", "client-b"])
@pytest.mark.parametrize("kind", ["access", "id"])
async def test_any_client_of_a_client_id_list_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn, client: str, kind: str
) -> None:
    verifier = issuer.verifier(token_use=None, client_id=["client-a", "client-b"])
    token = issuer.access_token(client_id=client) if kind == "access" else issuer.id_token(client_id=client)
    assert (await verify(verifier, token)).client_id == client


@pytest.mark.parametrize("kind", ["access", "id"])
async def test_client_outside_a_client_id_list_is_rejected(issuer: LocalIssuer, verify: VerifyFn, kind: str) -> None:
    verifier = issuer.verifier(token_use=None, client_id=("client-a", "client-b"))
    token = issuer.access_token(client_id="client-c") if kind == "access" else issuer.id_token(client_id="client-c")
    with pytest.raises(errors.ClientIdError):
        await verify(verifier, token)


@pytest.mark.parametrize("kind", ["access", "id"])
async def test_client_id_none_accepts_any_app_client(issuer: LocalIssuer, verify: VerifyFn, kind: str) -> None:
    verifier = issuer.verifier(token_use=None, client_id=None)
    token = issuer.access_token(client_id="client-z") if kind == "access" else issuer.id_token(client_id="client-z")
    assert (await verify(verifier, token)).client_id == "client-z"


@pytest.mark.parametrize("aud", ["https://elsewhere.example.com", ["x", "y"], []])
async def test_access_token_aud_is_ignored_without_an_audience_option(
    issuer: LocalIssuer, verify: VerifyFn, aud: object
) -> None:
    token = issuer.access_token(claims={"aud": aud})
    assert (await verify(issuer.verifier(token_use="access"), token)).sub


@pytest.mark.parametrize(
    "aud",
    [
        API,
        pytest.param([API]),
        pytest.param(["https://other.example", API]),
    ],
)
async def test_access_token_naming_the_required_audience_is_accepted(
    issuer: LocalIssuer, verify: VerifyFn, aud: object
) -> None:
    token = issuer.access_token(claims={"aud": aud})
    assert (await verify(issuer.verifier(token_use="access", audience=API), token)).sub


@pytest.mark.parametrize("aud", [None, "https://other.example", ["https://other.example"], []])
async def test_access_token_not_naming_the_required_audience_is_rejected(
    issuer: LocalIssuer, verify: VerifyFn, aud: object
) -> None:
    token = issuer.access_token(claims={"aud": aud})
    with pytest.raises(errors.AudienceError):
        await verify(issuer.verifier(token_use="access", audience=API), token)


@pytest.mark.parametrize("audience", [None, API], ids=["no-audience-option", "audience-required"])
@pytest.mark.parametrize("aud", [5, 1.5, True, {}, {"aud": API}, [1], [API, 2], [[API]]])
async def test_access_token_aud_of_a_wrong_json_type_is_rejected_whatever_the_options(
    issuer: LocalIssuer, verify: VerifyFn, aud: object, audience: str | None
) -> None:
    token = issuer.access_token(claims={"aud": aud})
    with pytest.raises(errors.ClaimError, match="'aud' must be a string or an array of strings"):
        await verify(issuer.verifier(token_use="access", audience=audience), token)


async def test_access_token_aud_null_is_rejected(issuer: LocalIssuer, verify: VerifyFn) -> None:
    payload = jwt.decode(issuer.access_token(), options={"verify_signature": False})
    token = jwt.encode({**payload, "aud": None}, issuer.access_key.private_key, "RS256", {"kid": issuer.access_key.kid})
    with pytest.raises(errors.ClaimError, match="'aud'"):
        await verify(issuer.verifier(token_use="access"), token)


async def test_any_value_of_an_audience_list_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access", audience=["https://a.example", "https://b.example"])
    assert (await verify(verifier, issuer.access_token(claims={"aud": "https://b.example"}))).sub


# -- verifier-level requirements ------------------------------------------------------------------------------------


async def test_token_with_every_required_scope_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access", scopes=["orders/read", "orders/write"])
    token = issuer.access_token(scopes=["orders/read", "orders/write", "profile"])
    assert (await verify(verifier, token)).scopes >= {"orders/read", "orders/write"}


async def test_token_lacking_one_required_scope_is_denied(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access", scopes=["orders/read", "orders/write"])
    with pytest.raises(errors.MissingScopeError) as raised:
        await verify(verifier, issuer.access_token(scopes=["orders/read"]))
    assert raised.value.status_code == 403


async def test_id_token_has_no_scopes_to_satisfy_a_scope_requirement(issuer: LocalIssuer, verify: VerifyFn) -> None:
    with pytest.raises(errors.MissingScopeError):
        await verify(issuer.verifier(token_use="id", scopes="openid"), issuer.id_token())


async def test_token_in_any_required_group_is_accepted(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access", groups=["admins", "editors"])
    assert (await verify(verifier, issuer.access_token(groups=["users", "editors"]))).groups == ("users", "editors")


@pytest.mark.parametrize("groups", [["users"], [], None])
async def test_token_in_no_required_group_is_denied(
    issuer: LocalIssuer, verify: VerifyFn, groups: list[str] | None
) -> None:
    verifier = issuer.verifier(token_use="access", groups=["admins", "editors"])
    with pytest.raises(errors.MissingGroupError):
        await verify(verifier, issuer.access_token(groups=groups))


async def test_role_requirement_rejects_claims_without_the_role(issuer: LocalIssuer) -> None:
    claims = issuer.verifier(token_use="id").verify_sync(issuer.id_token(roles=["arn:aws:iam::1:role/reader"]))
    with pytest.raises(errors.RoleNotAllowedError):
        Requirement.build(roles="arn:aws:iam::1:role/admin").check(claims)


# -- several pools --------------------------------------------------------------------------------------------------


@pytest.fixture
def two_pools(issuer: LocalIssuer, other_issuer: LocalIssuer) -> CognitoVerifier:
    return CognitoVerifier.for_pools(
        [
            UserPool(user_pool_id=issuer.user_pool_id, client_id="client-a", token_use="access", jwks=issuer.jwks),
            UserPool(
                user_pool_id=other_issuer.user_pool_id, client_id="client-b", token_use="id", jwks=other_issuer.jwks
            ),
        ],
        clock=issuer.clock,
    )


async def test_token_of_the_first_pool_is_accepted(
    two_pools: CognitoVerifier, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    assert (await verify(two_pools, issuer.access_token())).issuer == issuer.issuer


async def test_token_of_the_second_pool_is_accepted(
    two_pools: CognitoVerifier, other_issuer: LocalIssuer, verify: VerifyFn
) -> None:
    assert (await verify(two_pools, other_issuer.id_token())).issuer == other_issuer.issuer


async def test_unknown_issuer_is_a_token_error_for_a_multi_pool_verifier(
    two_pools: CognitoVerifier, issuer: LocalIssuer, verify: VerifyFn
) -> None:
    token = issuer.access_token(claims={"iss": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Unknown"})
    with pytest.raises(errors.IssuerError):
        await verify(two_pools, token)


async def test_each_pool_applies_its_own_client_ids(
    two_pools: CognitoVerifier, other_issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.ClientIdError):
        await verify(two_pools, other_issuer.id_token(client_id="client-a"))


async def test_each_pool_applies_its_own_token_use(
    two_pools: CognitoVerifier, other_issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.TokenUseError):
        await verify(two_pools, other_issuer.access_token(client_id="client-b"))


async def test_token_claiming_one_pool_but_signed_by_another_pools_key_is_rejected(
    two_pools: CognitoVerifier, issuer: LocalIssuer, other_issuer: LocalIssuer, verify: VerifyFn
) -> None:
    with pytest.raises(errors.KeyNotFoundError):
        await verify(two_pools, issuer.access_token(key=other_issuer.access_key))


def test_the_same_issuer_twice_is_a_configuration_error(issuer: LocalIssuer) -> None:
    pool = UserPool(user_pool_id=issuer.user_pool_id, client_id="client-a", token_use="access", jwks=issuer.jwks)
    with pytest.raises(errors.ConfigurationError):
        CognitoVerifier.for_pools([pool, pool])


def test_no_pools_is_a_configuration_error() -> None:
    with pytest.raises(errors.ConfigurationError):
        CognitoVerifier.for_pools([])


# -- configuration --------------------------------------------------------------------------------------------------


def good_settings(issuer: LocalIssuer) -> dict[str, Any]:
    return {"user_pool_id": issuer.user_pool_id, "client_id": "client-a", "token_use": "access", "jwks": issuer.jwks}


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param({"user_pool_id": "TestPool1"}, id="pool-id-without-region"),
        pytest.param({"user_pool_id": "eu-west-1"}, id="pool-id-region-only"),
        pytest.param({"user_pool_id": "eu-west-1_"}, id="pool-id-empty-id"),
        pytest.param({"user_pool_id": "_TestPool1"}, id="pool-id-empty-region"),
        pytest.param({"user_pool_id": "EU-WEST-1_TestPool1"}, id="pool-id-upper-region"),
        pytest.param({"user_pool_id": "eu-west_TestPool1"}, id="pool-id-region-without-number"),
        pytest.param({"user_pool_id": "eu-west-1_Test/../Pool"}, id="pool-id-path"),
        pytest.param({"user_pool_id": " eu-west-1_TestPool1"}, id="pool-id-space"),
        pytest.param({"user_pool_id": "eu-west-1_TestPool1\n"}, id="pool-id-newline"),
        pytest.param({"user_pool_id": ""}, id="pool-id-empty"),
        pytest.param({"user_pool_id": None}, id="pool-id-none"),
        pytest.param({"token_use": "both"}, id="token-use-both"),
        pytest.param({"token_use": "ID"}, id="token-use-upper"),
        pytest.param({"token_use": "refresh"}, id="token-use-refresh"),
        pytest.param({"token_use": ""}, id="token-use-empty"),
        pytest.param({"jwks": None, "jwks_uri": "http://example.com/jwks.json"}, id="http-jwks-uri"),
        pytest.param({"jwks": None, "jwks_uri": "ftp://example.com/jwks.json"}, id="ftp-jwks-uri"),
        pytest.param(
            {"jwks": None, "jwks_uri": "http://localhost.evil.example/jwks.json"}, id="http-localhost-lookalike"
        ),
        pytest.param(
            {"jwks": None, "jwks_uri": "http://127.evil.example/jwks.json"},
            id="http-127-lookalike-host",
        ),
        pytest.param({"jwks": None, "jwks_uri": "https:///jwks.json"}, id="https-without-host"),
        pytest.param({"jwks_uri": "https://example.com/jwks.json"}, id="jwks-and-jwks-uri"),
        pytest.param({"leeway": -1}, id="negative-leeway"),
        pytest.param({"leeway": float("nan")}, id="nan-leeway"),
        pytest.param({"leeway": float("inf")}, id="infinite-leeway"),
        pytest.param({"leeway": True}, id="bool-leeway"),
        pytest.param({"algorithms": ["HS256"]}, id="algorithms-hs256"),
        pytest.param({"algorithms": ["RS256", "none"]}, id="algorithms-none"),
        pytest.param({"algorithms": "HS512"}, id="algorithms-str-hs512"),
        pytest.param({"algorithms": []}, id="algorithms-empty"),
        pytest.param({"client_id": []}, id="client-id-empty-list"),
        pytest.param({"client_id": ""}, id="client-id-empty-string"),
        pytest.param({"client_id": ["client-a", ""]}, id="client-id-list-with-empty"),
        pytest.param({"client_id": [1]}, id="client-id-list-with-number"),
        pytest.param({"audience": []}, id="audience-empty-list"),
        pytest.param({"scopes": [""]}, id="scopes-empty-name"),
        pytest.param({"groups": [""]}, id="groups-empty-name"),
        pytest.param({"max_token_length": 0}, id="max-token-length-zero"),
        pytest.param({"cache_size": -1}, id="negative-cache-size"),
        pytest.param({"jwks": {"keys": []}}, id="jwks-without-keys"),
        pytest.param({"jwks": {"not": "a jwks"}}, id="jwks-not-a-jwks"),
        pytest.param({"jwks": "/nonexistent/jwks.json"}, id="jwks-file-missing"),
        pytest.param({"issuer": "http://example.com/local_AbC123"}, id="http-issuer-not-loopback"),
        pytest.param({"issuer": "http://localhost:9229/x", "user_pool_id": ""}, id="issuer-with-empty-pool-id"),
        pytest.param({"issuer": "http://localhost:9229/x", "user_pool_id": "a/b"}, id="issuer-with-slash-pool-id"),
        pytest.param({"issuer": "http://localhost:9229/x", "user_pool_id": "a b"}, id="issuer-with-space-pool-id"),
    ],
)
def test_bad_setting_is_a_configuration_error_at_construction(issuer: LocalIssuer, settings: dict[str, Any]) -> None:
    options = {**good_settings(issuer), **settings}
    if options["jwks"] is None:
        del options["jwks"]
    with pytest.raises(errors.ConfigurationError):
        CognitoVerifier(**options)


def test_configuration_error_is_also_a_value_error(issuer: LocalIssuer) -> None:
    with pytest.raises(ValueError, match="user_pool_id"):
        CognitoVerifier(user_pool_id="nope", client_id="client-a", token_use="access", jwks=issuer.jwks)


@pytest.mark.parametrize(
    "user_pool_id", ["us-east-1_Abc123XYZ", "us-gov-west-1_Abc123XYZ", "eusc-de-east-1_Abc123XYZ", "ap-southeast-2_x1"]
)
def test_cognito_user_pool_ids_of_every_region_shape_are_accepted(issuer: LocalIssuer, user_pool_id: str) -> None:
    verifier = CognitoVerifier(user_pool_id=user_pool_id, client_id="client-a", token_use="access", jwks=issuer.jwks)
    region = user_pool_id.rsplit("_", 1)[0]
    assert f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}" in verifier.issuers


@pytest.mark.parametrize("user_pool_id", ["local_AbC123", "0123456789abcdef0123456789abcdef", "my-pool"])
def test_any_simple_pool_id_is_accepted_with_an_issuer_override(issuer: LocalIssuer, user_pool_id: str) -> None:
    verifier = CognitoVerifier(
        user_pool_id=user_pool_id,
        client_id="client-a",
        token_use="access",
        issuer=f"http://localhost:9229/{user_pool_id}",
        jwks=issuer.jwks,
    )
    assert verifier.issuers == (f"http://localhost:9229/{user_pool_id}",)


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "https://example.com/jwks.json",
        "http://localhost:9229/jwks.json",
        "http://127.0.0.1:9229/jwks.json",
        "http://[::1]:9229/jwks.json",
    ],
)
def test_https_or_loopback_http_jwks_uri_is_accepted(jwks_uri: str) -> None:
    verifier = CognitoVerifier(
        user_pool_id="us-east-1_Abc123XYZ", client_id="client-a", token_use="access", jwks_uri=jwks_uri
    )
    assert verifier.issuers


def test_client_id_is_a_required_keyword(issuer: LocalIssuer) -> None:
    with pytest.raises(TypeError):
        CognitoVerifier(user_pool_id=issuer.user_pool_id, token_use="access", jwks=issuer.jwks)  # type: ignore[call-arg]


def test_token_use_is_a_required_keyword(issuer: LocalIssuer) -> None:
    with pytest.raises(TypeError):
        CognitoVerifier(user_pool_id=issuer.user_pool_id, client_id="client-a", jwks=issuer.jwks)  # type: ignore[call-arg]


# -- where keys come from -------------------------------------------------------------------------------------------


@pytest.fixture
def jwks_file(issuer: LocalIssuer, tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks), encoding="utf-8")
    return path


@pytest.mark.parametrize("as_str", [True, False], ids=["str-path", "Path"])
async def test_keys_are_read_from_a_jwks_file(
    issuer: LocalIssuer, verify: VerifyFn, jwks_file: Path, as_str: bool
) -> None:
    verifier = issuer.verifier(token_use="access", jwks=str(jwks_file) if as_str else jwks_file)
    assert (await verify(verifier, issuer.access_token())).sub


async def test_verifier_from_env_reads_keys_from_the_file_named_by_cognito_jwks_file(
    issuer: LocalIssuer, verify: VerifyFn, jwks_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", "client-a")
    monkeypatch.setenv("COGNITO_JWKS_FILE", str(jwks_file))
    with no_network_client() as client:
        verifier = verifier_from_env(clock=issuer.clock, http_client=client)
        assert (await verify(verifier, issuer.access_token())).sub


def test_missing_file_named_by_cognito_jwks_file_is_a_configuration_error_naming_it(
    issuer: LocalIssuer, tmp_path: Path
) -> None:
    environ = {
        "COGNITO_USER_POOL_ID": issuer.user_pool_id,
        "COGNITO_CLIENT_ID": "client-a",
        "COGNITO_JWKS_FILE": str(tmp_path / "missing.json"),
    }
    with pytest.raises(errors.ConfigurationError, match="COGNITO_JWKS_FILE"):
        verifier_from_env(environ)


def test_the_constructor_never_reads_the_environment(
    issuer: LocalIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_JWKS_FILE", str(tmp_path / "missing.json"))
    verifier = CognitoVerifier(user_pool_id=issuer.user_pool_id, client_id="client-a", token_use="access")
    assert verifier.issuers[0].endswith(issuer.user_pool_id)


def test_keys_are_fetched_from_the_pools_well_known_jwks_uri(issuer: LocalIssuer) -> None:
    requested: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        requested.append(str(request.url))
        return httpx.Response(200, json=issuer.jwks)

    with httpx.Client(transport=httpx.MockTransport(serve)) as client:
        verifier = CognitoVerifier(
            user_pool_id=issuer.user_pool_id,
            client_id="client-a",
            token_use="access",
            clock=issuer.clock,
            http_client=client,
        )
        verifier.verify_sync(issuer.access_token())
    assert requested == [f"{issuer.issuer}/.well-known/jwks.json"]


async def test_unreachable_keys_are_reported_as_keys_unavailable(issuer: LocalIssuer) -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(500))
    async with httpx.AsyncClient(transport=transport) as client:
        verifier = CognitoVerifier(
            user_pool_id=issuer.user_pool_id,
            client_id="client-a",
            token_use="access",
            clock=issuer.clock,
            async_http_client=client,
        )
        with pytest.raises(errors.KeysUnavailableError) as raised:
            await verifier.verify(issuer.access_token())
    assert raised.value.status_code == 503


def test_unreachable_keys_are_reported_as_keys_unavailable_in_sync_code(issuer: LocalIssuer) -> None:
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500))) as client:
        verifier = CognitoVerifier(
            user_pool_id=issuer.user_pool_id,
            client_id="client-a",
            token_use="access",
            clock=issuer.clock,
            http_client=client,
        )
        with pytest.raises(errors.KeysUnavailableError):
            verifier.verify_sync(issuer.access_token())


# -- the verified-result cache --------------------------------------------------------------------------------------


@pytest.fixture
def signature_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records the kid of every signature check the verifier makes."""
    checks: list[str] = []
    original = SigningKey.verify

    def counting(self: SigningKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
        checks.append(self.kid)
        return original(self, alg, signing_input, signature)

    monkeypatch.setattr(SigningKey, "verify", counting)
    return checks


async def test_repeated_token_skips_the_signature_check(
    issuer: LocalIssuer, verify: VerifyFn, signature_checks: list[str]
) -> None:
    verifier = issuer.verifier(token_use="access")
    token = issuer.access_token()
    first = await verify(verifier, token)
    second = await verify(verifier, token)
    assert (second, len(signature_checks)) == (first, 1)


async def test_repeated_token_is_rechecked_for_expiry(issuer: LocalIssuer, verify: VerifyFn, clock: Clock) -> None:
    verifier = issuer.verifier(token_use="access", leeway=5)
    token = issuer.access_token(expires_in=60)
    await verify(verifier, token)
    clock.advance(65)
    with pytest.raises(errors.ExpiredTokenError):
        await verify(verifier, token)


async def test_repeated_token_is_still_accepted_within_the_leeway(
    issuer: LocalIssuer, verify: VerifyFn, clock: Clock
) -> None:
    verifier = issuer.verifier(token_use="access", leeway=5)
    token = issuer.access_token(expires_in=60)
    await verify(verifier, token)
    clock.advance(64)
    assert (await verify(verifier, token)).sub


async def test_repeated_token_is_rechecked_for_issue_time(issuer: LocalIssuer, verify: VerifyFn, clock: Clock) -> None:
    verifier = issuer.verifier(token_use="access")
    token = issuer.access_token()
    await verify(verifier, token)
    clock.advance(-60)  # the host clock was corrected backwards
    with pytest.raises(errors.IssuedInFutureError):
        await verify(verifier, token)


async def test_repeated_token_is_rechecked_against_the_requirements(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access", scopes="orders/write")
    token = issuer.access_token(scopes=["orders/read"])
    for _ in range(2):
        with pytest.raises(errors.MissingScopeError):
            await verify(verifier, token)


async def test_result_cache_holds_at_most_cache_size_tokens(
    issuer: LocalIssuer, verify: VerifyFn, signature_checks: list[str]
) -> None:
    verifier = issuer.verifier(token_use="access", cache_size=3)
    tokens = [issuer.access_token(username=f"user{index}") for index in range(6)]
    for token in tokens:
        await verify(verifier, token)
    signature_checks.clear()
    for token in reversed(tokens):
        await verify(verifier, token)
    assert len(signature_checks) == 3  # the other three came from the cache


async def test_cache_size_zero_checks_every_signature(
    issuer: LocalIssuer, verify: VerifyFn, signature_checks: list[str]
) -> None:
    verifier = issuer.verifier(token_use="access", cache_size=0)
    token = issuer.access_token()
    first = await verify(verifier, token)
    second = await verify(verifier, token)
    assert (second.to_dict(), len(signature_checks)) == (first.to_dict(), 2)


async def test_cached_claims_refuse_item_assignment(issuer: LocalIssuer, verify: VerifyFn) -> None:
    claims = await verify(issuer.verifier(token_use="access"), issuer.access_token())
    with pytest.raises(TypeError):
        claims["sub"] = "admin"  # type: ignore[index]


async def test_nested_arrays_of_cached_claims_are_tuples(issuer: LocalIssuer, verify: VerifyFn) -> None:
    claims = await verify(issuer.verifier(token_use="access"), issuer.access_token(groups=["users"]))
    assert isinstance(claims["cognito:groups"], tuple)


async def test_nested_objects_of_cached_claims_refuse_mutation(issuer: LocalIssuer, verify: VerifyFn) -> None:
    token = issuer.id_token(claims={"identities": [{"providerName": "Google", "primary": "true"}]})
    claims = await verify(issuer.verifier(token_use="id"), token)
    with pytest.raises(TypeError):
        claims["identities"][0]["primary"] = "false"


async def test_changing_a_to_dict_copy_leaves_the_cached_claims_alone(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access")
    token = issuer.access_token(groups=["users"])
    copy = (await verify(verifier, token)).to_dict()
    copy["cognito:groups"].append("admins")
    assert (await verify(verifier, token)).groups == ("users",)


async def test_a_caller_cannot_change_the_groups_of_cached_claims(issuer: LocalIssuer, verify: VerifyFn) -> None:
    verifier = issuer.verifier(token_use="access")
    token = issuer.access_token(groups=["users"])
    claims = await verify(verifier, token)
    with contextlib.suppress(AttributeError, TypeError):
        claims.groups = ("admins",)
    assert (await verify(verifier, token)).groups == ("users",)


# -- errors ---------------------------------------------------------------------------------------------------------

REJECTED: list[Any] = [
    pytest.param(lambda issuer: issuer.access_token(expires_in=-1), {}, id="expired"),
    pytest.param(lambda issuer: issuer.access_token(issued_at=issuer.clock() + 600), {}, id="issued-in-future"),
    pytest.param(lambda issuer: issuer.access_token(claims={"nbf": issuer.clock() + 600}), {}, id="not-yet-valid"),
    pytest.param(lambda issuer: issuer.access_token(bad_signature=True), {}, id="bad-signature"),
    pytest.param(lambda issuer: issuer.access_token(headers={"kid": "nope"}), {}, id="unknown-kid"),
    pytest.param(lambda issuer: issuer.access_token(headers={"alg": "HS256"}), {}, id="bad-alg"),
    pytest.param(lambda issuer: issuer.access_token(headers={"crit": ["x"]}), {}, id="crit"),
    pytest.param(lambda issuer: issuer.access_token(claims={"iss": "https://evil.example"}), {}, id="issuer"),
    pytest.param(lambda issuer: issuer.id_token(), {}, id="token-use"),
    pytest.param(lambda issuer: issuer.access_token(client_id="client-z"), {}, id="client"),
    pytest.param(lambda issuer: issuer.access_token(), {"audience": API}, id="audience"),
    pytest.param(lambda issuer: issuer.access_token(claims={"scope": 1}), {}, id="claim-type"),
    pytest.param(lambda issuer: issuer.access_token(claims={"sub": None}), {}, id="missing-sub"),
    pytest.param(lambda issuer: issuer.access_token(), {"scopes": "admin"}, id="missing-scope"),
    pytest.param(lambda issuer: issuer.access_token(), {"groups": "admins"}, id="missing-group"),
    pytest.param(lambda issuer: issuer.access_token() + "=", {}, id="padding"),
    pytest.param(lambda issuer: " " + issuer.access_token(), {}, id="whitespace"),
    pytest.param(lambda issuer: issuer.access_token() + ".x", {}, id="four-segments"),
    pytest.param(lambda issuer: issuer.access_token(claims={"pad": "x" * 40_000}), {}, id="too-long"),
    pytest.param(lambda issuer: issuer.sign("[1, 2]"), {}, id="payload-array"),
]


@pytest.mark.parametrize(("build", "options"), REJECTED)
async def test_error_messages_never_contain_the_token(
    issuer: LocalIssuer, verify: VerifyFn, build: TokenBuilder, options: dict[str, Any]
) -> None:
    token = build(issuer)
    with pytest.raises(errors.CognitoGuardError) as raised:
        await verify(issuer.verifier(token_use="access", **options), token)
    shown = f"{raised.value} {raised.value!r} {raised.value.message}"
    pieces = [token.strip(), *(segment for segment in token.strip().split(".") if len(segment) >= 8)]
    assert [piece for piece in pieces if piece in shown] == []


@pytest.mark.parametrize(
    ("error", "code", "status_code"),
    [
        (errors.CognitoGuardError, "error", 500),
        (errors.TokenError, "invalid_token", 401),
        (errors.MalformedTokenError, "malformed_token", 401),
        (errors.AlgorithmError, "invalid_algorithm", 401),
        (errors.KeyNotFoundError, "key_not_found", 401),
        (errors.SignatureError, "invalid_signature", 401),
        (errors.ClaimError, "invalid_claim", 401),
        (errors.ExpiredTokenError, "token_expired", 401),
        (errors.NotYetValidError, "token_not_yet_valid", 401),
        (errors.IssuedInFutureError, "token_issued_in_future", 401),
        (errors.IssuerError, "invalid_issuer", 401),
        (errors.TokenUseError, "invalid_token_use", 401),
        (errors.ClientIdError, "client_not_allowed", 401),
        (errors.AudienceError, "invalid_audience", 401),
        (errors.AuthorizationError, "denied", 403),
        (errors.MissingScopeError, "missing_scope", 403),
        (errors.MissingGroupError, "missing_group", 403),
        (errors.RoleNotAllowedError, "role_not_allowed", 403),
        (errors.KeysUnavailableError, "keys_unavailable", 503),
        (errors.ConfigurationError, "configuration_error", 500),
    ],
)
def test_every_error_has_a_stable_code_and_status(
    error: type[errors.CognitoGuardError], code: str, status_code: int
) -> None:
    assert (error.code, error.status_code) == (code, status_code)


def test_error_codes_are_unique() -> None:
    classes = [getattr(errors, name) for name in errors.__all__]
    assert len({error.code for error in classes}) == len(classes)


@pytest.mark.parametrize(
    "error",
    [
        errors.MalformedTokenError,
        errors.AlgorithmError,
        errors.KeyNotFoundError,
        errors.SignatureError,
        errors.ClaimError,
        errors.ExpiredTokenError,
        errors.NotYetValidError,
        errors.IssuedInFutureError,
        errors.IssuerError,
        errors.TokenUseError,
        errors.ClientIdError,
        errors.AudienceError,
    ],
)
def test_token_problems_are_token_errors(error: type[errors.CognitoGuardError]) -> None:
    assert issubclass(error, errors.TokenError)
