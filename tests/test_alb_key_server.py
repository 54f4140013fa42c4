"""The ALB key policy against real HTTP servers on 127.0.0.1 (issue 13: "a real loopback key server").

The test kit's ``LocalAlb.serve_keys()`` plays the AWS key server (``GET /{kid}``: PEM or 404); ``Server`` below also
misbehaves (500, hanging, redirecting, oversized) and holds answers on an event, so concurrency is arranged with
events and barriers, never with sleeps. Only the hanging case waits for real time: the fetch timeout (0.3 s).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import pytest
from conftest import Clock

from cognito_guard import AlbClaims, AlbVerifier, JWKSCache
from cognito_guard.errors import KeyNotFoundError, KeysUnavailableError
from cognito_guard.testing import AlbKeyPair, LocalAlb, LocalIssuer

How = Literal["verify", "verify_sync"]
BOTH_WAYS = pytest.mark.parametrize("how", ["verify", "verify_sync"])
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"
Behaviour = Literal["pem", "500", "hang", "redirect", "huge"]
_SAFETY_TIMEOUT = 30.0  # a held answer is released at the latest after this, so a broken test cannot hang forever


class Server:
    """A key server on a free loopback port whose answers each test switches (``behaviour``) or holds (``hold``)."""

    def __init__(self, keys: Callable[[], dict[str, str]]) -> None:
        self.keys = keys
        self.behaviour: Behaviour = "pem"
        self._condition = threading.Condition()
        self._paths: list[str] = []
        self._gate: threading.Event | None = None
        self._stopped = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.state = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01})

    @property
    def key_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/{{kid}}"

    @property
    def requests(self) -> int:
        with self._condition:
            return len(self._paths)

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: len(self._paths) >= count, timeout)

    def hold(self) -> threading.Event:
        """From now on every answer waits until the returned event is set (or the server stops)."""
        gate = threading.Event()
        with self._condition:
            self._gate = gate
        return gate

    def __enter__(self) -> Server:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stopped.set()
        with self._condition:
            if self._gate is not None:
                self._gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def arrive(self, path: str) -> tuple[Behaviour, threading.Event | None]:
        with self._condition:
            self._paths.append(path)
            self._condition.notify_all()
            return self.behaviour, self._gate


class _Handler(BaseHTTPRequestHandler):
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        state: Server = self.server.state  # type: ignore[attr-defined]
        behaviour, gate = state.arrive(self.path)
        if gate is not None:
            gate.wait(_SAFETY_TIMEOUT)
        if behaviour == "hang":
            state._stopped.wait(_SAFETY_TIMEOUT)
            return
        pem = state.keys().get(self.path.lstrip("/"))
        if behaviour == "redirect":
            self.send_response(302)
            self.send_header("Location", "/" + next(iter(state.keys())))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        status, body = (404, b"") if pem is None else (200, pem.encode())
        if behaviour == "500":
            status = 500
        elif behaviour == "huge":
            body = body.ljust(300 * 1024)  # over the 256 KiB cap, and a valid PEM once stripped
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def alb(issuer: LocalIssuer) -> LocalAlb:
    return LocalAlb(alb_arn=ARN, pool=issuer)


@pytest.fixture
def server(alb: LocalAlb) -> Iterator[Server]:
    with Server(lambda: alb.keys) as running:
        yield running


def verifier_for(alb: LocalAlb, key_url: str, clock: Callable[[], float], **cache_options: Any) -> AlbVerifier:
    return alb.verifier(key_url=key_url, jwks_cache=JWKSCache(clock=clock, **cache_options), clock=clock)


async def check(verifier: AlbVerifier, token: str, how: How) -> AlbClaims:
    if how == "verify":
        return await verifier.verify(token)
    return verifier.verify_sync(token)


class CountingClock:
    """The test clock, counting how often it is read (threads read it before they queue for the fetch)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._condition = threading.Condition()
        self._reads = 0

    def __call__(self) -> float:
        with self._condition:
            self._reads += 1
            self._condition.notify_all()
        return self._clock()

    def wait_for_reads(self, count: int) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: self._reads >= count, 10.0)


# -- the test kit's key server -----------------------------------------------------------------------------------------


@BOTH_WAYS
async def test_keys_are_fetched_over_http_from_the_test_kits_loopback_key_server(
    alb: LocalAlb, clock: Clock, how: How
) -> None:
    with alb.serve_keys() as keys:
        verifier = verifier_for(alb, keys.key_url, clock)
        claims = await check(verifier, alb.data_token(), how)
        await verifier.aclose()

    assert claims.username == "alice"
    assert keys.paths == [f"/{alb.key.kid}"]


@BOTH_WAYS
async def test_the_test_kits_key_server_answers_404_for_an_unknown_kid(alb: LocalAlb, clock: Clock, how: How) -> None:
    with alb.serve_keys() as keys:
        verifier = verifier_for(alb, keys.key_url, clock)
        with pytest.raises(KeyNotFoundError):
            await check(verifier, alb.data_token(key=AlbKeyPair()), how)
        await verifier.aclose()


@BOTH_WAYS
async def test_a_foreign_albs_key_is_served_but_its_token_refused_for_its_signer(
    alb: LocalAlb, clock: Clock, how: How
) -> None:
    from cognito_guard.errors import SignerError

    foreign = alb.other_alb()
    with alb.serve_keys() as keys:
        verifier = verifier_for(alb, keys.key_url, clock)
        with pytest.raises(SignerError):
            await check(verifier, foreign.data_token(), how)
        await verifier.aclose()

    assert foreign.key.kid in alb.keys
    assert keys.paths == []


# -- one fetch for many callers ----------------------------------------------------------------------------------------


async def test_100_concurrent_verify_calls_for_a_new_kid_make_one_request(
    alb: LocalAlb, server: Server, clock: Clock
) -> None:
    verifier = verifier_for(alb, server.key_url, clock)
    token = alb.data_token()
    gate = server.hold()

    async def release_once_the_fetch_arrived() -> None:
        # By the time the one fetch reaches the server, every caller has started and is waiting on it.
        assert await asyncio.to_thread(server.wait_for_requests, 1)
        gate.set()

    *results, _ = await asyncio.gather(*(verifier.verify(token) for _ in range(100)), release_once_the_fetch_arrived())
    await verifier.aclose()

    assert all(isinstance(claims, AlbClaims) for claims in results)
    assert server.requests == 1


async def test_concurrent_calls_for_two_new_kids_make_one_request_each(
    alb: LocalAlb, server: Server, clock: Clock
) -> None:
    verifier = verifier_for(alb, server.key_url, clock)
    first = alb.data_token()
    alb.rotate()
    second = alb.data_token()

    results = await asyncio.gather(*(verifier.verify(token) for token in [first, second] * 20))
    await verifier.aclose()

    assert len(results) == 40
    assert server.requests == 2


def test_16_threads_for_a_new_kid_make_one_request(alb: LocalAlb, server: Server, clock: Clock) -> None:
    counting = CountingClock(clock)
    verifier = verifier_for(alb, server.key_url, counting)
    token = alb.data_token()
    gate = server.hold()
    start = threading.Barrier(16)
    results: list[object] = [None] * 16

    def call(index: int) -> None:
        start.wait()
        try:
            results[index] = verifier.verify_sync(token)
        except Exception as error:
            results[index] = error

    def release() -> None:
        # Each caller reads the clock twice before it queues for the fetch, the one fetching once more.
        server.wait_for_requests(1)
        counting.wait_for_reads(16 * 2 + 1)
        gate.set()

    threads = [threading.Thread(target=call, args=(index,)) for index in range(16)]
    releaser = threading.Thread(target=release)
    releaser.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    releaser.join()
    verifier.close()

    assert all(isinstance(claims, AlbClaims) for claims in results), results
    assert server.requests == 1


async def test_concurrent_calls_share_one_failed_fetch(alb: LocalAlb, server: Server, clock: Clock) -> None:
    server.behaviour = "500"
    verifier = verifier_for(alb, server.key_url, clock)
    token = alb.data_token()

    results = await asyncio.gather(*(verifier.verify(token) for _ in range(50)), return_exceptions=True)
    await verifier.aclose()

    assert all(isinstance(error, KeysUnavailableError) for error in results)
    assert server.requests == 1


# -- misbehaving servers -----------------------------------------------------------------------------------------------


@BOTH_WAYS
@pytest.mark.parametrize("behaviour", ["500", "hang", "redirect", "huge"])
async def test_misbehaving_key_server_gives_503_never_a_key(
    alb: LocalAlb, server: Server, clock: Clock, how: How, behaviour: Behaviour
) -> None:
    server.behaviour = behaviour
    verifier = verifier_for(alb, server.key_url, clock, timeout=0.3)

    with pytest.raises(KeysUnavailableError) as refused:
        await check(verifier, alb.data_token(), how)
    await verifier.aclose()

    assert refused.value.retry_after is not None
    assert server.requests == 1  # a redirect is not followed


@BOTH_WAYS
async def test_after_the_backoff_the_next_token_fetches_again_and_succeeds(
    alb: LocalAlb, server: Server, clock: Clock, how: How
) -> None:
    server.behaviour = "500"
    verifier = verifier_for(alb, server.key_url, clock, backoff=2)
    with pytest.raises(KeysUnavailableError):
        await check(verifier, alb.data_token(), how)
    server.behaviour = "pem"
    clock.advance(2)

    claims = await check(verifier, alb.data_token(), how)
    await verifier.aclose()

    assert claims.username == "alice"
    assert server.requests == 2
