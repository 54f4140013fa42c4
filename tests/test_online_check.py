"""CognitoOnlineCheck (issue 11, item 3): asking Cognito whether a verified access token is still live, through
/oauth2/userInfo (openid) or GetUser (aws.cognito.signin.user.admin), with answers cached, one request per token,
refusals fed to the revocation list, and explicit policies for uncheckable tokens and an unavailable Cognito.

Cognito is played by respx here; tests/test_online_check_live.py asks the local stand-in over real HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Literal

import httpx
import pytest
import respx
from conftest import Clock

from cognito_guard import Claims, CognitoOnlineCheck, RevocationList
from cognito_guard.errors import (
    ConfigurationError,
    OnlineCheckUnavailableError,
    TokenNotCheckableError,
    TokenRevokedError,
)
from cognito_guard.testing import LocalIssuer
from cognito_guard.verifier import OnlineCheck

How = Literal["sync", "async"]
BOTH_WAYS = pytest.mark.parametrize("how", ["sync", "async"])

DOMAIN = "https://auth.example.com"
USERINFO = f"{DOMAIN}/oauth2/userInfo"
GET_USER = "https://cognito-idp.eu-west-1.amazonaws.com/"  # the region of the `issuer` fixture's pool
OPENID = ("openid", "email")
ADMIN = ("aws.cognito.signin.user.admin",)
REVOKED_CHALLENGE = {"WWW-Authenticate": 'Bearer error="invalid_token", error_description="Access token is revoked"'}

MakeCheck = Callable[..., CognitoOnlineCheck]


@pytest.fixture
async def make_check(clock: Clock) -> AsyncIterator[MakeCheck]:
    """Checks on the test's clock, asking at DOMAIN unless told otherwise; closed after the test."""
    made: list[CognitoOnlineCheck] = []

    def make(**options: Any) -> CognitoOnlineCheck:
        options.setdefault("domain", DOMAIN)
        options.setdefault("clock", clock)
        check = CognitoOnlineCheck(**options)
        made.append(check)
        return check

    yield make
    for check in made:
        await check.aclose()


def verified(issuer: LocalIssuer, token: str) -> Claims:
    verifier = issuer.verifier(token_use=None)
    return verifier.verify_sync(token)


def access(issuer: LocalIssuer, scopes: tuple[str, ...] = OPENID, **options: Any) -> tuple[str, Claims]:
    token = issuer.access_token(scopes=scopes, **options)
    return token, verified(issuer, token)


async def ask(check: CognitoOnlineCheck, token: str, claims: Claims, how: How) -> None:
    if how == "async":
        await check.check(token, claims)
    else:
        check.check_sync(token, claims)


def live_userinfo(claims: Claims) -> httpx.Response:
    return httpx.Response(200, json={"sub": claims.sub, "username": claims.username, "email": "alice@example.com"})


def revoked_userinfo() -> httpx.Response:
    return httpx.Response(401, headers=REVOKED_CHALLENGE, json={"error": "invalid_token"})


def live_get_user(claims: Claims) -> httpx.Response:
    attributes = [{"Name": "sub", "Value": claims.sub}, {"Name": "email", "Value": "alice@example.com"}]
    return httpx.Response(200, json={"Username": claims.username, "UserAttributes": attributes})


def get_user_error(error_type: str, message: str) -> httpx.Response:
    return httpx.Response(400, json={"__type": error_type, "message": message})


# -- live and refused ------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_live_openid_token_is_accepted_after_cognito_confirms_it_at_userinfo(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))

    await ask(make_check(), token, claims, how)

    request = route.calls.last.request
    assert request.headers["authorization"] == f"Bearer {token}"
    assert request.content == b""


@BOTH_WAYS
async def test_live_admin_token_is_accepted_after_cognito_confirms_it_with_get_user(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer, ADMIN)
    route = respx_mock.post(GET_USER).mock(return_value=live_get_user(claims))

    await ask(make_check(), token, claims, how)

    request = route.calls.last.request
    assert request.headers["x-amz-target"] == "AWSCognitoIdentityProviderService.GetUser"
    assert request.headers["content-type"] == "application/x-amz-json-1.1"
    assert request.read() == f'{{"AccessToken": "{token}"}}'.encode()


async def test_token_with_both_scopes_is_asked_about_at_userinfo(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    token, claims = access(issuer, OPENID + ADMIN)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))

    await make_check().check(token, claims)

    assert route.call_count == 1


async def test_get_user_is_called_in_the_region_of_the_token_issuer(
    make_check: MakeCheck, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    issuer = LocalIssuer(user_pool_id="ap-southeast-2_Pool9", client_id="client-a", clock=clock)
    token, claims = access(issuer, ADMIN)
    route = respx_mock.post("https://cognito-idp.ap-southeast-2.amazonaws.com/").mock(
        return_value=live_get_user(claims)
    )

    await make_check().check(token, claims)

    assert route.call_count == 1


async def test_endpoint_url_replaces_the_get_user_endpoint(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    token, claims = access(issuer, ADMIN)
    route = respx_mock.post("https://vpce-1.cognito-idp.eu-west-1.vpce.amazonaws.com/").mock(
        return_value=live_get_user(claims)
    )

    await make_check(endpoint_url="https://vpce-1.cognito-idp.eu-west-1.vpce.amazonaws.com").check(token, claims)

    assert route.call_count == 1


@BOTH_WAYS
async def test_token_cognito_refuses_at_userinfo_is_refused_with_401(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer)
    respx_mock.get(USERINFO).mock(return_value=revoked_userinfo())

    with pytest.raises(TokenRevokedError) as raised:
        await ask(make_check(), token, claims, how)

    assert raised.value.status_code == 401
    assert raised.value.code == "token_revoked"


@BOTH_WAYS
async def test_token_cognito_refuses_with_get_user_is_refused_with_401(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer, ADMIN)
    respx_mock.post(GET_USER).mock(
        return_value=get_user_error("NotAuthorizedException", "Access Token has been revoked")
    )

    with pytest.raises(TokenRevokedError):
        await ask(make_check(), token, claims, how)


# -- the answer cache ------------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_cached_live_answer_is_reused_without_a_request(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, how: How
) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))
    check = make_check()
    await ask(check, token, claims, how)
    clock.advance(59.9)

    await ask(check, token, claims, how)

    assert route.call_count == 1


@BOTH_WAYS
async def test_live_answer_is_asked_for_again_once_the_ttl_has_passed(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, how: How
) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))
    check = make_check(ttl=30)
    await ask(check, token, claims, how)
    clock.advance(30)

    await ask(check, token, claims, how)

    assert route.call_count == 2


async def test_live_answer_is_not_cached_past_the_token_expiry(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock
) -> None:
    token, claims = access(issuer, expires_in=20)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))
    check = make_check(ttl=60)
    await check.check(token, claims)
    clock.advance(20)

    check.check_sync(token, claims)

    assert route.call_count == 2


async def test_ttl_zero_asks_cognito_every_time(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))
    check = make_check(ttl=0)

    check.check_sync(token, claims)
    await check.check(token, claims)

    assert route.call_count == 2


@BOTH_WAYS
async def test_refusal_is_remembered_until_the_token_expires(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, how: How
) -> None:
    token, claims = access(issuer, expires_in=3600)
    route = respx_mock.get(USERINFO).mock(return_value=revoked_userinfo())
    check = make_check(ttl=60)
    with pytest.raises(TokenRevokedError):
        await ask(check, token, claims, how)
    clock.advance(3599)

    with pytest.raises(TokenRevokedError):
        await ask(check, token, claims, how)

    assert route.call_count == 1


async def test_answer_cache_holds_at_most_max_entries_dropping_the_oldest(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    tokens = [access(issuer) for _ in range(3)]
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(tokens[0][1]))  # one user: alice
    check = make_check(max_entries=2)
    for token, claims in tokens:
        check.check_sync(token, claims)

    check.check_sync(*tokens[2])  # the newest: still held
    assert route.call_count == 3
    check.check_sync(*tokens[0])  # the oldest: dropped to make room
    assert route.call_count == 4


async def test_token_without_jti_is_cached_under_a_hash_of_it(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    token, claims = access(issuer, claims={"jti": None, "origin_jti": None})
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))
    check = make_check()

    check.check_sync(token, claims)
    check.check_sync(token, claims)

    assert route.call_count == 1


class JoinCounter(logging.Handler):
    """Counts the callers that joined a request in flight (the check logs each at DEBUG level)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.joined = 0
        self.changed = threading.Condition()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("joining the request in flight"):
            with self.changed:
                self.joined += 1
                self.changed.notify_all()

    def wait_for(self, count: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.joined >= count, timeout=10)


# -- one request per token -------------------------------------------------------------------------------------------
def test_sixteen_threads_asking_about_one_token_share_one_request(
    issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    token, claims = access(issuer)
    joined = JoinCounter()
    caplog.set_level(logging.DEBUG, "cognito_guard.online")
    logging.getLogger("cognito_guard.online").addHandler(joined)

    def answer_once_the_others_joined(request: httpx.Request) -> httpx.Response:
        assert joined.wait_for(15)
        return live_userinfo(claims)

    route = respx_mock.get(USERINFO).mock(side_effect=answer_once_the_others_joined)
    check = CognitoOnlineCheck(domain=DOMAIN, clock=clock, timeout=10)
    failures: list[BaseException] = []

    def caller() -> None:
        try:
            check.check_sync(token, claims)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        logging.getLogger("cognito_guard.online").removeHandler(joined)
        check.close()

    assert failures == []
    assert route.call_count == 1


async def test_fifty_tasks_asking_about_one_token_share_one_request(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    token, claims = access(issuer)
    entered = 0
    all_entered = asyncio.Event()

    async def answer_when_everyone_asked(request: httpx.Request) -> httpx.Response:
        await all_entered.wait()
        return live_userinfo(claims)

    route = respx_mock.get(USERINFO).mock(side_effect=answer_when_everyone_asked)
    check = make_check()

    async def caller() -> None:
        nonlocal entered
        entered += 1
        if entered == 50:
            all_entered.set()
        await check.check(token, claims)

    await asyncio.gather(*(caller() for _ in range(50)))

    assert route.call_count == 1


async def test_a_cancelled_caller_does_not_cancel_the_request_others_wait_for(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter
) -> None:
    token, claims = access(issuer)
    asked, release = asyncio.Event(), asyncio.Event()

    async def answer_when_released(request: httpx.Request) -> httpx.Response:
        asked.set()
        await release.wait()
        return live_userinfo(claims)

    route = respx_mock.get(USERINFO).mock(side_effect=answer_when_released)
    check = make_check()
    first = asyncio.create_task(check.check(token, claims))
    second = asyncio.create_task(check.check(token, claims))
    await asked.wait()  # both tasks ran before the request they share started
    first.cancel()
    release.set()

    await second

    assert first.cancelled()
    assert route.call_count == 1


# -- Cognito unavailable ---------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_unavailable_cognito_refuses_the_token_with_503_by_default(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer)
    respx_mock.get(USERINFO).mock(return_value=httpx.Response(500))

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await ask(make_check(), token, claims, how)

    assert raised.value.status_code == 503
    assert raised.value.retry_after is not None
    assert raised.value.retry_after >= 1
    assert "HTTP 500" in raised.value.message


@BOTH_WAYS
async def test_unavailable_cognito_lets_the_token_through_with_a_warning_when_set_to_allow(
    make_check: MakeCheck,
    issuer: LocalIssuer,
    respx_mock: respx.MockRouter,
    caplog: pytest.LogCaptureFixture,
    how: How,
) -> None:
    token, claims = access(issuer)
    respx_mock.get(USERINFO).mock(return_value=httpx.Response(503))

    with caplog.at_level(logging.WARNING, "cognito_guard.online"):
        await ask(make_check(on_unavailable="allow"), token, claims, how)

    assert [record.levelno for record in caplog.records] == [logging.WARNING]
    assert "online check unavailable (userInfo answered HTTP 503)" in caplog.text


async def test_warnings_of_letting_tokens_through_are_logged_at_most_once_a_minute(
    make_check: MakeCheck,
    issuer: LocalIssuer,
    respx_mock: respx.MockRouter,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    respx_mock.get(USERINFO).mock(return_value=httpx.Response(500))
    check = make_check(on_unavailable="allow")

    with caplog.at_level(logging.WARNING, "cognito_guard.online"):
        for _ in range(4):
            check.check_sync(*access(issuer))
            clock.advance(5)
        clock.advance(60)
        check.check_sync(*access(issuer))

    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[1].endswith("(3 more since the last warning)")


async def test_token_let_through_while_cognito_is_unavailable_is_asked_about_again(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock
) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(side_effect=[httpx.Response(500), revoked_userinfo()])
    check = make_check(on_unavailable="allow")
    await check.check(token, claims)
    clock.advance(1)  # the backoff after one failure

    with pytest.raises(TokenRevokedError):
        await check.check(token, claims)

    assert route.call_count == 2


@BOTH_WAYS
async def test_after_a_failure_cognito_is_not_asked_again_before_the_backoff_has_passed(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, how: How
) -> None:
    first, second = access(issuer), access(issuer)
    route = respx_mock.get(USERINFO).mock(side_effect=[httpx.Response(500), live_userinfo(second[1])])
    check = make_check()
    with pytest.raises(OnlineCheckUnavailableError):
        await ask(check, *first, how)
    clock.advance(0.5)

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await ask(check, *second, how)
    assert route.call_count == 1
    assert raised.value.retry_after == 1.0

    clock.advance(0.5)
    await ask(check, *second, how)
    assert route.call_count == 2


@BOTH_WAYS
async def test_get_user_rate_limit_is_unavailability_not_a_refusal(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer, ADMIN)
    respx_mock.post(GET_USER).mock(return_value=get_user_error("TooManyRequestsException", "Rate exceeded"))

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await ask(make_check(), token, claims, how)

    assert "GetUser answered TooManyRequestsException" in raised.value.message


@BOTH_WAYS
async def test_timeout_is_unavailability(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer)
    respx_mock.get(USERINFO).mock(side_effect=httpx.ReadTimeout)

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await ask(make_check(), token, claims, how)

    assert "ReadTimeout" in raised.value.message


GARBAGE = {
    "userInfo 200 that is not JSON": ("openid", httpx.Response(200, text="<html>Sign in</html>")),
    "userInfo 200 for another user": ("openid", httpx.Response(200, json={"sub": "someone-else"})),
    "userInfo 401 without invalid_token": ("openid", httpx.Response(401, headers={"WWW-Authenticate": "Basic"})),
    "userInfo 403": ("openid", httpx.Response(403, json={"error": "insufficient_scope"})),
    "a redirect": ("openid", httpx.Response(302, headers={"Location": f"{DOMAIN}/login"})),
    "GetUser 200 without the user's sub": ("admin", httpx.Response(200, json={"Username": "alice"})),
    "GetUser 400 that is not JSON": ("admin", httpx.Response(400, text="Bad Request")),
    "GetUser 400 of an unknown error": ("admin", get_user_error("ForbiddenException", "Request blocked")),
    "GetUser 400 with an unreadable error": ("admin", get_user_error("<script>", "x")),
}


@pytest.mark.parametrize(("kind", "answer"), GARBAGE.values(), ids=GARBAGE.keys())
async def test_answer_that_says_neither_live_nor_refused_is_unavailability(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, kind: str, answer: httpx.Response
) -> None:
    token, claims = access(issuer, OPENID if kind == "openid" else ADMIN)
    respx_mock.route(host__in=("auth.example.com", "cognito-idp.eu-west-1.amazonaws.com")).mock(return_value=answer)

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await make_check().check(token, claims)

    assert "<script>" not in raised.value.message


@BOTH_WAYS
async def test_answer_larger_than_max_bytes_is_unavailability(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    token, claims = access(issuer)
    respx_mock.get(USERINFO).mock(return_value=httpx.Response(200, json={"sub": claims.sub, "pad": "x" * 2000}))

    with pytest.raises(OnlineCheckUnavailableError) as raised:
        await ask(make_check(max_bytes=1024), token, claims, how)

    assert "larger than 1024 bytes" in raised.value.message


# -- refusals and the revocation list --------------------------------------------------------------------------------
@BOTH_WAYS
async def test_refused_token_puts_its_sign_in_on_the_revocation_list_so_others_refuse_the_family_without_asking(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, how: How
) -> None:
    revocations = RevocationList(clock=clock)
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(return_value=revoked_userinfo())
    check = make_check(revocations=revocations)
    with pytest.raises(TokenRevokedError):
        await ask(check, token, claims, how)
    refreshed = issuer.access_token(scopes=OPENID, claims={"origin_jti": claims.origin_jti})
    id_token = issuer.id_token(claims={"origin_jti": claims.origin_jti})
    other_verifier = issuer.verifier(token_use=None, revocations=revocations, online_check=check)

    for same_sign_in in (refreshed, id_token):
        with pytest.raises(TokenRevokedError):
            other_verifier.verify_sync(same_sign_in)

    assert route.call_count == 1


async def test_refusal_close_to_the_token_expiry_does_not_revoke_its_sign_in(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock
) -> None:
    revocations = RevocationList(clock=clock)
    token, claims = access(issuer, expires_in=30)  # Cognito's clock may say "expired": the family lives on
    respx_mock.get(USERINFO).mock(return_value=revoked_userinfo())

    with pytest.raises(TokenRevokedError):
        await make_check(revocations=revocations).check(token, claims)

    assert not revocations.is_revoked(claims)


@pytest.mark.parametrize(
    ("error_type", "message"),
    [
        ("NotAuthorizedException", "Access Token has expired"),
        ("NotAuthorizedException", "User is disabled."),
        ("UserNotFoundException", "User does not exist."),
    ],
)
async def test_get_user_refusal_other_than_revoked_refuses_only_this_token(
    make_check: MakeCheck,
    issuer: LocalIssuer,
    respx_mock: respx.MockRouter,
    clock: Clock,
    error_type: str,
    message: str,
) -> None:
    revocations = RevocationList(clock=clock)
    token, claims = access(issuer, ADMIN)
    respx_mock.post(GET_USER).mock(return_value=get_user_error(error_type, message))

    with pytest.raises(TokenRevokedError):
        await make_check(revocations=revocations).check(token, claims)

    assert not revocations.is_revoked(claims)


async def test_refused_token_without_jti_or_origin_jti_is_refused_though_it_cannot_go_on_the_list(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock
) -> None:
    token, claims = access(issuer, claims={"jti": None, "origin_jti": None})
    respx_mock.get(USERINFO).mock(return_value=revoked_userinfo())

    with pytest.raises(TokenRevokedError):
        make_check(revocations=RevocationList(clock=clock)).check_sync(token, claims)


# -- tokens that cannot be checked online ----------------------------------------------------------------------------
def uncheckable_tokens(issuer: LocalIssuer) -> dict[str, str]:
    return {
        "ID token": issuer.id_token(),
        "client-credentials token": issuer.client_credentials_token(scopes=("orders/read",)),
        "user token with only custom scopes": issuer.access_token(scopes=("orders/read",)),
    }


@BOTH_WAYS
async def test_uncheckable_tokens_pass_without_a_request_by_default(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    check = make_check()

    for token in uncheckable_tokens(issuer).values():
        await ask(check, token, verified(issuer, token), how)

    assert respx_mock.calls.call_count == 0


@BOTH_WAYS
async def test_uncheckable_tokens_are_refused_with_403_when_set_to_deny(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, how: How
) -> None:
    check = make_check(uncheckable="deny")

    for kind, token in uncheckable_tokens(issuer).items():
        with pytest.raises(TokenNotCheckableError) as raised:
            await ask(check, token, verified(issuer, token), how)
        assert raised.value.status_code == 403, kind
        assert raised.value.code == "token_not_checkable"
    assert respx_mock.calls.call_count == 0


async def test_openid_token_without_a_domain_configured_is_uncheckable_and_logged(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    token, claims = access(issuer, ("openid",))

    with caplog.at_level(logging.WARNING, "cognito_guard.online"):
        make_check(domain=None).check_sync(token, claims)
        with pytest.raises(TokenNotCheckableError):
            make_check(domain=None, uncheckable="deny").check_sync(token, claims)

    assert "set domain= for openid" in caplog.text
    assert respx_mock.calls.call_count == 0


async def test_admin_token_of_a_non_cognito_issuer_needs_endpoint_url(
    make_check: MakeCheck, clock: Clock, respx_mock: respx.MockRouter
) -> None:
    emulator = LocalIssuer(issuer="https://emulator.example.com/eu-west-1_Pool1", clock=clock)
    token, claims = access(emulator, ADMIN)

    with pytest.raises(TokenNotCheckableError):
        make_check(uncheckable="deny").check_sync(token, claims)
    assert respx_mock.calls.call_count == 0

    route = respx_mock.post("https://emulator.example.com/").mock(return_value=live_get_user(claims))
    make_check(endpoint_url="https://emulator.example.com").check_sync(token, claims)
    assert route.call_count == 1


# -- through the verifier ----------------------------------------------------------------------------------------------
@BOTH_WAYS
async def test_verifier_with_an_online_check_refuses_a_token_cognito_refuses(
    make_check: MakeCheck, issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock, how: How
) -> None:
    live, live_claims = access(issuer)
    revoked = issuer.access_token(scopes=OPENID)
    respx_mock.get(USERINFO).mock(
        side_effect=lambda request: (
            live_userinfo(live_claims) if request.headers["authorization"] == f"Bearer {live}" else revoked_userinfo()
        )
    )
    online_check: OnlineCheck = make_check(revocations=RevocationList(clock=clock))  # mypy: fits the protocol
    verifier = issuer.verifier(online_check=online_check)

    if how == "async":
        assert (await verifier.verify(live)).sub == live_claims.sub
        with pytest.raises(TokenRevokedError):
            await verifier.verify(revoked)
    else:
        assert verifier.verify_sync(live).sub == live_claims.sub
        with pytest.raises(TokenRevokedError):
            verifier.verify_sync(revoked)


# -- secrets ---------------------------------------------------------------------------------------------------------
async def test_the_token_never_appears_in_logs_or_error_messages(
    make_check: MakeCheck,
    issuer: LocalIssuer,
    respx_mock: respx.MockRouter,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    answers: list[httpx.Response | Exception] = [
        httpx.Response(200, text="not json"),
        revoked_userinfo(),
        httpx.Response(500),
        get_user_error("TooManyRequestsException", "Rate exceeded"),
        httpx.ConnectError("connection refused"),
        get_user_error("NotAuthorizedException", "Access Token has been revoked"),
    ]
    respx_mock.route(host__in=("auth.example.com", "cognito-idp.eu-west-1.amazonaws.com")).mock(side_effect=answers)
    tokens = [access(issuer, scopes) for scopes in (OPENID, OPENID, OPENID, ADMIN, ADMIN, ADMIN)]
    seen: list[str] = []
    with caplog.at_level(logging.DEBUG):
        for policy in ("deny", "allow"):
            check = make_check(on_unavailable=policy, uncheckable="deny", revocations=RevocationList(clock=clock))
            for token, claims in tokens[:3] if policy == "deny" else tokens[3:]:
                clock.advance(60)  # past any backoff
                try:
                    await check.check(token, claims)
                except Exception as error:
                    seen += [str(error), repr(error)]
            id_token = issuer.id_token()
            try:
                check.check_sync(id_token, verified(issuer, id_token))
            except Exception as error:
                seen += [str(error), repr(error)]

    seen += [record.getMessage() for record in caplog.records]
    assert len(seen) > 6
    for token, _claims in tokens:
        signature = token.rsplit(".", 1)[1]
        assert not any(signature in text for text in seen)
        assert signature not in caplog.text


# -- settings --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("domain", "user_pool_id", "userinfo"),
    [
        ("auth.example.com", None, "https://auth.example.com/oauth2/userInfo"),
        ("https://auth.example.com/", None, "https://auth.example.com/oauth2/userInfo"),
        ("myapp", "eu-west-1_Pool1", "https://myapp.auth.eu-west-1.amazoncognito.com/oauth2/userInfo"),
        ("http://127.0.0.1:9229", None, "http://127.0.0.1:9229/oauth2/userInfo"),
    ],
)
async def test_domain_is_taken_as_cognito_domains_are_written(
    make_check: MakeCheck,
    issuer: LocalIssuer,
    respx_mock: respx.MockRouter,
    domain: str,
    user_pool_id: str | None,
    userinfo: str,
) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(userinfo).mock(return_value=live_userinfo(claims))

    make_check(domain=domain, user_pool_id=user_pool_id).check_sync(token, claims)

    assert route.call_count == 1


@pytest.mark.parametrize(
    "options",
    [
        {"domain": "http://auth.example.com"},
        {"domain": "https://auth.example.com/oauth2"},
        {"domain": "https://auth.example.com?x=1"},
        {"domain": "myapp"},  # a prefix without the pool (its region)
        {"domain": ""},
        {"endpoint_url": "http://cognito-idp.eu-west-1.amazonaws.com/"},
        {"endpoint_url": "https://cognito-idp.eu-west-1.amazonaws.com/#x"},
        {"ttl": -1},
        {"ttl": float("nan")},
        {"ttl": True},
        {"timeout": 0},
        {"max_entries": 0},
        {"max_bytes": 10},
        {"on_unavailable": "open"},
        {"uncheckable": "ignore"},
        {"revocations": "redis://localhost"},
        {"http_client": httpx.AsyncClient()},
    ],
    ids=repr,
)
def test_bad_settings_are_refused_at_construction(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        CognitoOnlineCheck(**{"domain": DOMAIN, **options})


async def test_from_env_reads_the_hosted_ui_domain_and_the_sdk_endpoint_variable(
    issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock
) -> None:
    openid, openid_claims = access(issuer)
    admin, admin_claims = access(issuer, ADMIN)
    userinfo = respx_mock.get("https://myapp.auth.eu-west-1.amazoncognito.com/oauth2/userInfo").mock(
        return_value=live_userinfo(openid_claims)
    )
    get_user = respx_mock.post("http://127.0.0.1:9229/").mock(return_value=live_get_user(admin_claims))
    environ = {
        "COGNITO_DOMAIN": "myapp",
        "COGNITO_USER_POOL_ID": "eu-west-1_TestPool1",
        "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "http://127.0.0.1:9229",
    }
    check = CognitoOnlineCheck.from_env(environ, clock=clock)

    check.check_sync(openid, openid_claims)
    check.check_sync(admin, admin_claims)
    check.close()

    assert (userinfo.call_count, get_user.call_count) == (1, 1)


async def test_from_env_reads_the_unavailability_policy(
    issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock
) -> None:
    token, claims = access(issuer)
    respx_mock.get(USERINFO).mock(return_value=httpx.Response(500))
    environ = {"COGNITO_DOMAIN": DOMAIN, "COGNITO_ONLINE_CHECK_ON_UNAVAILABLE": "allow"}
    check = CognitoOnlineCheck.from_env(environ, clock=clock)

    check.check_sync(token, claims)
    check.close()


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"COGNITO_DOMAIN": "http://auth.example.com"}, "COGNITO_DOMAIN"),
        ({"COGNITO_DOMAIN": "myapp"}, "COGNITO_DOMAIN"),
        ({"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": "ftp://x"}, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"),
        ({"COGNITO_ONLINE_CHECK_ON_UNAVAILABLE": "maybe"}, "COGNITO_ONLINE_CHECK_ON_UNAVAILABLE"),
    ],
)
def test_from_env_names_the_bad_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        CognitoOnlineCheck.from_env(environ)

    assert named in raised.value.message


def test_options_win_over_the_environment(issuer: LocalIssuer, respx_mock: respx.MockRouter, clock: Clock) -> None:
    token, claims = access(issuer)
    route = respx_mock.get(USERINFO).mock(return_value=live_userinfo(claims))
    check = CognitoOnlineCheck.from_env({"COGNITO_DOMAIN": "http://bad.example.com"}, domain=DOMAIN, clock=clock)

    check.check_sync(token, claims)
    check.close()

    assert route.call_count == 1
