"""CognitoOnlineCheck against real servers on 127.0.0.1: the local Cognito stand-in answering /oauth2/userInfo and
GetUser for tokens signed in through its token endpoint, then revoked at /oauth2/revoke or by GlobalSignOut; and
servers that answer too slowly, too much, or not at all."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from typing import Any, Literal

import httpx
import pytest
from conftest import Clock
from devserver_support import Dev, running, signed_in_tokens
from servers import free_port, serve_wsgi

from cognito_guard import Claims, CognitoVerifier, RevocationList
from cognito_guard.errors import OnlineCheckUnavailableError, TokenRevokedError
from cognito_guard.online import CognitoOnlineCheck, TokenNotCheckableError
from cognito_guard.testing import SigningKeyPair

How = Literal["sync", "async"]
BOTH_WAYS = pytest.mark.parametrize("how", ["sync", "async"])
OPENID = "openid email"
ADMIN = "aws.cognito.signin.user.admin"
TTL = 60.0


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


@pytest.fixture
def revocations(clock: Clock) -> RevocationList:
    return RevocationList(clock=clock)


@pytest.fixture
async def check(dev: Dev, clock: Clock, revocations: RevocationList) -> AsyncIterator[CognitoOnlineCheck]:
    """Asks the stand-in: userInfo on its domain, GetUser at its JSON API (POST /)."""
    online = CognitoOnlineCheck(
        domain=dev.base_url, endpoint_url=dev.base_url, ttl=TTL, revocations=revocations, clock=clock
    )
    yield online
    await online.aclose()


def verifier(dev: Dev, clock: Clock, token_use: Literal["access", "id"] = "access", **options: Any) -> CognitoVerifier:
    return CognitoVerifier(
        user_pool_id="us-east-1_LocalDev",
        client_id="local-client",
        token_use=token_use,
        issuer=dev.issuer,
        clock=clock,
        **options,
    )


def claims_of(dev: Dev, clock: Clock, token: str) -> Claims:
    access_verifier = verifier(dev, clock)
    try:
        return access_verifier.verify_sync(token)
    finally:
        access_verifier.close()


async def ask(check: CognitoOnlineCheck, token: str, claims: Claims, how: How) -> None:
    if how == "async":
        await check.check(token, claims)
    else:
        check.check_sync(token, claims)


def revoke_refresh_token(dev: Dev, refresh_token: str) -> None:
    response = dev.http.post("/oauth2/revoke", data={"token": refresh_token, "client_id": "local-client"})
    assert response.status_code == 200, response.text


def refreshed_access_token(dev: Dev, refresh_token: str) -> str:
    form = {"grant_type": "refresh_token", "client_id": "local-client", "refresh_token": refresh_token}
    response = dev.http.post("/oauth2/token", data=form)
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def global_sign_out(dev: Dev, access_token: str) -> None:
    response = dev.http.post(
        "/",
        headers={
            "X-Amz-Target": "AWSCognitoIdentityProviderService.GlobalSignOut",
            "Content-Type": "application/x-amz-json-1.1",
        },
        content=json.dumps({"AccessToken": access_token}),
    )
    assert response.status_code == 200, response.text


# -- the stand-in's userInfo and GetUser -------------------------------------------------------------------------------
@BOTH_WAYS
async def test_userinfo_says_live_until_the_refresh_token_is_revoked(
    dev: Dev, clock: Clock, check: CognitoOnlineCheck, how: How
) -> None:
    tokens = signed_in_tokens(dev, scope=OPENID)
    token = tokens["access_token"]
    claims = claims_of(dev, clock, token)
    await ask(check, token, claims, how)

    revoke_refresh_token(dev, tokens["refresh_token"])
    clock.advance(TTL)  # the live answer has had its time

    with pytest.raises(TokenRevokedError):
        await ask(check, token, claims, how)


@BOTH_WAYS
async def test_get_user_says_live_until_the_refresh_token_is_revoked(
    dev: Dev, clock: Clock, check: CognitoOnlineCheck, how: How
) -> None:
    tokens = signed_in_tokens(dev, scope=ADMIN)
    token = tokens["access_token"]
    claims = claims_of(dev, clock, token)
    assert "openid" not in claims.scopes
    await ask(check, token, claims, how)

    revoke_refresh_token(dev, tokens["refresh_token"])
    clock.advance(TTL)

    with pytest.raises(TokenRevokedError):
        await ask(check, token, claims, how)


@BOTH_WAYS
async def test_get_user_refuses_every_token_of_a_user_who_signed_out_globally(
    dev: Dev, clock: Clock, check: CognitoOnlineCheck, revocations: RevocationList, how: How
) -> None:
    sessions = [signed_in_tokens(dev, scope=ADMIN)["access_token"] for _ in range(2)]
    for token in sessions:
        await ask(check, token, claims_of(dev, clock, token), how)

    global_sign_out(dev, sessions[0])
    clock.advance(TTL)

    for token in sessions:
        with pytest.raises(TokenRevokedError):
            await ask(check, token, claims_of(dev, clock, token), how)
        assert revocations.is_revoked(claims_of(dev, clock, token))


async def test_cached_live_answer_hides_a_revocation_for_at_most_the_ttl(
    dev: Dev, clock: Clock, check: CognitoOnlineCheck
) -> None:
    tokens = signed_in_tokens(dev, scope=OPENID)
    token = tokens["access_token"]
    claims = claims_of(dev, clock, token)
    check.check_sync(token, claims)
    revoke_refresh_token(dev, tokens["refresh_token"])

    clock.advance(TTL - 1)
    await check.check(token, claims)  # still the cached answer: no request
    clock.advance(1)
    with pytest.raises(TokenRevokedError):
        await check.check(token, claims)


# -- through CognitoVerifier -------------------------------------------------------------------------------------------
class RequestCounter:
    """An httpx event hook counting the requests a client sends."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, request: httpx.Request) -> None:
        self.count += 1

    async def hook(self, request: httpx.Request) -> None:
        self.count += 1


@BOTH_WAYS
async def test_verifier_refuses_a_revoked_sign_in_after_one_question_to_cognito(
    dev: Dev, clock: Clock, revocations: RevocationList, how: How
) -> None:
    tokens = signed_in_tokens(dev, scope=OPENID)
    first = tokens["access_token"]
    clock.advance(1)
    refreshed = refreshed_access_token(dev, tokens["refresh_token"])  # same sign-in, another token
    counter = RequestCounter()
    with httpx.Client(event_hooks={"request": [counter]}) as http_client:
        async with httpx.AsyncClient(event_hooks={"request": [counter.hook]}) as async_http_client:
            online = CognitoOnlineCheck(
                domain=dev.base_url,
                revocations=revocations,
                http_client=http_client,
                async_http_client=async_http_client,
                clock=clock,
            )
            api = verifier(dev, clock, revocations=revocations, online_check=online)
            id_api = verifier(dev, clock, "id", revocations=revocations)

            async def verify(token: str) -> Claims:
                return await api.verify(token) if how == "async" else api.verify_sync(token)

            assert (await verify(first)).username == "alice"
            revoke_refresh_token(dev, tokens["refresh_token"])
            clock.advance(TTL)
            with pytest.raises(TokenRevokedError):
                await verify(first)
            with pytest.raises(TokenRevokedError):
                await verify(refreshed)  # refused by the revocation list, without asking
            with pytest.raises(TokenRevokedError):
                id_api.verify_sync(tokens["id_token"])  # another verifier, no online check: the list knows
            await api.aclose()
            id_api.close()

    assert counter.count == 2  # first while live, first once revoked; never the refreshed token


async def test_each_event_loop_gets_its_own_http_client(dev: Dev, clock: Clock, check: CognitoOnlineCheck) -> None:
    tokens = [signed_in_tokens(dev, scope=OPENID)["access_token"] for _ in range(2)]

    async def check_then_close(token: str) -> None:
        await check.check(token, claims_of(dev, clock, token))
        await check.aclose()  # closes this loop's client: the next loop must get one of its own

    for token in tokens:
        worker = threading.Thread(target=asyncio.run, args=(check_then_close(token),))
        worker.start()
        worker.join()


# -- tokens Cognito cannot answer for ----------------------------------------------------------------------------------
async def test_client_credentials_token_passes_by_default_and_is_refused_when_set_to_deny(
    dev: Dev, clock: Clock
) -> None:
    token = dev.pool.client_credentials("local-m2m", base_url=dev.base_url)
    m2m = CognitoVerifier(
        user_pool_id="us-east-1_LocalDev", client_id="local-m2m", token_use="access", issuer=dev.issuer, clock=clock
    )
    claims = m2m.verify_sync(token)
    m2m.close()

    CognitoOnlineCheck(domain=dev.base_url, clock=clock).check_sync(token, claims)
    with pytest.raises(TokenNotCheckableError):
        await CognitoOnlineCheck(domain=dev.base_url, uncheckable="deny", clock=clock).check(token, claims)


# -- Cognito unreachable, slow, or talking too much --------------------------------------------------------------------
@BOTH_WAYS
async def test_refused_connection_is_unavailability(dev: Dev, clock: Clock, how: How) -> None:
    token = signed_in_tokens(dev, scope=OPENID)["access_token"]
    online = CognitoOnlineCheck(domain=f"http://127.0.0.1:{free_port()}", clock=clock)

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await ask(online, token, claims_of(dev, clock, token), how)
    await online.aclose()

    assert "ConnectError" in raised.value.message


@BOTH_WAYS
async def test_server_that_does_not_answer_in_time_is_given_up_after_the_timeout(
    dev: Dev, clock: Clock, how: How
) -> None:
    token = signed_in_tokens(dev, scope=OPENID)["access_token"]
    release = threading.Event()

    def stuck(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        release.wait(30)  # until the test is over: the check must not wait for it
        start_response("200 OK", [("Content-Type", "application/json")])
        return [b"{}"]

    with serve_wsgi(stuck) as url:
        online = CognitoOnlineCheck(domain=url, timeout=0.3, clock=clock)
        try:
            with pytest.raises(OnlineCheckUnavailableError) as raised:
                await ask(online, token, claims_of(dev, clock, token), how)
        finally:
            release.set()
            await online.aclose()

    assert "0.3 s" in raised.value.message or "Timeout" in raised.value.message


@BOTH_WAYS
async def test_endless_answer_is_cut_at_max_bytes(dev: Dev, clock: Clock, how: How) -> None:
    token = signed_in_tokens(dev, scope=OPENID)["access_token"]

    def endless(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])  # no Content-Length: streamed
        return (b'{"sub": "' + b"x" * 1000 for _ in range(10_000))

    with serve_wsgi(endless) as url:
        online = CognitoOnlineCheck(domain=url, max_bytes=4096, clock=clock)
        with pytest.raises(OnlineCheckUnavailableError) as raised:
            await ask(online, token, claims_of(dev, clock, token), how)
        await online.aclose()

    assert "larger than 4096 bytes" in raised.value.message


@BOTH_WAYS
async def test_silent_listener_is_given_up_after_the_timeout(dev: Dev, clock: Clock, how: How) -> None:
    token = signed_in_tokens(dev, scope=OPENID)["access_token"]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # connections complete in the backlog; nothing ever reads or answers them
        online = CognitoOnlineCheck(domain=f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3, clock=clock)
        with pytest.raises(OnlineCheckUnavailableError):
            await ask(online, token, claims_of(dev, clock, token), how)
        await online.aclose()
