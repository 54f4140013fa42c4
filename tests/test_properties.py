"""Properties of the verifier (issue 2, section 6): whatever arrives, the answer is Claims or the library's own error.

Every example goes through both ``verify_sync`` and ``await verify`` (on one event loop for the module), which must
decide alike. Signed examples use the pool's real key, so they reach the claim checks behind the signature.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cognito_guard import CognitoVerifier, errors
from cognito_guard.testing import LocalIssuer, SigningKeyPair, sign_compact

NOW = 1_800_000_000
ISSUER = "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1"
ACCESS_KID = "access-key-1"  # the kid of the session's access key (tests/conftest.py)
ID_KID = "id-key-1"
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
STANDARD_CLAIMS = frozenset(
    {
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "auth_time",
        "token_use",
        "client_id",
        "username",
        "cognito:username",
        "scope",
        "jti",
        "origin_jti",
        "event_id",
        "cognito:groups",
        "cognito:roles",
        "cognito:preferred_role",
        "nonce",
        "at_hash",
    }
)

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Outcome = tuple[str, object]


# -- fixtures and helpers -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    return LocalIssuer(
        user_pool_id="eu-west-1_TestPool1",
        client_id="client-a",
        clock=lambda: NOW,
        access_key=session_keys[0],
        id_key=session_keys[1],
    )


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    event_loop = asyncio.new_event_loop()
    yield event_loop
    event_loop.close()


class Decide:
    """Runs one token through ``verify_sync`` and ``verify`` (separate verifiers, so neither answers from the other's
    result cache) and returns the common outcome; fails if they differ. Anything but a CognitoGuardError escapes."""

    def __init__(self, pool: LocalIssuer, loop: asyncio.AbstractEventLoop) -> None:
        self._sync = pool.verifier(token_use=None)
        self._async = pool.verifier(token_use=None)
        self._loop = loop

    def __call__(self, token: object) -> Outcome:
        by_sync = self._outcome(lambda: self._sync.verify_sync(token).to_dict())
        by_async = self._outcome(lambda: self._loop.run_until_complete(self._verify_async(self._async, token)))
        assert by_sync == by_async
        return by_sync

    @staticmethod
    async def _verify_async(verifier: CognitoVerifier, token: object) -> dict[str, Any]:
        return (await verifier.verify(token)).to_dict()

    @staticmethod
    def _outcome(run: Any) -> Outcome:
        try:
            claims = run()
        except errors.CognitoGuardError as error:
            return "rejected", type(error)
        return "accepted", json.dumps(claims, sort_keys=True)


@pytest.fixture(scope="module")
def decide(pool: LocalIssuer, loop: asyncio.AbstractEventLoop) -> Decide:
    return Decide(pool, loop)


def assert_rejected_as_token_error(outcome: Outcome) -> None:
    kind, detail = outcome
    assert kind == "rejected"
    assert isinstance(detail, type)
    assert issubclass(detail, errors.TokenError)


def assert_accepted_or_token_error(outcome: Outcome) -> None:
    kind, detail = outcome
    if kind == "rejected":
        assert isinstance(detail, type)
        assert issubclass(detail, errors.TokenError)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def valid_payload(token_use: str) -> dict[str, Any]:
    common: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "token_use": token_use,
    }
    if token_use == "access":
        return {**common, "client_id": "client-a", "scope": "openid", "username": "alice"}
    return {**common, "aud": "client-a", "cognito:username": "alice"}


# -- strategies -----------------------------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
# What survives a JSON round trip unchanged (NaN is never equal to itself).
comparable_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
segments = st.one_of(
    st.text(alphabet=B64URL, max_size=80),
    st.text(alphabet=B64URL + "=+/ .\n\té\x00", max_size=80),
    st.binary(max_size=300).map(b64url),
    json_values.map(lambda value: b64url(json.dumps(value).encode())),
)
headers: st.SearchStrategy[dict[str, Any]] = st.tuples(
    st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["RS256", "RS512", "none", "HS256", "ES256"]) | json_values,
            "kid": st.sampled_from([ACCESS_KID, ID_KID, "unknown-kid"]) | json_values,
            "crit": json_values,
            "jwk": json_values,
            "jku": json_values,
            "x5c": json_values,
            "typ": json_values,
        },
    ),
    st.dictionaries(st.text(max_size=6), json_values, max_size=3),
).map(lambda parts: {**parts[1], **parts[0]})


def claim(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A standard claim's value: often right, otherwise any JSON."""
    return valid | json_values


def payloads(times: st.SearchStrategy[Any], string_lists: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.tuples(
        st.fixed_dictionaries(
            {},
            optional={
                "iss": claim(st.sampled_from([ISSUER, ISSUER + "/", "https://evil.example"])),
                "sub": claim(st.text(min_size=1, max_size=10)),
                "token_use": claim(st.sampled_from(["access", "id", "refresh"])),
                "client_id": claim(st.sampled_from(["client-a", "client-b"])),
                "aud": claim(st.sampled_from(["client-a", "client-b"]) | st.lists(st.text(max_size=8), max_size=3)),
                "exp": times,
                "iat": times,
                "nbf": times,
                "auth_time": times,
                "scope": claim(st.text(max_size=20)),
                "username": claim(st.text(max_size=10)),
                "cognito:username": claim(st.text(max_size=10)),
                "cognito:groups": string_lists,
                "cognito:roles": string_lists,
                "cognito:preferred_role": claim(st.text(max_size=10)),
                "jti": claim(st.text(max_size=10)),
                "origin_jti": claim(st.text(max_size=10)),
                "nonce": claim(st.text(max_size=10)),
            },
        ),
        st.dictionaries(st.text(max_size=8), json_values, max_size=3),
    ).map(lambda parts: {**parts[1], **parts[0]})


good_times = st.integers(NOW - 7200, NOW + 7200) | st.floats(NOW - 7200, NOW + 7200)
any_payload = payloads(
    times=claim(good_times | st.integers(-(10**400), 10**400)),
    string_lists=claim(st.lists(st.text(max_size=8), max_size=3)),
)
extra_claims = st.dictionaries(
    st.text(max_size=12).filter(lambda name: name not in STANDARD_CLAIMS), comparable_json, max_size=6
)


# -- unsigned input -------------------------------------------------------------------------------------------------


@FAST
@given(token=st.text(max_size=500))
def test_arbitrary_text_is_a_token_error(decide: Decide, token: str) -> None:
    assert_rejected_as_token_error(decide(token))


@FAST
@given(soup=st.binary(max_size=2000))
def test_byte_soup_read_as_latin1_is_a_token_error(decide: Decide, soup: bytes) -> None:
    assert_rejected_as_token_error(decide(soup.decode("latin-1")))


@FAST
@given(soup=st.binary(max_size=200))
def test_bytes_instead_of_text_are_a_token_error(decide: Decide, soup: bytes) -> None:
    assert_rejected_as_token_error(decide(soup))


@FAST
@given(header=segments, payload=segments, signature=segments)
def test_arbitrary_three_segment_string_is_a_token_error(
    decide: Decide, header: str, payload: str, signature: str
) -> None:
    assert_rejected_as_token_error(decide(f"{header}.{payload}.{signature}"))


@FAST
@given(header=headers, payload=json_values, signature=st.binary(min_size=1, max_size=300))
def test_json_segments_with_a_forged_signature_are_a_token_error(
    decide: Decide, header: dict[str, Any], payload: Any, signature: bytes
) -> None:
    token = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}.{b64url(signature)}"
    assert_rejected_as_token_error(decide(token))


# -- signed with the pool's key -------------------------------------------------------------------------------------


@FAST
@given(header=headers)
def test_signed_token_with_an_arbitrary_header_is_accepted_only_when_the_header_is_sound(
    decide: Decide, pool: LocalIssuer, header: dict[str, Any]
) -> None:
    outcome = decide(sign_compact(header, valid_payload("access"), pool.access_key))
    assert_accepted_or_token_error(outcome)
    if outcome[0] == "accepted":
        assert (header.get("alg"), header.get("kid"), "crit" in header) == ("RS256", ACCESS_KID, False)


@FAST
@given(payload=any_payload)
@example(payload={**valid_payload("access"), "exp": "4102444800"})
@example(payload={**valid_payload("access"), "exp": 10**400})
def test_signed_arbitrary_payload_is_claims_or_a_token_error(
    decide: Decide, pool: LocalIssuer, payload: dict[str, Any]
) -> None:
    outcome = decide(pool.sign(payload))
    assert_accepted_or_token_error(outcome)
    if outcome[0] == "accepted":
        assert not isinstance(payload.get("cognito:groups"), str)


@FAST
@given(token_use=st.sampled_from(["access", "id"]), extra=extra_claims)
def test_valid_token_with_arbitrary_extra_claims_is_accepted(
    decide: Decide, pool: LocalIssuer, token_use: str, extra: dict[str, Any]
) -> None:
    payload = {**extra, **valid_payload(token_use)}
    kind, detail = decide(pool.sign(payload, key="access" if token_use == "access" else "id"))
    assert kind == "accepted"
    assert isinstance(detail, str)
    assert json.loads(detail) == json.loads(json.dumps(payload))
