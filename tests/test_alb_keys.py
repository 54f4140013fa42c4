"""The ALB key server policy under respx (issue 13): one PEM per ``kid`` fetched from the region's key server, once,
with the JWKS cache's limits (cooldown after unknown kids, backoff after failures, size cap, no redirects).

Time never passes by sleeping: the injected clock is advanced. tests/test_alb_key_server.py runs the same policy
against a real server on 127.0.0.1 (concurrency, timeouts).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import httpx
import pytest
from conftest import Clock
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from cognito_guard import AlbClaims, AlbVerifier, JWKSCache
from cognito_guard.errors import KeyNotFoundError, KeysUnavailableError, MalformedTokenError, SignerError
from cognito_guard.testing import AlbKeyPair, LocalAlb, LocalIssuer

How = Literal["verify", "verify_sync"]
BOTH_WAYS = pytest.mark.parametrize("how", ["verify", "verify_sync"])
ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"
KEY_SERVER = "https://public-keys.auth.elb.eu-west-1.amazonaws.com"


@pytest.fixture
def alb(issuer: LocalIssuer) -> LocalAlb:
    return LocalAlb(alb_arn=ARN, pool=issuer)


def online(alb: LocalAlb, clock: Clock, **cache_options: Any) -> AlbVerifier:
    """A verifier fetching keys from the AWS key server URL (mocked by respx), with these JWKSCache options."""
    return AlbVerifier(
        alb_arn=alb.alb_arn,
        client_id=alb.client_id,
        issuer=alb.issuer,
        jwks_cache=JWKSCache(clock=clock, **cache_options),
        clock=clock,
    )


async def check(verifier: AlbVerifier, token: str, how: How) -> AlbClaims:
    if how == "verify":
        return await verifier.verify(token)
    return verifier.verify_sync(token)


def route_for(respx_mock: Any, kid: str, **answer: Any) -> Any:
    return respx_mock.get(f"{KEY_SERVER}/{kid}").mock(return_value=httpx.Response(**answer))


# -- where and how often -----------------------------------------------------------------------------------------------


@BOTH_WAYS
async def test_key_is_fetched_from_the_regions_alb_key_server_by_kid(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = online(alb, clock)

    claims = await check(verifier, alb.data_token(), how)
    await verifier.aclose()

    assert claims.username == "alice"
    assert route.call_count == 1
    assert str(route.calls.last.request.url) == f"{KEY_SERVER}/{alb.key.kid}"


@BOTH_WAYS
async def test_govcloud_keys_are_fetched_from_the_documented_s3_key_server(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    gov = LocalAlb(
        alb_arn="arn:aws-us-gov:elasticloadbalancing:us-gov-west-1:123456789012:loadbalancer/app/gov/50dc6c495c0c9188",
        pool=issuer,
    )
    route = gov.mock_keys(respx_mock)
    verifier = online(gov, clock)

    await check(verifier, gov.data_token(), how)
    await verifier.aclose()

    assert str(route.calls.last.request.url) == (
        f"https://s3-us-gov-west-1.amazonaws.com/aws-elb-public-keys-prod-us-gov-west-1/{gov.key.kid}"
    )


@BOTH_WAYS
async def test_a_fetched_key_serves_every_later_token_without_a_fetch(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = online(alb, clock)

    for username in ("alice", "bob", "carol"):
        await check(verifier, alb.data_token(username=username), how)
        clock.advance(86400)  # keys never change behind a kid: no TTL
    await verifier.aclose()

    assert route.call_count == 1


@BOTH_WAYS
async def test_each_new_kid_is_fetched_once(respx_mock: Any, alb: LocalAlb, clock: Clock, how: How) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = online(alb, clock)
    first = alb.data_token()
    alb.rotate()

    await check(verifier, first, how)
    await check(verifier, alb.data_token(), how)
    await check(verifier, alb.data_token(username="bob"), how)
    await verifier.aclose()

    assert route.call_count == 2


@BOTH_WAYS
async def test_url_template_replaces_the_aws_key_server(respx_mock: Any, alb: LocalAlb, clock: Clock, how: How) -> None:
    route = respx_mock.get(f"https://keys.internal.example.com/eu-west-1/alb/{alb.key.kid}.pem").mock(
        return_value=httpx.Response(200, text=alb.key.public_pem)
    )
    verifier = AlbVerifier(
        alb_arn=alb.alb_arn,
        client_id=alb.client_id,
        issuer=alb.issuer,
        key_url="https://keys.internal.example.com/{region}/alb/{kid}.pem",
        clock=clock,
    )

    await check(verifier, alb.data_token(), how)
    await verifier.aclose()

    assert route.call_count == 1


@BOTH_WAYS
async def test_token_of_another_alb_never_makes_a_fetch(respx_mock: Any, alb: LocalAlb, clock: Clock, how: How) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = online(alb, clock)

    with pytest.raises(SignerError):
        await check(verifier, alb.other_alb().data_token(), how)
    await verifier.aclose()

    assert route.call_count == 0


@BOTH_WAYS
async def test_kid_that_is_not_a_uuid_never_reaches_the_key_server(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = online(alb, clock)

    with pytest.raises(MalformedTokenError):
        await check(verifier, alb.data_token(headers={"kid": "../../admin?x="}), how)
    await verifier.aclose()

    assert route.call_count == 0


@BOTH_WAYS
async def test_albs_in_two_regions_fetch_from_their_own_regions(
    respx_mock: Any, issuer: LocalIssuer, clock: Clock, how: How
) -> None:
    west = LocalAlb(alb_arn=ARN, pool=issuer)
    east = LocalAlb(alb_arn=ARN.replace("eu-west-1", "us-east-1"), pool=issuer)
    west_route, east_route = west.mock_keys(respx_mock), east.mock_keys(respx_mock)
    verifier = AlbVerifier(
        alb_arn=[west.alb_arn, east.alb_arn], client_id=issuer.client_id, issuer=issuer.issuer, clock=clock
    )

    await check(verifier, west.data_token(), how)
    await check(verifier, east.data_token(), how)
    await verifier.aclose()

    assert (west_route.call_count, east_route.call_count) == (1, 1)


# -- kids the key server does not know ---------------------------------------------------------------------------------


@BOTH_WAYS
@pytest.mark.parametrize("status", [404, 403])
async def test_kid_the_key_server_does_not_know_is_refused_with_401(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How, status: int
) -> None:
    stranger = AlbKeyPair()
    route_for(respx_mock, stranger.kid, status_code=status)
    verifier = online(alb, clock)

    with pytest.raises(KeyNotFoundError) as refused:
        await check(verifier, alb.data_token(key=stranger), how)
    await verifier.aclose()

    assert refused.value.status_code == 401


@BOTH_WAYS
async def test_an_unknown_kid_is_refused_again_without_a_fetch_for_the_cooldown(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = respx_mock.get(url__startswith=KEY_SERVER).mock(return_value=httpx.Response(404))
    verifier = online(alb, clock, cooldown=10)
    made_up = AlbKeyPair()

    for _ in range(5):
        with pytest.raises(KeyNotFoundError):
            await check(verifier, alb.data_token(key=made_up), how)
    assert route.call_count == 1
    clock.advance(10)
    with pytest.raises(KeyNotFoundError):
        await check(verifier, alb.data_token(key=made_up), how)
    await verifier.aclose()

    assert route.call_count == 2


@BOTH_WAYS
async def test_a_made_up_kid_does_not_keep_a_newly_published_key_refused(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    # Keys are fetched one kid at a time: a refusal of one unknown kid must not spread to the next new key (a
    # rotation), or anyone sending made-up kids with our ALB's ARN could keep the new key refused.
    alb.mock_keys(respx_mock)
    verifier = online(alb, clock, cooldown=10)
    with pytest.raises(KeyNotFoundError):
        await check(verifier, alb.data_token(key=AlbKeyPair()), how)

    rotated = alb.rotate()
    claims = await check(verifier, alb.data_token(username="bob"), how)
    await verifier.aclose()

    assert claims.username == "bob"
    assert rotated.kid in respx_mock.calls.last.request.url.path


@BOTH_WAYS
async def test_known_keys_keep_verifying_during_the_cooldown(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    alb.mock_keys(respx_mock)
    verifier = online(alb, clock)
    await check(verifier, alb.data_token(), how)
    with pytest.raises(KeyNotFoundError):
        await check(verifier, alb.data_token(key=AlbKeyPair()), how)

    assert (await check(verifier, alb.data_token(username="bob"), how)).username == "bob"
    await verifier.aclose()


# -- failures: backoff, 503, known keys keep working -------------------------------------------------------------------


@BOTH_WAYS
@pytest.mark.parametrize(
    "answer",
    [
        {"status_code": 500},
        {"status_code": 200, "text": "<html>Service Unavailable</html>"},
        {"status_code": 200, "text": "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"},
        {"status_code": 302, "headers": {"Location": "https://attacker.example/key.pem"}},
    ],
    ids=["500", "garbage", "broken-pem", "redirect"],
)
async def test_failed_fetch_is_a_503_with_retry_after(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How, answer: dict[str, Any]
) -> None:
    route_for(respx_mock, alb.key.kid, **answer)
    verifier = online(alb, clock)

    with pytest.raises(KeysUnavailableError) as refused:
        await check(verifier, alb.data_token(), how)
    await verifier.aclose()

    assert refused.value.status_code == 503
    assert refused.value.retry_after is not None


@BOTH_WAYS
async def test_rsa_key_from_the_key_server_is_refused_as_a_failed_fetch(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    pem = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    route_for(respx_mock, alb.key.kid, status_code=200, content=pem)
    verifier = online(alb, clock)

    with pytest.raises(KeysUnavailableError):
        await check(verifier, alb.data_token(), how)
    await verifier.aclose()


@BOTH_WAYS
@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
async def test_transport_failure_is_a_503(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How, error: type[httpx.HTTPError]
) -> None:
    respx_mock.get(f"{KEY_SERVER}/{alb.key.kid}").mock(side_effect=error("simulated"))
    verifier = online(alb, clock)

    with pytest.raises(KeysUnavailableError):
        await check(verifier, alb.data_token(), how)
    await verifier.aclose()


@BOTH_WAYS
async def test_response_over_the_size_cap_is_a_failed_fetch(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route_for(respx_mock, alb.key.kid, status_code=200, text=alb.key.public_pem + " " * 2048)
    verifier = online(alb, clock, max_bytes=1024)

    with pytest.raises(KeysUnavailableError):
        await check(verifier, alb.data_token(), how)
    await verifier.aclose()


@BOTH_WAYS
async def test_no_fetch_is_made_before_the_backoff_delay_and_retry_after_says_when(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = route_for(respx_mock, alb.key.kid, status_code=503)
    verifier = online(alb, clock, backoff=8, max_backoff=60)
    token = alb.data_token(expires_in=3600)
    with pytest.raises(KeysUnavailableError):
        await check(verifier, token, how)
    clock.advance(3)

    with pytest.raises(KeysUnavailableError) as refused:
        await check(verifier, token, how)
    assert route.call_count == 1
    assert refused.value.retry_after == pytest.approx(5)
    clock.advance(5)
    with pytest.raises(KeysUnavailableError):
        await check(verifier, token, how)
    await verifier.aclose()

    assert route.call_count == 2


@BOTH_WAYS
async def test_backoff_doubles_after_each_failure_up_to_its_cap(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route_for(respx_mock, alb.key.kid, status_code=500)
    verifier = online(alb, clock, backoff=1, max_backoff=4)
    token = alb.data_token(expires_in=3600)
    waits = []

    for _ in range(5):
        with pytest.raises(KeysUnavailableError) as refused:
            await check(verifier, token, how)
        assert refused.value.retry_after is not None
        waits.append(refused.value.retry_after)
        clock.advance(refused.value.retry_after)
    await verifier.aclose()

    assert waits == [1, 2, 4, 4, 4]


@BOTH_WAYS
async def test_known_keys_keep_verifying_while_the_key_server_is_down(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = online(alb, clock)
    await check(verifier, alb.data_token(), how)
    route.mock(return_value=httpx.Response(500))
    with pytest.raises(KeysUnavailableError):
        await check(verifier, alb.data_token(key=AlbKeyPair()), how)

    assert (await check(verifier, alb.data_token(username="bob"), how)).username == "bob"
    await verifier.aclose()


@BOTH_WAYS
async def test_successful_fetch_after_an_outage_resets_the_backoff(
    respx_mock: Any, alb: LocalAlb, clock: Clock, how: How
) -> None:
    route = route_for(respx_mock, alb.key.kid, status_code=500)
    verifier = online(alb, clock, backoff=1, max_backoff=60)
    for _ in range(3):
        with pytest.raises(KeysUnavailableError) as refused:
            await check(verifier, alb.data_token(), how)
        clock.advance(refused.value.retry_after or 0)
    route.mock(return_value=httpx.Response(200, text=alb.key.public_pem))
    await check(verifier, alb.data_token(), how)
    alb.rotate()
    respx_mock.get(f"{KEY_SERVER}/{alb.key.kid}").mock(return_value=httpx.Response(500))

    with pytest.raises(KeysUnavailableError) as refused:
        await check(verifier, alb.data_token(), how)
    await verifier.aclose()

    assert refused.value.retry_after == 1


def test_failed_fetch_is_logged_with_its_url_and_reason_never_a_token(
    respx_mock: Any, alb: LocalAlb, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    route_for(respx_mock, alb.key.kid, status_code=500)
    verifier = online(alb, clock)
    token = alb.data_token()

    with caplog.at_level(logging.WARNING, logger="cognito_guard.alb"), pytest.raises(KeysUnavailableError):
        verifier.verify_sync(token)

    assert f"{KEY_SERVER}/{alb.key.kid}" in caplog.text
    assert "HTTP 500" in caplog.text
    assert all(part not in caplog.text for part in token.split("."))


# -- bounds and clients ------------------------------------------------------------------------------------------------


def test_key_cache_keeps_at_most_max_keys_and_refetches_the_oldest(
    respx_mock: Any, alb: LocalAlb, clock: Clock
) -> None:
    route = alb.mock_keys(respx_mock)
    verifier = AlbVerifier(
        alb_arn=alb.alb_arn, client_id=alb.client_id, issuer=alb.issuer, max_keys=2, cache_size=0, clock=clock
    )
    tokens = []
    for _ in range(3):
        tokens.append(alb.data_token())
        alb.rotate()

    for token in tokens:
        verifier.verify_sync(token)
    verifier.verify_sync(tokens[2])
    assert route.call_count == 3
    verifier.verify_sync(tokens[0])
    verifier.close()

    assert route.call_count == 4


@BOTH_WAYS
async def test_injected_http_clients_fetch_the_keys(alb: LocalAlb, clock: Clock, how: How) -> None:
    seen: list[str] = []

    def serve(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, text=alb.key.public_pem)

    transport = httpx.MockTransport(serve)
    with httpx.Client(transport=transport) as client:
        async with httpx.AsyncClient(transport=transport) as async_client:
            verifier = AlbVerifier(
                alb_arn=alb.alb_arn,
                client_id=alb.client_id,
                issuer=alb.issuer,
                http_client=client,
                async_http_client=async_client,
                clock=clock,
            )
            await check(verifier, alb.data_token(), how)

    assert seen == [f"{KEY_SERVER}/{alb.key.kid}"]


def test_http_clients_next_to_a_jwks_cache_are_a_configuration_error(alb: LocalAlb) -> None:
    from cognito_guard.errors import ConfigurationError

    with httpx.Client() as client, pytest.raises(ConfigurationError):
        AlbVerifier(alb_arn=alb.alb_arn, client_id=None, issuer=alb.issuer, jwks_cache=JWKSCache(), http_client=client)
