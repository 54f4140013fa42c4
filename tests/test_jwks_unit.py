"""The jwks module in isolation: JWKS parsing, URI rules, cache settings, and fetching through respx-mocked httpx.

Issue 2, section 4. Behaviours that need a real socket (stampedes, hanging servers, redirects, oversized streams) are
in tests/test_jwks_server.py.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

import httpx
import pytest
import respx
from conftest import Clock
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from cognito_guard import (
    Claims,
    CognitoVerifier,
    ConfigurationError,
    JWKSCache,
    KeysUnavailableError,
    UserPool,
    verifier_from_env,
)
from cognito_guard.errors import KeyNotFoundError
from cognito_guard.jwks import JWKSError, parse_jwks, parse_key
from cognito_guard.testing import LocalIssuer, SigningKeyPair, mock_jwks

How = Literal["verify", "verify_sync"]
BOTH_WAYS = pytest.mark.parametrize("how", ["verify", "verify_sync"])


# -- fixtures and helpers ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rsa_jwk(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> dict[str, Any]:
    return session_keys[0].public_jwk


@pytest.fixture(scope="module")
def small_rsa_jwk() -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point: too small to trust
    return {**json.loads(RSAAlgorithm.to_jwk(key.public_key())), "kid": "small"}


def make_verifier(issuer: LocalIssuer, clock: Clock, **cache_options: Any) -> CognitoVerifier:
    """A verifier of ``issuer``'s access tokens fetching its JWKS over HTTP (respx answers)."""
    return CognitoVerifier(
        user_pool_id=issuer.user_pool_id,
        client_id=issuer.client_id,
        token_use="access",
        jwks_cache=JWKSCache(clock=clock, **cache_options),
        clock=clock,
    )


async def check(verifier: CognitoVerifier, token: str, how: How) -> Claims:
    if how == "verify":
        return await verifier.verify(token)
    return verifier.verify_sync(token)


# -- parse_jwks / parse_key --------------------------------------------------------------------------------------------
def test_parse_jwks_returns_the_signing_keys_by_kid(issuer: LocalIssuer) -> None:
    keys = parse_jwks(issuer.jwks)

    assert set(keys) == {issuer.access_key.kid, issuer.id_key.kid}
    assert keys[issuer.access_key.kid].algorithms == frozenset({"RS256"})


def test_parsed_key_verifies_its_own_signatures_only(issuer: LocalIssuer) -> None:
    keys = parse_jwks(issuer.jwks)
    signature = issuer.access_key.sign(b"header.payload")

    assert keys[issuer.access_key.kid].verify("RS256", b"header.payload", signature)
    assert not keys[issuer.access_key.kid].verify("RS256", b"header.payloaD", signature)
    assert not keys[issuer.id_key.kid].verify("RS256", b"header.payload", signature)


@pytest.mark.parametrize(
    "document",
    [None, [], "keys", 42, {}, {"keys": {}}, {"keys": "[]"}, {"keys": None}, {"Keys": []}],
    ids=repr,
)
def test_document_that_is_not_a_jwks_is_rejected(document: object) -> None:
    with pytest.raises(JWKSError):
        parse_jwks(document)


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [{"kty": "oct", "kid": "secret", "k": "c2VjcmV0"}],
        ["not a key", None, 7],
    ],
    ids=["empty", "only-symmetric", "only-junk"],
)
def test_jwks_without_a_usable_signing_key_is_rejected(keys: list[Any]) -> None:
    with pytest.raises(JWKSError):
        parse_jwks({"keys": keys})


def test_jwks_whose_only_key_is_for_encryption_is_rejected(rsa_jwk: dict[str, Any]) -> None:
    with pytest.raises(JWKSError):
        parse_jwks({"keys": [{**rsa_jwk, "use": "enc"}]})


Variant = Callable[[dict[str, Any], dict[str, Any]], Any]
UNUSABLE_KEYS: list[Any] = [
    pytest.param(lambda good, small: "a string", id="not-an-object"),
    pytest.param(lambda good, small: None, id="null"),
    pytest.param(lambda good, small: {k: v for k, v in good.items() if k != "kid"}, id="no-kid"),
    pytest.param(lambda good, small: {**good, "kid": ""}, id="empty-kid"),
    pytest.param(lambda good, small: {**good, "kid": 7}, id="numeric-kid"),
    pytest.param(lambda good, small: {**good, "use": "enc"}, id="use-enc"),
    pytest.param(lambda good, small: {"kty": "oct", "kid": "x", "k": "c2VjcmV0"}, id="kty-oct"),
    pytest.param(lambda good, small: {**good, "kty": "oct", "k": "c2VjcmV0"}, id="kty-oct-with-rsa-members"),
    pytest.param(lambda good, small: {k: v for k, v in good.items() if k != "kty"}, id="no-kty"),
    pytest.param(lambda good, small: {**good, "alg": "HS256"}, id="rsa-with-hs256"),
    pytest.param(lambda good, small: {**good, "alg": "ES256"}, id="rsa-with-es256"),
    pytest.param(lambda good, small: {**good, "alg": "none"}, id="alg-none"),
    pytest.param(lambda good, small: small, id="rsa-1024"),
    pytest.param(lambda good, small: {"kty": "EC", "kid": "x", "crv": "P-999", "x": "AA", "y": "AA"}, id="ec-bad-crv"),
    pytest.param(
        lambda good, small: {**good, "n": "AA"},
        id="rsa-bad-modulus",
    ),
    pytest.param(
        lambda good, small: {k: v for k, v in good.items() if k != "n"},
        id="rsa-no-modulus",
    ),
    pytest.param(
        lambda good, small: {**good, "e": 65537},
        id="rsa-numeric-exponent",
    ),
    pytest.param(
        lambda good, small: {"kty": "EC", "kid": "x", "crv": "P-256", "x": "AA", "y": "AA"},
        id="ec-bad-point",
    ),
    pytest.param(
        lambda good, small: {**good, "alg": ["RS256"]},
        id="alg-is-a-list",
    ),
    pytest.param(
        lambda good, small: {"kty": "EC", "kid": "x", "crv": ["P-256"], "x": "AA", "y": "AA"},
        id="crv-is-a-list",
    ),
]


@pytest.mark.parametrize("variant", UNUSABLE_KEYS)
def test_unusable_key_is_rejected_by_parse_key(
    variant: Variant, rsa_jwk: dict[str, Any], small_rsa_jwk: dict[str, Any]
) -> None:
    with pytest.raises(JWKSError):
        parse_key(variant({**rsa_jwk, "kid": "bad"}, small_rsa_jwk))


@pytest.mark.parametrize("variant", UNUSABLE_KEYS)
def test_unusable_key_is_skipped_with_a_warning_and_the_rest_kept(
    variant: Variant,
    issuer: LocalIssuer,
    small_rsa_jwk: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    bad = variant({**issuer.access_key.public_jwk, "kid": "bad"}, small_rsa_jwk)
    document = {"keys": [bad, *issuer.jwks["keys"]]}

    with caplog.at_level(logging.WARNING, logger="cognito_guard.jwks"):
        keys = parse_jwks(document)

    assert set(keys) == {issuer.access_key.kid, issuer.id_key.kid}
    assert any(record.levelno == logging.WARNING for record in caplog.records)


def test_duplicate_kid_keeps_the_first_key_with_a_warning(
    issuer: LocalIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    first = issuer.access_key.public_jwk
    impostor = {**issuer.id_key.public_jwk, "kid": first["kid"]}

    with caplog.at_level(logging.WARNING, logger="cognito_guard.jwks"):
        keys = parse_jwks({"keys": [first, impostor]})

    assert keys[first["kid"]].jwk == first
    assert "duplicate" in caplog.text


def test_ec_p256_key_is_usable_for_es256_only() -> None:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    key = parse_key({**json.loads(ECAlgorithm.to_jwk(public)), "kid": "ec"})

    assert key.algorithms == frozenset({"ES256"})


def test_ed25519_key_is_usable_for_eddsa_only() -> None:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    key = parse_key({**json.loads(OKPAlgorithm.to_jwk(public)), "kid": "ed"})

    assert key.algorithms == frozenset({"EdDSA"})


def test_rsa_key_without_alg_serves_the_rsa_family(rsa_jwk: dict[str, Any]) -> None:
    key = parse_key({k: v for k, v in rsa_jwk.items() if k != "alg"})

    assert "RS256" in key.algorithms
    assert key.algorithms <= {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}


def test_private_jwk_is_reduced_to_its_public_half(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> None:
    pair = session_keys[0]
    private_jwk = {**json.loads(RSAAlgorithm.to_jwk(pair.private_key)), "kid": pair.kid}

    key = parse_key(private_jwk)

    assert isinstance(key.public_key, rsa.RSAPublicKey)
    assert key.public_key.public_numbers() == pair.private_key.public_key().public_numbers()


# -- URIs and settings -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "uri",
    [
        "http://example.com/.well-known/jwks.json",
        "http://10.0.0.1/.well-known/jwks.json",
        "ftp://localhost/jwks.json",
        "example.com/.well-known/jwks.json",
        "https:///.well-known/jwks.json",
    ],
)
def test_jwks_uri_that_is_not_https_or_loopback_http_is_a_configuration_error(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        CognitoVerifier(user_pool_id="eu-west-1_Pool1", client_id="client-a", token_use="access", jwks_uri=uri)


def test_http_issuer_on_a_remote_host_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        CognitoVerifier(
            user_pool_id="local_Pool1",
            client_id="client-a",
            token_use="access",
            issuer="http://example.com/local_Pool1",
        )


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:9229/.well-known/jwks.json",
        "http://127.0.0.2/.well-known/jwks.json",
        "http://localhost:9229/.well-known/jwks.json",
        "http://LOCALHOST/.well-known/jwks.json",
        "http://[::1]:9229/.well-known/jwks.json",
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Pool1/.well-known/jwks.json",
    ],
)
def test_https_or_loopback_http_jwks_uri_is_accepted(uri: str) -> None:
    verifier = CognitoVerifier(user_pool_id="eu-west-1_Pool1", client_id="client-a", token_use="access", jwks_uri=uri)

    assert verifier.issuers


def test_http_issuer_on_localhost_is_accepted() -> None:
    verifier = CognitoVerifier(
        user_pool_id="local_Pool1", client_id="client-a", token_use="access", issuer="http://localhost:9229/local_Pool1"
    )

    assert verifier.issuers == ("http://localhost:9229/local_Pool1",)


@pytest.mark.parametrize(
    "uri", ["http://127.0.0.1.nip.io/.well-known/jwks.json", "http://127.example.com/.well-known/jwks.json"]
)
def test_http_host_name_that_merely_starts_with_127_is_not_loopback(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        CognitoVerifier(user_pool_id="eu-west-1_Pool1", client_id="client-a", token_use="access", jwks_uri=uri)


@pytest.mark.parametrize(
    "uri",
    ["https://xn--a.com/.well-known/jwks.json", "https://cognito.example:99999/.well-known/jwks.json"],
    ids=["host-idna-refuses", "port-out-of-range"],
)
def test_jwks_uri_that_httpx_cannot_fetch_is_a_configuration_error(uri: str) -> None:
    with pytest.raises(ConfigurationError):
        CognitoVerifier(user_pool_id="eu-west-1_Pool1", client_id="client-a", token_use="access", jwks_uri=uri)


@pytest.mark.parametrize(
    "options",
    [{"ttl": 0}, {"timeout": 0}, {"max_bytes": 0}, {"cooldown": -1}, {"max_stale": -1}, {"backoff": -1}],
    ids=lambda options: next(iter(options)),
)
def test_jwks_cache_rejects_nonsensical_settings(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        JWKSCache(**options)


# -- fetching through respx --------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_keys_are_fetched_from_the_pools_well_known_jwks_uri(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    route = mock_jwks(issuer, respx_mock)
    verifier = make_verifier(issuer, clock)

    claims = await check(verifier, issuer.access_token(), how)
    await verifier.aclose()

    assert claims.username == "alice"
    assert route.call_count == 1
    assert str(route.calls.last.request.url) == (
        "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_TestPool1/.well-known/jwks.json"
    )


def test_verifiers_sharing_a_jwks_cache_share_one_key_set_per_uri(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock
) -> None:
    route = mock_jwks(issuer, respx_mock)
    cache = JWKSCache(clock=clock)
    options: dict[str, Any] = {"user_pool_id": issuer.user_pool_id, "client_id": issuer.client_id, "clock": clock}
    access = CognitoVerifier(token_use="access", jwks_cache=cache, **options)
    identity = CognitoVerifier(token_use="id", jwks_cache=cache, **options)

    access.verify_sync(issuer.access_token())
    identity.verify_sync(issuer.id_token())
    cache.close()

    assert route.call_count == 1


@BOTH_WAYS
@pytest.mark.parametrize(
    "error", [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError]
)
async def test_transport_failure_without_usable_keys_raises_keys_unavailable(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, error: type[httpx.HTTPError], how: How
) -> None:
    respx_mock.get(issuer.jwks_uri).mock(side_effect=error("simulated"))
    verifier = make_verifier(issuer, clock)

    with pytest.raises(KeysUnavailableError) as raised:
        await check(verifier, issuer.access_token(), how)
    await verifier.aclose()

    assert raised.value.retry_after is not None


@BOTH_WAYS
async def test_response_over_the_configured_size_cap_is_rejected(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    mock_jwks(issuer, respx_mock)  # about 950 bytes for two RSA-2048 keys
    verifier = make_verifier(issuer, clock, max_bytes=512)

    with pytest.raises(KeysUnavailableError):
        await check(verifier, issuer.access_token(), how)
    await verifier.aclose()


@BOTH_WAYS
async def test_compressed_response_larger_than_the_cap_once_decompressed_is_rejected(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    body = json.dumps(issuer.jwks).encode().ljust(300 * 1024)  # valid JSON: trailing whitespace
    respx_mock.get(issuer.jwks_uri).mock(
        return_value=httpx.Response(200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    )
    verifier = make_verifier(issuer, clock)

    with pytest.raises(KeysUnavailableError):
        await check(verifier, issuer.access_token(), how)
    await verifier.aclose()


@BOTH_WAYS
async def test_compressed_response_within_the_cap_is_accepted(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    body = json.dumps(issuer.jwks).encode()
    respx_mock.get(issuer.jwks_uri).mock(
        return_value=httpx.Response(200, content=gzip.compress(body), headers={"Content-Encoding": "gzip"})
    )
    verifier = make_verifier(issuer, clock)

    assert (await check(verifier, issuer.access_token(), how)).username == "alice"
    await verifier.aclose()


@BOTH_WAYS
async def test_keys_unavailable_retry_after_tells_when_the_next_fetch_may_happen(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    respx_mock.get(issuer.jwks_uri).mock(return_value=httpx.Response(503))
    verifier = make_verifier(issuer, clock, backoff=8, max_backoff=60)
    token = issuer.access_token()
    with pytest.raises(KeysUnavailableError):
        await check(verifier, token, how)
    clock.advance(3)

    with pytest.raises(KeysUnavailableError) as raised:
        await check(verifier, token, how)
    await verifier.aclose()

    assert raised.value.retry_after == pytest.approx(5)


@BOTH_WAYS
async def test_successful_fetch_resets_the_backoff(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    route = respx_mock.get(issuer.jwks_uri)
    route.mock(return_value=httpx.Response(500))
    verifier = make_verifier(issuer, clock, ttl=300, backoff=1, max_backoff=60)
    token = issuer.access_token(expires_in=86400)
    for delay in (0, 1, 2, 4):  # four failures: the next delay would be 8 s
        clock.advance(delay)
        with pytest.raises(KeysUnavailableError):
            await check(verifier, token, how)
    clock.advance(8)
    route.mock(side_effect=lambda request: httpx.Response(200, json=issuer.jwks))
    await check(verifier, token, how)
    route.mock(return_value=httpx.Response(500))
    clock.advance(300)
    await check(verifier, token, how)  # refresh fails: stale keys serve, next try in 1 s again
    calls = route.call_count

    clock.advance(1)
    await check(verifier, token, how)
    await verifier.aclose()

    assert route.call_count == calls + 1


@BOTH_WAYS
async def test_known_keys_keep_verifying_through_more_than_1025_failed_refreshes(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    # 2 ** 1024 does not fit a float: the doubling backoff must saturate at max_backoff, never overflow.
    route = respx_mock.get(issuer.jwks_uri).mock(side_effect=lambda request: httpx.Response(200, json=issuer.jwks))
    verifier = make_verifier(issuer, clock, ttl=300, max_stale=86400, backoff=1.0, max_backoff=60)
    token = issuer.access_token(expires_in=2 * 86400)
    await check(verifier, token, how)
    route.mock(return_value=httpx.Response(503))
    clock.advance(300)
    for _ in range(1100):  # 1100 failures, one per max_backoff: about 18 h of outage, inside max_stale
        await check(verifier, token, how)
        await check(verifier, token, how)  # same instant: inside the backoff, no fetch
        clock.advance(60)
    await verifier.aclose()

    assert route.call_count == 1 + 1100


@pytest.fixture
async def closed_clients() -> tuple[httpx.Client, httpx.AsyncClient]:
    """Injected clients their owner already closed: httpx raises RuntimeError on any request."""
    sync_client, async_client = httpx.Client(), httpx.AsyncClient()
    sync_client.close()  # noqa: ASYNC212 - a client that never connected: closing it does no I/O
    await async_client.aclose()
    return sync_client, async_client


@BOTH_WAYS
async def test_fetch_through_a_closed_injected_client_is_a_failed_fetch_with_backoff(
    issuer: LocalIssuer, clock: Clock, closed_clients: tuple[httpx.Client, httpx.AsyncClient], how: How
) -> None:
    sync_client, async_client = closed_clients
    cache = JWKSCache(clock=clock, backoff=8, http_client=sync_client, async_http_client=async_client)
    verifier = issuer.verifier(jwks_uri=issuer.jwks_uri, jwks_cache=cache)
    with pytest.raises(KeysUnavailableError):
        await check(verifier, issuer.access_token(), how)  # httpx raises RuntimeError: the client has been closed
    clock.advance(3)

    with pytest.raises(KeysUnavailableError) as raised:
        await check(verifier, issuer.access_token(), how)

    assert raised.value.retry_after == pytest.approx(5)
    assert cache.key_set(issuer.jwks_uri).fetch_count == 1


def test_keyboard_interrupt_during_a_sync_fetch_is_not_swallowed(issuer: LocalIssuer, clock: Clock) -> None:
    def interrupt(request: httpx.Request) -> httpx.Response:
        raise KeyboardInterrupt

    cache = JWKSCache(clock=clock, http_client=httpx.Client(transport=httpx.MockTransport(interrupt)))
    verifier = issuer.verifier(jwks_uri=issuer.jwks_uri, jwks_cache=cache)

    with pytest.raises(KeyboardInterrupt):
        verifier.verify_sync(issuer.access_token())


async def test_cancellation_during_an_async_fetch_is_not_swallowed(issuer: LocalIssuer, clock: Clock) -> None:
    async def cancel(request: httpx.Request) -> httpx.Response:
        raise asyncio.CancelledError

    client = httpx.AsyncClient(transport=httpx.MockTransport(cancel))
    verifier = issuer.verifier(jwks_uri=issuer.jwks_uri, jwks_cache=JWKSCache(clock=clock, async_http_client=client))

    with pytest.raises(asyncio.CancelledError):
        await verifier.verify(issuer.access_token())
    await client.aclose()


# -- HTTP clients ------------------------------------------------------------------------------------------------------
def test_injected_sync_client_is_used_to_fetch(respx_mock: Any, issuer: LocalIssuer, clock: Clock) -> None:
    route = respx_mock.get(issuer.jwks_uri, headers={"x-client": "injected"}).mock(
        side_effect=lambda request: httpx.Response(200, json=issuer.jwks)
    )
    with httpx.Client(headers={"x-client": "injected"}) as client:
        verifier = issuer.verifier(jwks_uri=issuer.jwks_uri, http_client=client)
        verifier.verify_sync(issuer.access_token())

    assert route.call_count == 1


async def test_injected_async_client_is_used_to_fetch(respx_mock: Any, issuer: LocalIssuer, clock: Clock) -> None:
    route = respx_mock.get(issuer.jwks_uri, headers={"x-client": "injected"}).mock(
        side_effect=lambda request: httpx.Response(200, json=issuer.jwks)
    )
    async with httpx.AsyncClient(headers={"x-client": "injected"}) as client:
        verifier = issuer.verifier(jwks_uri=issuer.jwks_uri, async_http_client=client)
        await verifier.verify(issuer.access_token())

    assert route.call_count == 1


async def test_injected_clients_are_not_closed_by_close_or_aclose(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock
) -> None:
    mock_jwks(issuer, respx_mock)
    async with httpx.AsyncClient() as async_client:
        with httpx.Client() as sync_client:
            verifier = issuer.verifier(
                jwks_uri=issuer.jwks_uri, http_client=sync_client, async_http_client=async_client
            )
            verifier.verify_sync(issuer.access_token())
            await verifier.verify(issuer.access_token())

            verifier.close()
            await verifier.aclose()

            assert not sync_client.is_closed
            assert not async_client.is_closed


class RecordingClient(httpx.Client):
    """httpx.Client that remembers its instances (to see the ones the library creates)."""

    made: ClassVar[list[httpx.Client]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingClient.made.append(self)


class RecordingAsyncClient(httpx.AsyncClient):
    made: ClassVar[list[httpx.AsyncClient]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        RecordingAsyncClient.made.append(self)


@pytest.fixture
def recorded_clients(monkeypatch: pytest.MonkeyPatch) -> tuple[list[httpx.Client], list[httpx.AsyncClient]]:
    monkeypatch.setattr(RecordingClient, "made", [])
    monkeypatch.setattr(RecordingAsyncClient, "made", [])
    monkeypatch.setattr(httpx, "Client", RecordingClient)
    monkeypatch.setattr(httpx, "AsyncClient", RecordingAsyncClient)
    return RecordingClient.made, RecordingAsyncClient.made


def test_close_closes_the_sync_client_the_verifier_created(
    respx_mock: Any,
    issuer: LocalIssuer,
    recorded_clients: tuple[list[httpx.Client], list[httpx.AsyncClient]],
) -> None:
    mock_jwks(issuer, respx_mock)
    verifier = issuer.verifier(jwks_uri=issuer.jwks_uri)
    verifier.verify_sync(issuer.access_token())
    made, _ = recorded_clients
    assert len(made) == 1
    assert not made[0].is_closed

    verifier.close()

    assert made[0].is_closed


async def test_aclose_closes_every_client_the_verifier_created(
    respx_mock: Any,
    issuer: LocalIssuer,
    clock: Clock,
    recorded_clients: tuple[list[httpx.Client], list[httpx.AsyncClient]],
) -> None:
    mock_jwks(issuer, respx_mock)
    verifier = issuer.verifier(jwks_uri=issuer.jwks_uri)
    verifier.verify_sync(issuer.access_token())
    clock.advance(300)  # keys due for refresh: the async path fetches too
    await verifier.verify(issuer.access_token(username="bob"))
    made_sync, made_async = recorded_clients
    assert len(made_sync) == 1
    assert len(made_async) == 1

    await verifier.aclose()

    assert made_sync[0].is_closed
    assert made_async[0].is_closed


# -- offline -----------------------------------------------------------------------------------------------------------
@pytest.mark.respx(assert_all_called=False)
@BOTH_WAYS
@pytest.mark.parametrize("source", ["dict", "file", "env"])
async def test_preloaded_keys_make_no_request_even_for_unknown_kids(
    respx_mock: Any,
    issuer: LocalIssuer,
    clock: Clock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    how: How,
) -> None:
    preloaded = issuer.jwks
    route = mock_jwks(issuer, respx_mock)
    newcomer = issuer.add_key(SigningKeyPair(kid="newcomer", private_key=issuer.id_key.private_key))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(preloaded), encoding="utf-8")
    if source == "env":
        for name in ("COGNITO_TOKEN_USE", "COGNITO_ISSUER", "COGNITO_JWKS_URI", "COGNITO_LEEWAY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
        monkeypatch.setenv("COGNITO_CLIENT_ID", issuer.client_id)
        monkeypatch.setenv("COGNITO_JWKS_FILE", str(path))
        verifier = verifier_from_env(clock=clock)
    else:
        verifier = CognitoVerifier(
            user_pool_id=issuer.user_pool_id,
            client_id=issuer.client_id,
            token_use="access",
            jwks=preloaded if source == "dict" else path,
            clock=clock,
        )

    assert (await check(verifier, issuer.access_token(), how)).username == "alice"
    clock.advance(3600)
    with pytest.raises(KeyNotFoundError):
        await check(verifier, issuer.access_token(key=newcomer), how)

    assert route.call_count == 0


@pytest.mark.parametrize("document", [{"keys": []}, {"keys": "x"}], ids=["no-keys", "not-a-jwks"])
def test_unusable_preloaded_jwks_is_a_configuration_error(document: dict[str, Any], issuer: LocalIssuer) -> None:
    with pytest.raises(ConfigurationError):
        issuer.verifier(jwks=document)


def test_unreadable_jwks_file_is_a_configuration_error(issuer: LocalIssuer, tmp_path: Path) -> None:
    path = tmp_path / "jwks.json"
    path.write_text("{not json", encoding="utf-8")

    with pytest.raises(ConfigurationError):
        issuer.verifier(jwks=path)


@pytest.mark.parametrize("mode", ["async", "sync"])
async def test_warm_up_loads_every_pool_it_can_before_reporting_the_one_that_failed(
    session_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock, mode: str
) -> None:
    access_key, id_key = session_keys
    down = LocalIssuer(user_pool_id="eu-west-1_DownPool1", client_id="a", clock=clock)
    up = LocalIssuer(user_pool_id="eu-west-1_UpPool1", client_id="b", clock=clock, access_key=access_key, id_key=id_key)
    verifier = CognitoVerifier.for_pools(
        [
            UserPool(user_pool_id=down.user_pool_id, client_id="a", token_use="access"),
            UserPool(user_pool_id=up.user_pool_id, client_id="b", token_use="access"),
        ],
        clock=clock,
    )
    with respx.mock(assert_all_called=True) as router:
        router.get(down.jwks_uri).mock(return_value=httpx.Response(500))
        served = mock_jwks(up, router)
        warm_up = verifier.warm_up() if mode == "async" else asyncio.to_thread(verifier.warm_up_sync)
        with pytest.raises(KeysUnavailableError):
            await warm_up
        fetched_by_warm_up = served.call_count
        claims = verifier.verify_sync(up.access_token(username="kept"))

    assert fetched_by_warm_up == 1
    assert served.call_count == 1  # the token needed no further fetch
    assert claims.username == "kept"
