"""ClientCredentials' settings (keywords and COGNITO_* variables), the token request it sends and how it reads every
kind of answer (token endpoint mocked with respx), sharing through a MemoryTokenCache, and forking."""

from __future__ import annotations

import base64
import math
import os
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from conftest import Clock
from test_client_credentials_standin import M2M_ID, M2M_SECRET, TokenEndpoint
from test_client_credentials_standin import stand_in as stand_in  # a fixture, used by name

from cognito_guard.client import ClientCredentials, MemoryTokenCache
from cognito_guard.errors import ClientCredentialsError, ConfigurationError, TokenEndpointUnavailableError

TOKEN_URL = "https://auth.example.com/oauth2/token"
ANSWER = {"access_token": "header.payload.signature", "expires_in": 3600, "token_type": "Bearer"}


def build(**options: Any) -> ClientCredentials:
    settings: dict[str, Any] = {"token_url": TOKEN_URL, "client_id": "machine", "client_secret": "s3cret"}
    return ClientCredentials(**{**settings, **options})


@pytest.fixture
def cognito() -> Iterator[respx.Router]:
    with respx.mock(assert_all_called=False) as router:
        yield router


# -- where and who ----------------------------------------------------------------------------------------------------


def test_a_domain_host_leads_to_its_https_token_endpoint() -> None:
    credentials = build(token_url=None, domain="auth.example.com")

    assert credentials.token_url == "https://auth.example.com/oauth2/token"


def test_a_domain_prefix_takes_its_region_from_the_user_pool_id() -> None:
    credentials = build(token_url=None, domain="myapp", user_pool_id="eu-west-1_Abc123")

    assert credentials.token_url == "https://myapp.auth.eu-west-1.amazoncognito.com/oauth2/token"


@pytest.mark.parametrize(
    "where",
    [
        {"token_url": None},
        {"domain": "auth.example.com"},
        {"token_url": None, "domain": "myapp"},
        {"token_url": "http://auth.example.com/oauth2/token"},
        {"token_url": "https://auth.example.com/oauth2/token?x=1"},
    ],
    ids=["neither", "both", "prefix-without-pool", "plain-http", "query"],
)
def test_an_unusable_endpoint_setting_is_refused(where: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        build(**where)


@pytest.mark.parametrize(
    "who",
    [{"client_secret": ""}, {"client_id": "a,b"}, {"client_id": ""}, {"scopes": []}, {"scopes": ["a b"]}],
    ids=["no-secret", "two-clients", "no-client", "no-scopes", "scope-with-space"],
)
def test_an_unusable_client_setting_is_refused(who: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        build(**who)


@pytest.mark.parametrize(
    "policy",
    [
        {"renew_after": 0},
        {"renew_after": 1.5},
        {"renew_after": math.nan},
        {"expiry_margin": -1},
        {"timeout": 0},
        {"backoff": True},
        {"lock_wait": -1},
        {"cache": {}},
        {"http_client": object()},
    ],
    ids=lambda policy: next(iter(policy)),
)
def test_an_unusable_policy_setting_is_refused(policy: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        build(**policy)


def test_scopes_may_be_one_space_separated_string() -> None:
    assert build(scopes="orders/read  orders/write").scopes == ("orders/read", "orders/write")


def test_repr_shows_the_client_but_never_the_secret() -> None:
    text = repr(build(client_secret="hunter2-very-secret"))

    assert "machine" in text
    assert "hunter2" not in text


# -- from the environment ---------------------------------------------------------------------------------------------

ENVIRONMENT = {
    "COGNITO_DOMAIN": "auth.example.com",
    "COGNITO_CLIENT_ID": "machine",
    "COGNITO_CLIENT_SECRET": "s3cret",
    "COGNITO_SCOPES": "orders/read orders/write",
}


def test_from_env_reads_the_cognito_variables() -> None:
    credentials = ClientCredentials.from_env(ENVIRONMENT)

    assert credentials.token_url == TOKEN_URL
    assert credentials.client_id == "machine"
    assert credentials.scopes == ("orders/read", "orders/write")


def test_from_env_without_scopes_asks_for_every_allowed_scope() -> None:
    environment = {name: value for name, value in ENVIRONMENT.items() if name != "COGNITO_SCOPES"}

    assert ClientCredentials.from_env(environment).scopes is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("COGNITO_CLIENT_SECRET", None), ("COGNITO_DOMAIN", "http://auth.example.com"), ("COGNITO_CLIENT_ID", "a,b")],
)
def test_from_env_names_the_missing_or_invalid_variable(variable: str, value: str | None) -> None:
    environment = {name: setting for name, setting in ENVIRONMENT.items() if name != variable}
    if value is not None:
        environment[variable] = value

    with pytest.raises(ConfigurationError, match=variable):
        ClientCredentials.from_env(environment)


def test_from_env_keywords_win_over_the_environment() -> None:
    credentials = ClientCredentials.from_env(ENVIRONMENT, scopes=["orders/read"], token_url=TOKEN_URL)

    assert credentials.scopes == ("orders/read",)


def test_from_env_never_shows_a_bad_redis_url() -> None:
    environment = {**ENVIRONMENT, "COGNITO_REDIS_URL": "http://user:hunter2@redis.example.com"}

    with pytest.raises(ConfigurationError, match="COGNITO_REDIS_URL") as caught:
        ClientCredentials.from_env(environment)
    assert "hunter2" not in str(caught.value)


def test_from_env_with_a_redis_url_shares_tokens_through_redis(cognito: respx.Router, redis_url: str) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)
    environment = {**ENVIRONMENT, "COGNITO_REDIS_URL": redis_url}

    tokens = {ClientCredentials.from_env(environment).token() for _ in range(3)}

    assert tokens == {ANSWER["access_token"]}
    assert route.call_count == 1


# -- the request ------------------------------------------------------------------------------------------------------


def test_the_request_is_a_client_credentials_form_with_http_basic(cognito: respx.Router) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)

    build(scopes=["orders/read", "orders/write"]).token()

    request = route.calls.last.request
    assert parse_qs(request.content.decode()) == {
        "grant_type": ["client_credentials"],
        "scope": ["orders/read orders/write"],
    }
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"machine:s3cret").decode()


def test_without_scopes_no_scope_is_sent(cognito: respx.Router) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)

    build().token()

    assert parse_qs(route.calls.last.request.content.decode()) == {"grant_type": ["client_credentials"]}


def test_id_and_secret_are_form_encoded_before_basic(cognito: respx.Router) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)

    build(client_secret="a:b%c d").token()

    expected = base64.b64encode(b"machine:a%3Ab%25c%20d").decode()
    assert route.calls.last.request.headers["authorization"] == f"Basic {expected}"


def test_expiry_counts_from_when_the_token_was_asked_for(cognito: respx.Router, clock: Clock) -> None:
    asked_at = clock.now

    def slow(request: httpx.Request) -> httpx.Response:
        clock.advance(10)
        return httpx.Response(200, json=ANSWER)

    cognito.post(TOKEN_URL).mock(side_effect=slow)
    credentials = build(clock=clock)
    credentials.token()

    assert credentials.metrics.expires_at == asked_at + 3600


# -- the answers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (httpx.Response(200, json={**ANSWER, "token_type": "mac"}), "token_type other than Bearer"),
        (httpx.Response(200, json={**ANSWER, "expires_in": "3600"}), "without a valid expires_in"),
        (httpx.Response(200, json={**ANSWER, "expires_in": 0}), "without a valid expires_in"),
        (httpx.Response(200, json={**ANSWER, "access_token": "a b"}), "cannot go into a header"),
        (httpx.Response(200, json={"expires_in": 3600}), "without a usable access_token"),
        (httpx.Response(200, text="<html>"), "200 without a JSON object"),
        (httpx.Response(429, json={"message": "slow down"}), "answered HTTP 429"),
        (httpx.Response(500, text="oops"), "answered HTTP 500"),
    ],
    ids=["token-type", "string-expiry", "zero-expiry", "space", "no-token", "html", "throttled", "server-error"],
)
def test_an_answer_without_a_usable_token_is_unavailable(
    cognito: respx.Router, response: httpx.Response, said: str
) -> None:
    cognito.post(TOKEN_URL).mock(return_value=response)

    with pytest.raises(TokenEndpointUnavailableError, match=said):
        build().token()


def test_another_oauth_error_is_a_client_credentials_error(cognito: respx.Router) -> None:
    cognito.post(TOKEN_URL).respond(400, json={"error": "invalid_request", "error_description": "bad form"})

    with pytest.raises(ClientCredentialsError) as caught:
        build().token()

    assert caught.value.code == "client_credentials_refused"
    assert (caught.value.error, caught.value.description) == ("invalid_request", "bad form")


def test_an_unreadable_oauth_error_code_is_not_repeated(cognito: respx.Router) -> None:
    cognito.post(TOKEN_URL).respond(400, json={"error": "evil\nline"})

    with pytest.raises(ClientCredentialsError, match="an unreadable error code") as caught:
        build().token()
    assert "\n" not in caught.value.message


def test_an_unexpected_error_of_the_request_is_a_failed_request(cognito: respx.Router) -> None:
    cognito.post(TOKEN_URL).mock(side_effect=RuntimeError("a bug in a transport"))

    with pytest.raises(TokenEndpointUnavailableError, match="RuntimeError"):
        build().token()


# -- sharing and forgetting -------------------------------------------------------------------------------------------


def test_two_sources_sharing_a_memory_cache_make_one_request(cognito: respx.Router) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)
    cache = MemoryTokenCache()

    build(cache=cache).token()
    build(cache=cache).token()

    assert route.call_count == 1


def test_sources_of_different_scopes_do_not_share_a_token(cognito: respx.Router) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)
    cache = MemoryTokenCache()

    build(cache=cache, scopes="orders/read").token()
    build(cache=cache, scopes="orders/write").token()

    assert route.call_count == 2


def test_invalidating_a_token_already_replaced_asks_for_no_new_one(cognito: respx.Router, clock: Clock) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)
    credentials = build(clock=clock)
    credentials.token()

    assert credentials.invalidate("an older token")
    credentials.token()
    assert route.call_count == 1


async def test_ainvalidate_forgets_an_old_token(cognito: respx.Router, clock: Clock) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)
    credentials = build(clock=clock)
    token = await credentials.atoken()
    clock.advance(31)

    assert await credentials.ainvalidate(token)
    await credentials.atoken()
    assert route.call_count == 2
    await credentials.aclose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_during_a_request_asks_on_its_own(stand_in: TokenEndpoint, clock: Clock) -> None:
    credentials = ClientCredentials(token_url=stand_in.token_url, client_id=M2M_ID, client_secret=M2M_SECRET)
    stand_in.gate = threading.Event()
    asking = threading.Thread(target=credentials.token)
    asking.start()
    assert stand_in.arrived.wait(30)

    pid = os.fork()
    if pid == 0:  # the child: it must not wait for a request its parent's thread is making
        code = 1
        try:
            code = 0 if credentials.token() else 1
        finally:
            os._exit(code)
    assert stand_in.wait_for_requests(2)
    stand_in.gate.set()
    asking.join(30)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    credentials.close()


class UnreachableCache:
    """A TokenCache of one's own whose store is out of reach: every call raises, and is counted."""

    blocking = False

    def __init__(self) -> None:
        self.calls = 0

    def _fail(self, *args: Any) -> Any:
        self.calls += 1
        raise ConnectionError("the cache's host is down")

    get = put = put_failure = discard = acquire = release = _fail


def test_a_cache_out_of_reach_is_left_alone_for_a_while(cognito: respx.Router, clock: Clock) -> None:
    route = cognito.post(TOKEN_URL).respond(json=ANSWER)
    cache = UnreachableCache()
    credentials = build(cache=cache, clock=clock)
    credentials.token()
    clock.advance(2700)

    credentials.token()

    assert route.call_count == 2
    assert cache.calls == 1
