"""ClientCredentials against the local stand-in on 127.0.0.1: one token request for many callers, renewal ahead of
expiry on an injected clock, backoff while the token endpoint is down, and Cognito's refusals as clear errors."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import Clock
from test_client_credentials_standin import (
    CODE_ONLY_ID,
    CODE_ONLY_SECRET,
    M2M_ID,
    M2M_SECRET,
    SHORT_ID,
    SHORT_SECRET,
    TokenEndpoint,
)
from test_client_credentials_standin import stand_in as stand_in  # a fixture, used by name

from cognito_guard import CognitoVerifier
from cognito_guard.client import ClientCredentials
from cognito_guard.errors import (
    InvalidClientError,
    InvalidScopeError,
    TokenEndpointUnavailableError,
    UnauthorizedClientError,
)

Make = Callable[..., ClientCredentials]


@pytest.fixture
def make(stand_in: TokenEndpoint, clock: Clock) -> Iterator[Make]:
    """ClientCredentials for the stand-in's machine client on the test's clock (options override); closed after."""
    made: list[ClientCredentials] = []

    def build(**options: Any) -> ClientCredentials:
        settings: dict[str, Any] = {"token_url": stand_in.token_url, "client_id": M2M_ID, "client_secret": M2M_SECRET}
        credentials = ClientCredentials(**{**settings, "clock": clock, **options})
        made.append(credentials)
        return credentials

    yield build
    for credentials in made:
        credentials.close()


def run_in_threads(count: int, work: Callable[[int], None]) -> None:
    threads = [threading.Thread(target=work, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()


class Arrivals:
    """Counts callers that are about to ask; ``all_here`` is set when ``expected`` of them are."""

    def __init__(self, expected: int) -> None:
        self.expected, self.count = expected, 0
        self.lock = threading.Lock()
        self.all_here = threading.Event()

    def arrive(self) -> None:
        with self.lock:
            self.count += 1
            if self.count == self.expected:
                self.all_here.set()


def hold_until(stand_in: TokenEndpoint, arrivals: Arrivals) -> threading.Thread:
    """Let the held token answer go once the first request arrived and every caller is asking."""

    def release() -> None:
        assert stand_in.arrived.wait(30)
        assert arrivals.all_here.wait(30)
        assert stand_in.gate is not None
        stand_in.gate.set()

    releaser = threading.Thread(target=release)
    releaser.start()
    return releaser


# -- what it fetches ---------------------------------------------------------------------------------------------------


def test_the_token_is_a_client_credentials_token_of_the_app_client(make: Make, stand_in: TokenEndpoint) -> None:
    verifier = CognitoVerifier(
        user_pool_id="us-east-1_LocalDev",
        client_id=M2M_ID,
        token_use="access",
        issuer=stand_in.issuer,
        jwks_uri=f"{stand_in.issuer}/.well-known/jwks.json",
        clock=stand_in.pool.clock,
    )

    claims = verifier.verify_sync(make().token())

    assert claims.sub == M2M_ID
    assert claims.scopes == frozenset({"orders/read", "orders/write"})
    verifier.close()


def test_the_token_carries_the_scopes_asked_for(make: Make, stand_in: TokenEndpoint) -> None:
    verifier = CognitoVerifier(
        user_pool_id="us-east-1_LocalDev",
        client_id=M2M_ID,
        token_use="access",
        issuer=stand_in.issuer,
        jwks_uri=f"{stand_in.issuer}/.well-known/jwks.json",
        clock=stand_in.pool.clock,
    )

    claims = verifier.verify_sync(make(scopes="orders/read").token())

    assert claims.scopes == frozenset({"orders/read"})
    verifier.close()


def test_a_domain_url_leads_to_its_token_endpoint(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make(token_url=None, domain=stand_in.base_url)

    assert credentials.token()
    assert stand_in.requests == 1


# -- one request for many callers --------------------------------------------------------------------------------------


def test_200_calls_from_16_threads_make_one_token_request(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make()
    stand_in.gate = threading.Event()
    arrivals = Arrivals(16)
    tokens: list[str] = []

    def caller(index: int) -> None:
        arrivals.arrive()
        for _ in range(13 if index < 8 else 12):  # 8 x 13 + 8 x 12 = 200
            tokens.append(credentials.token())

    releaser = hold_until(stand_in, arrivals)
    run_in_threads(16, caller)
    releaser.join(30)

    assert len(tokens) == 200
    assert len(set(tokens)) == 1
    assert stand_in.requests == 1


async def test_200_asyncio_tasks_make_one_token_request(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make()

    tokens = await asyncio.gather(*(credentials.atoken() for _ in range(200)))

    assert len(set(tokens)) == 1
    assert stand_in.requests == 1
    await credentials.aclose()


def test_threads_and_event_loops_together_make_one_token_request(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make()
    stand_in.gate = threading.Event()
    arrivals = Arrivals(8)
    tokens: list[str] = []

    async def tasks() -> list[str]:
        arrivals.arrive()
        answers = await asyncio.gather(*(credentials.atoken() for _ in range(25)))
        await credentials.aclose()
        return answers

    def caller(index: int) -> None:
        if index % 2:
            tokens.extend(asyncio.run(tasks()))
        else:
            arrivals.arrive()
            tokens.extend(credentials.token() for _ in range(25))

    releaser = hold_until(stand_in, arrivals)
    run_in_threads(8, caller)
    releaser.join(30)

    assert len(tokens) == 200
    assert len(set(tokens)) == 1
    assert stand_in.requests == 1


def test_metrics_count_the_token_fetched_and_the_calls_it_served(make: Make, clock: Clock) -> None:
    credentials = make()

    for _ in range(5):
        credentials.token()

    metrics = credentials.metrics
    assert (metrics.tokens_fetched, metrics.cache_hits, metrics.fetch_failures) == (1, 4, 0)
    assert metrics.expires_at == clock.now + 3600


def test_metrics_before_the_first_token_have_no_expiry(make: Make) -> None:
    assert make().metrics.expires_at is None


async def test_a_cancelled_caller_does_not_cancel_the_request_others_wait_for(
    make: Make, stand_in: TokenEndpoint
) -> None:
    credentials = make()
    stand_in.gate = threading.Event()
    leader = asyncio.create_task(credentials.atoken())
    await asyncio.to_thread(stand_in.arrived.wait, 30)
    follower = asyncio.create_task(credentials.atoken())

    leader.cancel()
    stand_in.gate.set()

    assert await follower
    assert stand_in.requests == 1
    await credentials.aclose()


# -- renewal ahead of expiry -------------------------------------------------------------------------------------------


def test_the_token_is_reused_until_75_percent_of_its_lifetime(
    make: Make, stand_in: TokenEndpoint, clock: Clock
) -> None:
    credentials = make()
    first = credentials.token()

    clock.advance(2699)

    assert credentials.token() == first
    assert stand_in.requests == 1


def test_a_new_token_is_fetched_at_75_percent_of_its_lifetime(
    make: Make, stand_in: TokenEndpoint, clock: Clock
) -> None:
    credentials = make()
    first = credentials.token()

    clock.advance(2700)

    assert credentials.token() != first
    assert stand_in.requests == 2


def test_renew_after_sets_the_point_of_renewal(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make(renew_after=0.5)
    credentials.token()

    clock.advance(1800)
    credentials.token()

    assert stand_in.requests == 2


def test_a_failed_renewal_keeps_the_current_token_in_service(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make()
    first = credentials.token()
    clock.advance(2700)
    stand_in.down_with = 503

    assert credentials.token() == first
    assert credentials.token() == first  # still in backoff: no new request
    assert stand_in.requests == 2


def test_a_token_within_the_expiry_margin_is_never_handed_out(
    make: Make, stand_in: TokenEndpoint, clock: Clock
) -> None:
    credentials = make()
    credentials.token()
    stand_in.down_with = 503

    clock.advance(3600 - 60)

    with pytest.raises(TokenEndpointUnavailableError):
        credentials.token()


def test_a_short_lived_token_is_renewed_at_75_percent_of_its_lifetime(
    make: Make, stand_in: TokenEndpoint, clock: Clock
) -> None:
    credentials = make(client_id=SHORT_ID, client_secret=SHORT_SECRET)
    credentials.token()

    clock.advance(224)
    credentials.token()
    assert stand_in.requests == 1
    clock.advance(1)
    credentials.token()
    assert stand_in.requests == 2


def test_the_margin_takes_at_most_half_of_a_short_lifetime(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make(client_id=SHORT_ID, client_secret=SHORT_SECRET, expiry_margin=600)
    first = credentials.token()

    clock.advance(149)
    assert credentials.token() == first
    clock.advance(1)
    assert credentials.token() != first
    assert stand_in.requests == 2


# -- the token endpoint down -------------------------------------------------------------------------------------------


def test_while_the_endpoint_is_down_16_threads_share_one_request(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make()
    stand_in.down_with = 503
    stand_in.gate = threading.Event()
    arrivals = Arrivals(16)
    errors: list[BaseException] = []

    def caller(index: int) -> None:
        arrivals.arrive()
        for _ in range(12):
            try:
                credentials.token()
            except TokenEndpointUnavailableError as error:
                errors.append(error)

    releaser = hold_until(stand_in, arrivals)
    run_in_threads(16, caller)
    releaser.join(30)

    assert len(errors) == 16 * 12
    assert stand_in.requests == 1


async def test_while_the_endpoint_is_down_200_tasks_share_one_request(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make()
    stand_in.down_with = 503

    outcomes = await asyncio.gather(*(credentials.atoken() for _ in range(200)), return_exceptions=True)

    assert all(isinstance(outcome, TokenEndpointUnavailableError) for outcome in outcomes)
    assert stand_in.requests == 1
    await credentials.aclose()


def test_the_unavailable_error_says_what_happened_and_when_to_try_again(make: Make, stand_in: TokenEndpoint) -> None:
    stand_in.down_with = 503

    with pytest.raises(TokenEndpointUnavailableError) as caught:
        make().token()

    assert caught.value.status_code == 503
    assert caught.value.code == "token_endpoint_unavailable"
    assert caught.value.retry_after == 1
    assert caught.value.message == (
        "no token for app client 'local-m2m': Cognito's token endpoint answered HTTP 503; next try in 1 s"
    )


def test_no_request_is_sent_before_the_backoff_ends(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make()
    stand_in.down_with = 503
    with pytest.raises(TokenEndpointUnavailableError):
        credentials.token()

    clock.advance(0.9)

    with pytest.raises(TokenEndpointUnavailableError):
        credentials.token()
    assert stand_in.requests == 1


def test_the_backoff_doubles_after_each_failure(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make()
    stand_in.down_with = 503
    with pytest.raises(TokenEndpointUnavailableError):
        credentials.token()
    clock.advance(1)
    with pytest.raises(TokenEndpointUnavailableError) as second:
        credentials.token()

    clock.advance(1.9)
    with pytest.raises(TokenEndpointUnavailableError):
        credentials.token()

    assert second.value.retry_after == 2
    assert stand_in.requests == 2


def test_the_backoff_stops_growing_at_max_backoff(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make(max_backoff=4)
    stand_in.down_with = 503
    retry_after: list[float | None] = []

    for _ in range(5):
        with pytest.raises(TokenEndpointUnavailableError) as caught:
            credentials.token()
        retry_after.append(caught.value.retry_after)
        clock.advance(caught.value.retry_after or 0)

    assert retry_after == [1, 2, 4, 4, 4]


def test_a_success_ends_the_backoff(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = make()
    stand_in.down_with = 503
    with pytest.raises(TokenEndpointUnavailableError):
        credentials.token()
    stand_in.down_with = None
    clock.advance(1)
    credentials.token()
    clock.advance(2700)
    stand_in.down_with = 503
    credentials.token()  # the renewal fails, the current token serves

    clock.advance(1)
    stand_in.down_with = None
    credentials.token()

    assert stand_in.requests == 4  # retried after 1 s again, not 2


def test_an_unreachable_endpoint_is_unavailable(make: Make) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]

    with pytest.raises(TokenEndpointUnavailableError, match="could not be reached"):
        make(token_url=f"http://127.0.0.1:{port}/oauth2/token").token()


def test_a_failure_is_logged_once_per_request_without_the_secret(
    make: Make, stand_in: TokenEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    stand_in.down_with = 503
    credentials = make()

    for _ in range(3):
        with pytest.raises(TokenEndpointUnavailableError):
            credentials.token()

    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "HTTP 503" in warnings[0].getMessage()
    assert M2M_SECRET not in caplog.text


# -- Cognito's refusals ------------------------------------------------------------------------------------------------


def test_a_wrong_secret_is_invalid_client_and_the_secret_is_never_shown(
    make: Make, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(InvalidClientError) as caught:
        make(client_secret="wrong-secret-123").token()

    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 500
    assert "wrong-secret-123" not in str(caught.value) + repr(caught.value) + caplog.text


def test_an_unknown_scope_is_invalid_scope(make: Make) -> None:
    with pytest.raises(InvalidScopeError, match="invalid_scope"):
        make(scopes=["orders/delete"]).token()


def test_a_client_without_the_client_credentials_flow_is_unauthorized_client(make: Make) -> None:
    with pytest.raises(UnauthorizedClientError, match="unauthorized_client"):
        make(client_id=CODE_ONLY_ID, client_secret=CODE_ONLY_SECRET).token()


def test_a_refusal_is_not_asked_again_before_the_backoff_ends(make: Make, stand_in: TokenEndpoint) -> None:
    credentials = make(client_secret="wrong")
    for _ in range(3):
        with pytest.raises(InvalidClientError):
            credentials.token()

    assert stand_in.requests == 1


async def test_atoken_raises_the_same_refusal(make: Make) -> None:
    credentials = make(client_secret="wrong")

    with pytest.raises(InvalidClientError):
        await credentials.atoken()
    await credentials.aclose()
