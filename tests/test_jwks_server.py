"""The JWKS cache against a real HTTP server on 127.0.0.1 (tests/jwks_server.py), driven by an injected clock.

Issue 2, section 4: one fetch for concurrent misses, a rate-limited refetch on unknown ``kid``s, rotation, TTL
refresh with stale-if-error, exponential backoff, ``KeysUnavailableError`` when nothing usable can be had, warm-up,
offline keys.
Time never passes by sleeping: the clock is advanced; concurrency is arranged with events and barriers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import httpx
import pytest
from conftest import Clock
from cryptography.hazmat.primitives.asymmetric import rsa
from jwks_server import REDIRECT_TARGET, Behaviour, JWKSServer

from cognito_guard import Claims, CognitoVerifier, JWKSCache, verifier_from_env
from cognito_guard.errors import KeyNotFoundError, KeysUnavailableError, SignatureError
from cognito_guard.testing import LocalIssuer, SigningKeyPair

How = Literal["verify", "verify_sync"]
BOTH_WAYS = pytest.mark.parametrize("how", ["verify", "verify_sync"])
LONG_LIVED = 30 * 86400  # tokens outlive every TTL and staleness window these tests move the clock through
HANG_TIMEOUT = 0.4  # fetch timeout for tests whose server never answers


# -- fixtures ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def server() -> Iterator[JWKSServer]:
    with JWKSServer() as running:
        yield running


@pytest.fixture
def pool(server: JWKSServer, session_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock) -> LocalIssuer:
    """A local user pool whose issuer URL is the test server: the server publishes its current JWKS."""
    access_key, id_key = session_keys
    issuer = LocalIssuer(
        user_pool_id="local_Pool1",
        client_id="client-a",
        issuer=f"{server.base_url}/local_Pool1",
        clock=clock,
        access_key=access_key,
        id_key=id_key,
    )
    server.document = lambda: issuer.jwks
    return issuer


@pytest.fixture(scope="module")
def spare_key() -> SigningKeyPair:
    return SigningKeyPair(kid="access-key-2")


@pytest.fixture(scope="module")
def small_key() -> SigningKeyPair:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the point: too small to trust
    return SigningKeyPair(kid="small-key", private_key=weak)


class MakeVerifier(Protocol):
    def __call__(self, *, clock: Callable[[], float] | None = None, **cache_options: Any) -> CognitoVerifier: ...


@pytest.fixture
async def make_verifier(pool: LocalIssuer, clock: Clock) -> AsyncIterator[MakeVerifier]:
    """Verifiers of ``pool``'s access tokens fetching from the server through a JWKSCache with these options."""
    caches: list[JWKSCache] = []
    test_clock = clock

    def make(*, clock: Callable[[], float] | None = None, **cache_options: Any) -> CognitoVerifier:
        now = clock or test_clock
        cache = JWKSCache(clock=now, **cache_options)
        caches.append(cache)
        return CognitoVerifier(
            user_pool_id=pool.user_pool_id,
            client_id=pool.client_id,
            token_use="access",
            issuer=pool.issuer,
            jwks_cache=cache,
            clock=now,
        )

    yield make
    for cache in caches:
        await cache.aclose()


def token(pool: LocalIssuer, **options: Any) -> str:
    return pool.access_token(expires_in=LONG_LIVED, **options)


def unknown_kid_token(pool: LocalIssuer) -> str:
    return token(pool, headers={"kid": f"unknown-{uuid.uuid4()}"})


async def check(verifier: CognitoVerifier, jwt: str, how: How) -> Claims:
    """Verify ``jwt`` the way the test is parametrized for."""
    if how == "verify":
        return await verifier.verify(jwt)
    return verifier.verify_sync(jwt)


class ThreadTrackingClock:
    """The test clock, also counting how often each thread read it: shows when callers have reached the slow path."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._reads: Counter[int] = Counter()
        self._condition = threading.Condition()

    def __call__(self) -> float:
        with self._condition:
            self._reads[threading.get_ident()] += 1
            self._condition.notify_all()
        return self._clock()

    def wait_for_threads(self, threads: int, reads: int, timeout: float = 5.0) -> bool:
        """Block until ``threads`` threads read the clock at least ``reads`` times each; False on timeout."""
        with self._condition:
            return self._condition.wait_for(
                lambda: sum(count >= reads for count in self._reads.values()) >= threads, timeout
            )


def run_threads(count: int, target: Callable[[int], object]) -> list[object]:
    """Run ``target(i)`` in ``count`` threads; their results (or exceptions) in order."""
    results: list[object] = [None] * count

    def work(index: int) -> None:
        try:
            results[index] = target(index)
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


# -- cold stampede -----------------------------------------------------------------------------------------------------
async def test_300_concurrent_verify_calls_on_a_cold_cache_make_one_request(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()
    jwt = token(pool)
    gate = server.hold()

    async def release_once_the_fetch_arrived() -> None:
        # By the time the one fetch reaches the server, every caller has started and is waiting on it.
        assert await asyncio.to_thread(server.wait_for_requests, 1)
        gate.set()

    *results, _ = await asyncio.gather(*(verifier.verify(jwt) for _ in range(300)), release_once_the_fetch_arrived())

    assert all(isinstance(claims, Claims) and claims.username == "alice" for claims in results)
    assert server.requests == 1


async def test_concurrent_verify_calls_on_a_cold_cache_share_one_failed_fetch(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier
) -> None:
    server.behaviour = Behaviour.STATUS_500
    verifier = make_verifier()
    jwt = token(pool)

    results = await asyncio.gather(*(verifier.verify(jwt) for _ in range(100)), return_exceptions=True)

    assert all(isinstance(error, KeysUnavailableError) for error in results)
    assert server.requests == 1


def test_16_threads_calling_verify_sync_on_a_cold_cache_make_one_request(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    tracking = ThreadTrackingClock(clock)
    verifier = make_verifier(clock=tracking)
    jwt = token(pool)
    gate = server.hold()
    start = threading.Barrier(16)

    def call(index: int) -> Claims:
        start.wait()
        return verifier.verify_sync(jwt)

    def release() -> None:
        # Answer the fetch only once all 16 callers are past their cache lookups (the clock is read there).
        server.wait_for_requests(1)
        tracking.wait_for_threads(16, reads=2)
        gate.set()

    releaser = threading.Thread(target=release)
    releaser.start()
    results = run_threads(16, call)
    releaser.join()

    assert all(isinstance(claims, Claims) for claims in results), results
    assert server.requests == 1


def test_16_threads_calling_verify_sync_on_a_cold_cache_share_one_failed_fetch(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier
) -> None:
    server.behaviour = Behaviour.STATUS_500
    verifier = make_verifier()
    jwt = token(pool)
    start = threading.Barrier(16)

    def call(index: int) -> Claims:
        start.wait()
        return verifier.verify_sync(jwt)

    results = run_threads(16, call)

    assert all(isinstance(error, KeysUnavailableError) for error in results), results
    assert server.requests == 1


def test_threads_arriving_while_the_first_fetch_is_in_flight_wait_for_it(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    tracking = ThreadTrackingClock(clock)
    verifier = make_verifier(clock=tracking)
    jwt = token(pool)
    gate = server.hold()
    first = threading.Thread(target=verifier.verify_sync, args=(jwt,))
    first.start()
    assert server.wait_for_requests(1)  # the first caller's fetch is in flight (and held)

    def release() -> None:
        tracking.wait_for_threads(16, reads=2)
        gate.set()

    releaser = threading.Thread(target=release)
    releaser.start()
    results = run_threads(15, lambda index: verifier.verify_sync(jwt))
    releaser.join()
    first.join()

    assert all(isinstance(claims, Claims) for claims in results), results
    assert server.requests == 1


# -- unknown kid flood -------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_unknown_kids_inside_the_cooldown_window_are_rejected_without_a_request(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    verifier = make_verifier(cooldown=10)
    await check(verifier, token(pool), how)
    clock.advance(9.5)

    for _ in range(50):
        with pytest.raises(KeyNotFoundError):
            await check(verifier, unknown_kid_token(pool), how)

    assert server.requests == 1


async def test_concurrent_unknown_kid_flood_after_the_cooldown_makes_one_refetch(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    verifier = make_verifier(cooldown=10)
    await verifier.verify(token(pool))
    clock.advance(10)

    results = await asyncio.gather(
        *(verifier.verify(unknown_kid_token(pool)) for _ in range(200)), return_exceptions=True
    )

    assert all(isinstance(error, KeyNotFoundError) for error in results)
    assert server.requests == 2


def test_unknown_kid_flood_after_the_cooldown_makes_one_refetch_per_window(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    verifier = make_verifier(cooldown=10)
    verifier.verify_sync(token(pool))

    for _ in range(3):
        clock.advance(10)
        for _ in range(40):
            with pytest.raises(KeyNotFoundError):
                verifier.verify_sync(unknown_kid_token(pool))
            clock.advance(0.2)  # 40 x 0.2 s = 8 s: still inside the window the first refetch opened

    assert server.requests == 1 + 3


def test_unknown_kid_cooldown_defaults_to_ten_seconds(server: JWKSServer, pool: LocalIssuer, clock: Clock) -> None:
    verifier = CognitoVerifier(
        user_pool_id=pool.user_pool_id, client_id=pool.client_id, token_use="access", issuer=pool.issuer, clock=clock
    )
    with contextlib.closing(verifier):
        verifier.verify_sync(token(pool))
        clock.advance(9.5)
        with pytest.raises(KeyNotFoundError):
            verifier.verify_sync(unknown_kid_token(pool))
        assert server.requests == 1
        clock.advance(0.5)
        with pytest.raises(KeyNotFoundError):
            verifier.verify_sync(unknown_kid_token(pool))
        assert server.requests == 2


@BOTH_WAYS
async def test_known_keys_keep_verifying_during_an_unknown_kid_flood(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    verifier = make_verifier(cooldown=10)
    known = [token(pool, username=f"user{index}") for index in range(5)]
    unknown = [unknown_kid_token(pool) for _ in range(20)]
    await check(verifier, known[0], how)

    for step in range(100):  # 50 s of simulated time: several cooldown windows, each with its refetch
        clock.advance(0.5)
        with pytest.raises(KeyNotFoundError):
            await check(verifier, unknown[step % 20], how)
        claims = await check(verifier, known[step % 5], how)
        assert claims.username == f"user{step % 5}"
    assert server.requests > 1


# -- rotation ----------------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_token_signed_by_a_newly_published_key_verifies_after_one_refetch(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    clock: Clock,
    spare_key: SigningKeyPair,
    how: How,
) -> None:
    verifier = make_verifier(cooldown=10, ttl=300)
    await check(verifier, token(pool), how)
    pool.add_key(spare_key)
    clock.advance(60)

    claims = await check(verifier, token(pool, key=spare_key), how)

    assert claims.username == "alice"
    assert server.requests == 2


@BOTH_WAYS
async def test_key_that_left_the_set_stops_verifying_after_the_ttl_refresh(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    clock: Clock,
    spare_key: SigningKeyPair,
    how: How,
) -> None:
    verifier = make_verifier(ttl=300)
    old = token(pool)
    await check(verifier, old, how)  # verified once: it sits in the verifier's result cache
    pool.access_key = spare_key  # rotation: the old access key leaves the published set
    clock.advance(300)

    with pytest.raises(KeyNotFoundError):
        await check(verifier, old, how)
    assert server.requests == 2


@BOTH_WAYS
async def test_key_that_left_the_set_stops_verifying_after_an_unknown_kid_refetch(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    clock: Clock,
    spare_key: SigningKeyPair,
    how: How,
) -> None:
    verifier = make_verifier(ttl=300, cooldown=10)
    old = token(pool)
    await check(verifier, old, how)
    pool.access_key = spare_key
    clock.advance(60)
    await check(verifier, token(pool), how)  # signed by the new key: refetch

    with pytest.raises(KeyNotFoundError):
        await check(verifier, old, how)
    assert server.requests == 2


@BOTH_WAYS
async def test_key_replaced_under_the_same_kid_stops_verifying_old_tokens_after_refresh(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    clock: Clock,
    spare_key: SigningKeyPair,
    how: How,
) -> None:
    verifier = make_verifier(ttl=300)
    old = token(pool)
    await check(verifier, old, how)
    pool.access_key = SigningKeyPair(kid=pool.access_key.kid, private_key=spare_key.private_key)
    clock.advance(300)

    with pytest.raises(SignatureError):
        await check(verifier, old, how)
    assert (await check(verifier, token(pool), how)).username == "alice"


# -- TTL refresh and stale-if-error ------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_fresh_keys_verify_without_a_request(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    verifier = make_verifier(ttl=300)
    await check(verifier, token(pool), how)

    for step in range(10):
        clock.advance(29.5)
        await check(verifier, token(pool, username=f"user{step}"), how)

    assert server.requests == 1


@BOTH_WAYS
async def test_keys_are_refetched_once_when_the_ttl_has_passed(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    verifier = make_verifier(ttl=300)
    jwt = token(pool)
    await check(verifier, jwt, how)
    clock.advance(300)

    for _ in range(20):
        await check(verifier, jwt, how)

    assert server.requests == 2


REFRESH_FAILURES = [
    Behaviour.STATUS_500,
    Behaviour.HANG,
    Behaviour.GARBAGE,
    Behaviour.NOT_JWKS,
    Behaviour.NO_USABLE_KEYS,
    Behaviour.HUGE,
    Behaviour.DEEP_JSON,
]


@BOTH_WAYS
@pytest.mark.parametrize("failure", REFRESH_FAILURES, ids=lambda behaviour: behaviour.value)
async def test_failed_refresh_keeps_known_keys_verifying_and_logs_a_warning(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    failure: Behaviour,
    how: How,
) -> None:
    verifier = make_verifier(ttl=300, timeout=HANG_TIMEOUT)
    jwt = token(pool)
    await check(verifier, jwt, how)
    server.behaviour = failure
    clock.advance(300)

    with caplog.at_level(logging.WARNING, logger="cognito_guard.jwks"):
        claims = await check(verifier, jwt, how)

    assert claims.username == "alice"
    assert server.requests == 2
    assert any(record.levelno == logging.WARNING for record in caplog.records if record.name == "cognito_guard.jwks")
    assert jwt not in caplog.text


@BOTH_WAYS
async def test_stale_keys_stop_verifying_max_stale_seconds_past_the_ttl(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    verifier = make_verifier(ttl=300, max_stale=600, backoff=1, max_backoff=1)
    jwt = token(pool)
    await check(verifier, jwt, how)
    server.behaviour = Behaviour.STATUS_500

    clock.advance(300)
    await check(verifier, jwt, how)
    clock.advance(599.5)
    await check(verifier, jwt, how)
    clock.advance(0.5)
    with pytest.raises(KeysUnavailableError) as raised:
        await check(verifier, jwt, how)
    assert raised.value.retry_after is not None


@BOTH_WAYS
async def test_document_that_is_not_a_jwks_is_rejected_and_the_previous_keys_kept(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    clock: Clock,
    spare_key: SigningKeyPair,
    how: How,
) -> None:
    verifier = make_verifier(ttl=300)
    old = token(pool)
    await check(verifier, old, how)
    pool.add_key(spare_key)
    server.behaviour = Behaviour.NOT_JWKS  # the keys, new one included, as a bare array: not a JWKS
    clock.advance(300)

    assert (await check(verifier, old, how)).username == "alice"
    with pytest.raises((KeyNotFoundError, KeysUnavailableError)):
        await check(verifier, token(pool, key=spare_key), how)


def _enc_key(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[dict[str, Any], SigningKeyPair]:
    return {**spare.public_jwk, "kid": "enc-key", "use": "enc"}, SigningKeyPair("enc-key", spare.private_key)


def _symmetric_key(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[dict[str, Any], SigningKeyPair]:
    secret = {"kty": "oct", "kid": "oct-key", "k": "c2VjcmV0", "alg": "HS256"}
    return secret, SigningKeyPair("oct-key", spare.private_key)


def _small_rsa_key(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[dict[str, Any], SigningKeyPair]:
    return small.public_jwk, small


def _wrong_alg_key(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[dict[str, Any], SigningKeyPair]:
    return {**spare.public_jwk, "kid": "es-key", "alg": "ES256"}, SigningKeyPair("es-key", spare.private_key)


def _not_an_object(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[Any, SigningKeyPair]:
    return "not a key", SigningKeyPair("not-a-key", spare.private_key)


def _bad_modulus_key(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[dict[str, Any], SigningKeyPair]:
    return {**spare.public_jwk, "kid": "bad-n", "n": "AA"}, SigningKeyPair("bad-n", spare.private_key)


def _list_alg_key(spare: SigningKeyPair, small: SigningKeyPair) -> tuple[dict[str, Any], SigningKeyPair]:
    return {**spare.public_jwk, "kid": "list-alg", "alg": ["RS256"]}, SigningKeyPair("list-alg", spare.private_key)


UNUSABLE_KEYS = [
    pytest.param(_enc_key, id="use-enc"),
    pytest.param(_symmetric_key, id="kty-oct"),
    pytest.param(_small_rsa_key, id="rsa-1024"),
    pytest.param(_wrong_alg_key, id="alg-unfit-for-kty"),
    pytest.param(_not_an_object, id="not-an-object"),
    pytest.param(_bad_modulus_key, id="bad-modulus"),
    pytest.param(_list_alg_key, id="alg-is-a-list"),
]


@BOTH_WAYS
@pytest.mark.parametrize("unusable", UNUSABLE_KEYS)
async def test_unusable_key_in_the_served_set_is_skipped_while_the_rest_verify(
    server: JWKSServer,
    pool: LocalIssuer,
    make_verifier: MakeVerifier,
    spare_key: SigningKeyPair,
    small_key: SigningKeyPair,
    unusable: Callable[[SigningKeyPair, SigningKeyPair], tuple[Any, SigningKeyPair]],
    how: How,
) -> None:
    jwk, signer = unusable(spare_key, small_key)
    server.document = lambda: {"keys": [jwk, *pool.jwks["keys"]]}
    verifier = make_verifier()

    assert (await check(verifier, token(pool), how)).username == "alice"
    with pytest.raises(KeyNotFoundError):
        await check(verifier, token(pool, key=signer), how)
    assert server.requests == 1


# -- backoff -----------------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_no_new_fetch_is_attempted_before_the_backoff_delay(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    server.behaviour = Behaviour.STATUS_500
    verifier = make_verifier(backoff=4, max_backoff=60)
    jwt = token(pool)
    with pytest.raises(KeysUnavailableError):
        await check(verifier, jwt, how)

    for _ in range(7):
        clock.advance(0.5)
        with pytest.raises(KeysUnavailableError):
            await check(verifier, jwt, how)
    assert server.requests == 1
    clock.advance(0.5)
    with pytest.raises(KeysUnavailableError):
        await check(verifier, jwt, how)
    assert server.requests == 2


@BOTH_WAYS
async def test_backoff_delay_doubles_per_failure_up_to_max_backoff(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock, how: How
) -> None:
    server.behaviour = Behaviour.STATUS_500
    verifier = make_verifier(backoff=1, max_backoff=8)
    jwt = token(pool)
    with pytest.raises(KeysUnavailableError) as raised:
        await check(verifier, jwt, how)
    assert raised.value.retry_after == 1

    for failures in range(2, 8):
        delay = min(8, 2 ** (failures - 2))  # the delay the previous failure set
        clock.advance(delay - 0.5)
        with pytest.raises(KeysUnavailableError):
            await check(verifier, jwt, how)
        assert server.requests == failures - 1, f"fetched again before the {delay} s backoff"
        clock.advance(0.5)
        with pytest.raises(KeysUnavailableError) as raised:
            await check(verifier, jwt, how)
        assert server.requests == failures
        assert raised.value.retry_after == min(8, 2 ** (failures - 1))


def test_outage_plus_token_flood_never_floods_the_endpoint(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    verifier = make_verifier(ttl=30, cooldown=10, backoff=1, max_backoff=60, max_stale=86400)
    known = token(pool)
    verifier.verify_sync(known)
    server.behaviour = Behaviour.STATUS_500
    unknown = [unknown_kid_token(pool) for _ in range(20)]

    verified = 0
    for step in range(1200):  # 300 s of simulated time, 5 tokens every 0.25 s
        clock.advance(0.25)
        assert verifier.verify_sync(known).username == "alice"
        verified += 1
        for jwt in unknown[step % 5 :: 5]:
            with pytest.raises((KeyNotFoundError, KeysUnavailableError)):
                verifier.verify_sync(jwt)

    # Attempts are at least 1 s apart and the delay doubles up to 60 s: over 300 s that is at most
    # 1, 2, 4, 8, 16, 32 (63 s) and then one per 60 s (4 more), plus the warm fetch and some slack for cooldown timing.
    assert verified == 1200
    assert 2 <= server.requests <= 1 + 6 + 5 + 2


async def test_outage_plus_concurrent_token_flood_never_floods_the_endpoint(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    server.behaviour = Behaviour.STATUS_500
    verifier = make_verifier(backoff=1, max_backoff=60)
    tokens = [token(pool)] * 20 + [unknown_kid_token(pool) for _ in range(20)]

    for _ in range(240):  # 120 s of simulated time, 40 concurrent calls every 0.5 s
        clock.advance(0.5)
        results = await asyncio.gather(*(verifier.verify(jwt) for jwt in tokens), return_exceptions=True)
        assert all(isinstance(error, KeysUnavailableError) for error in results)

    # Cold outage: attempts at 0.5, 1.5, 3.5, 7.5, 15.5, 31.5, 63.5 and 123.5 s would be the 8th.
    assert server.requests == 7


# -- fetch timeout ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("trickle", "how"),
    [
        pytest.param(Behaviour.TRICKLE_HEADERS, "verify", id="trickle-headers-verify"),
        pytest.param(
            Behaviour.TRICKLE_HEADERS,
            "verify_sync",
            id="trickle-headers-verify_sync",
        ),
        pytest.param(Behaviour.TRICKLE_BODY, "verify", id="trickle-body-verify"),
        pytest.param(Behaviour.TRICKLE_BODY, "verify_sync", id="trickle-body-verify_sync"),
    ],
)
async def test_response_trickling_in_beyond_the_fetch_timeout_is_abandoned(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, trickle: Behaviour, how: How
) -> None:
    # The server is never silent long enough for a read timeout, but its whole answer takes about 2 s. The timeout
    # bounds the whole fetch: the client hangs up long before the trickle ends (else a slow endpoint would hold
    # every caller waiting on that fetch for as long as it likes).
    server.behaviour = trickle
    verifier = make_verifier(timeout=HANG_TIMEOUT)

    with pytest.raises(KeysUnavailableError):
        await check(verifier, token(pool), how)

    assert server.trickles_finished == 0


# -- no usable keys ----------------------------------------------------------------------------------------------------
COLD_FAILURES = [
    Behaviour.STATUS_500,
    Behaviour.STATUS_404,
    Behaviour.HANG,
    Behaviour.GARBAGE,
    Behaviour.NOT_JWKS,
    Behaviour.NO_USABLE_KEYS,
    Behaviour.HUGE,
    Behaviour.HUGE_CHUNKED,
    Behaviour.REDIRECT,
    Behaviour.DEEP_JSON,
]


@BOTH_WAYS
@pytest.mark.parametrize("failure", COLD_FAILURES, ids=lambda behaviour: behaviour.value)
async def test_failed_fetch_without_usable_keys_raises_keys_unavailable_with_retry_after(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, failure: Behaviour, how: How
) -> None:
    server.behaviour = failure
    verifier = make_verifier(timeout=HANG_TIMEOUT)

    with pytest.raises(KeysUnavailableError) as raised:
        await check(verifier, token(pool), how)

    assert raised.value.retry_after is not None
    assert raised.value.retry_after > 0
    assert raised.value.status_code == 503


@BOTH_WAYS
async def test_jwks_redirect_is_not_followed(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier, how: How
) -> None:
    server.behaviour = Behaviour.REDIRECT
    verifier = make_verifier()

    with pytest.raises(KeysUnavailableError):
        await check(verifier, token(pool), how)

    assert REDIRECT_TARGET not in server.paths


async def test_injected_clients_that_follow_redirects_do_not_follow_the_jwks_redirect(
    server: JWKSServer, pool: LocalIssuer, clock: Clock
) -> None:
    server.behaviour = Behaviour.REDIRECT
    async with httpx.AsyncClient(follow_redirects=True) as async_client:
        with httpx.Client(follow_redirects=True) as sync_client:
            verifier = CognitoVerifier(
                user_pool_id=pool.user_pool_id,
                client_id=pool.client_id,
                token_use="access",
                issuer=pool.issuer,
                http_client=sync_client,
                async_http_client=async_client,
                clock=clock,
            )
            with pytest.raises(KeysUnavailableError):
                await verifier.verify(token(pool))
            clock.advance(3600)  # past any backoff
            with pytest.raises(KeysUnavailableError):
                verifier.verify_sync(token(pool))

    assert server.requests == 2
    assert REDIRECT_TARGET not in server.paths


# -- warm-up -----------------------------------------------------------------------------------------------------------
async def test_warm_up_preloads_the_keys_with_one_request(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()

    await verifier.warm_up()
    assert server.requests == 1
    await verifier.verify(token(pool))
    verifier.verify_sync(token(pool))

    assert server.requests == 1


def test_warm_up_sync_preloads_the_keys_with_one_request(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier
) -> None:
    verifier = make_verifier()

    verifier.warm_up_sync()
    assert server.requests == 1
    verifier.verify_sync(token(pool))

    assert server.requests == 1


@pytest.mark.parametrize("failure", [Behaviour.STATUS_500, Behaviour.HANG], ids=lambda behaviour: behaviour.value)
async def test_warm_up_raises_keys_unavailable_when_the_endpoint_is_down(
    server: JWKSServer, make_verifier: MakeVerifier, failure: Behaviour
) -> None:
    server.behaviour = failure
    verifier = make_verifier(timeout=HANG_TIMEOUT)

    with pytest.raises(KeysUnavailableError) as raised:
        await verifier.warm_up()
    assert raised.value.retry_after is not None


@pytest.mark.parametrize("failure", [Behaviour.STATUS_500, Behaviour.HANG], ids=lambda behaviour: behaviour.value)
def test_warm_up_sync_raises_keys_unavailable_when_the_endpoint_is_down(
    server: JWKSServer, make_verifier: MakeVerifier, failure: Behaviour
) -> None:
    server.behaviour = failure
    verifier = make_verifier(timeout=HANG_TIMEOUT)

    with pytest.raises(KeysUnavailableError) as raised:
        verifier.warm_up_sync()
    assert raised.value.retry_after is not None


# -- URIs --------------------------------------------------------------------------------------------------------------
def test_default_jwks_uri_is_the_issuers_well_known_path(
    server: JWKSServer, pool: LocalIssuer, make_verifier: MakeVerifier
) -> None:
    make_verifier().verify_sync(token(pool))

    assert server.paths == ["/local_Pool1/.well-known/jwks.json"]


def test_http_jwks_uri_on_localhost_is_fetched(server: JWKSServer, pool: LocalIssuer, clock: Clock) -> None:
    verifier = pool.verifier(token_use="access", jwks_uri=f"{server.base_url.replace('127.0.0.1', 'localhost')}/k")
    with contextlib.closing(verifier):
        assert verifier.verify_sync(token(pool)).username == "alice"

    assert server.paths == ["/k"]


# -- offline -----------------------------------------------------------------------------------------------------------
OfflineSource = Literal["dict", "file", "env"]


def offline_verifier(
    pool: LocalIssuer, source: OfflineSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> CognitoVerifier:
    """A verifier with ``pool``'s current keys preloaded in the given way (its issuer URL is the live server)."""
    if source == "dict":
        return pool.verifier(token_use="access")
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(pool.jwks), encoding="utf-8")
    if source == "env":
        set_cognito_env(monkeypatch, pool, jwks_file=path)
        return verifier_from_env(clock=pool.clock)
    return CognitoVerifier(
        user_pool_id=pool.user_pool_id,
        client_id=pool.client_id,
        token_use="access",
        issuer=pool.issuer,
        jwks=str(path),
        clock=pool.clock,
    )


def set_cognito_env(monkeypatch: pytest.MonkeyPatch, pool: LocalIssuer, *, jwks_file: Path) -> None:
    """The environment ``verifier_from_env`` reads, for ``pool`` with offline keys from ``jwks_file``."""
    for name in ("COGNITO_TOKEN_USE", "COGNITO_JWKS_URI", "COGNITO_LEEWAY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", pool.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", pool.client_id)
    monkeypatch.setenv("COGNITO_ISSUER", pool.issuer)
    monkeypatch.setenv("COGNITO_JWKS_FILE", str(jwks_file))


@BOTH_WAYS
@pytest.mark.parametrize("source", ["dict", "file", "env"])
async def test_preloaded_keys_never_contact_the_endpoint_even_for_unknown_kids(
    server: JWKSServer,
    pool: LocalIssuer,
    clock: Clock,
    spare_key: SigningKeyPair,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: OfflineSource,
    how: How,
) -> None:
    verifier = offline_verifier(pool, source, tmp_path, monkeypatch)
    pool.add_key(spare_key)  # published by the server now: a fetch would find it

    assert (await check(verifier, token(pool), how)).username == "alice"
    for _ in range(3):
        clock.advance(3600)
        with pytest.raises(KeyNotFoundError):
            await check(verifier, token(pool, key=spare_key), how)

    assert server.requests == 0


@pytest.mark.parametrize("source", ["dict", "file", "env", "online"])
def test_verify_sync_works_in_a_thread_without_an_event_loop(
    server: JWKSServer,
    pool: LocalIssuer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: OfflineSource | Literal["online"],
) -> None:
    if source == "online":
        verifier = pool.verifier(token_use="access", jwks_uri=pool.jwks_uri)
    else:
        verifier = offline_verifier(pool, source, tmp_path, monkeypatch)
    jwt = token(pool)

    def in_a_fresh_thread(index: int) -> Claims:
        with pytest.raises(RuntimeError):
            asyncio.get_running_loop()
        return verifier.verify_sync(jwt)

    with contextlib.closing(verifier):
        [claims] = run_threads(1, in_a_fresh_thread)

    assert isinstance(claims, Claims)
    assert claims.username == "alice"
    assert server.requests == (1 if source == "online" else 0)
