"""ClientCredentials as the auth of httpx (sync and async) and requests, calling an API on 127.0.0.1 with tokens from
the stand-in: the bearer header, and one new token and one retry when the API answers 401 ``invalid_token``."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import Clock
from test_client_credentials_standin import M2M_ID, M2M_SECRET, TokenEndpoint
from test_client_credentials_standin import stand_in as stand_in  # a fixture, used by name

from cognito_guard.client import ClientCredentials
from cognito_guard.testing.devserver.serve import serve_in_thread

EXPIRED = 'Bearer realm="api", error="invalid_token", error_description="The access token expired"'


@dataclass
class Api:
    """An API that records each request's token and body, and refuses the tokens in ``refused`` (all with
    ``refuse_all``) with a 401 carrying ``challenge``."""

    url: str = ""
    seen: list[str] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)
    refuse_all: bool = False
    status: int = 401
    challenge: str = EXPIRED

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        headers = dict(scope["headers"])
        token = headers.get(b"authorization", b"").decode()[len("Bearer ") :]
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.seen.append(token)
        self.bodies.append(body)
        if self.refuse_all or token in self.refused:
            status, extra = self.status, [(b"www-authenticate", self.challenge.encode())]
        else:
            status, extra = 200, []
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2"), *extra]})
        await send({"type": "http.response.body", "body": b"{}"})


@pytest.fixture
def api() -> Iterator[Api]:
    server = Api()
    with serve_in_thread(server) as url:
        server.url = url
        yield server


@pytest.fixture
def credentials(stand_in: TokenEndpoint, clock: Clock) -> Iterator[ClientCredentials]:
    with ClientCredentials(
        token_url=stand_in.token_url, client_id=M2M_ID, client_secret=M2M_SECRET, clock=clock
    ) as credentials:
        yield credentials


def aged(credentials: ClientCredentials, clock: Clock) -> str:
    """The current token, a minute old: past the cooldown that protects fresh tokens from being replaced."""
    token = credentials.token()
    clock.advance(60)
    return token


# -- httpx -------------------------------------------------------------------------------------------------------------


def test_httpx_sends_the_token_as_a_bearer_header(credentials: ClientCredentials, api: Api) -> None:
    with httpx.Client(auth=credentials) as client:
        response = client.get(f"{api.url}/orders")

    assert response.status_code == 200
    assert api.seen == [credentials.token()]


def test_a_401_invalid_token_brings_one_new_token_and_one_retry(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint, clock: Clock
) -> None:
    api.refused.add(aged(credentials, clock))

    with httpx.Client(auth=credentials) as client:
        response = client.get(f"{api.url}/orders")

    assert response.status_code == 200
    assert len(api.seen) == 2
    assert api.seen[1] == credentials.token() != api.seen[0]
    assert stand_in.requests == 2


def test_a_request_refused_again_is_not_retried_a_second_time(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint, clock: Clock
) -> None:
    aged(credentials, clock)
    api.refuse_all = True

    with httpx.Client(auth=credentials) as client:
        response = client.get(f"{api.url}/orders")

    assert response.status_code == 401
    assert len(api.seen) == 2
    assert stand_in.requests == 2


def test_a_refused_token_younger_than_the_cooldown_is_not_replaced(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint
) -> None:
    api.refuse_all = True

    with httpx.Client(auth=credentials) as client:
        response = client.get(f"{api.url}/orders")

    assert response.status_code == 401
    assert len(api.seen) == 1
    assert stand_in.requests == 1


@pytest.mark.parametrize(
    ("status", "challenge"),
    [(401, 'Bearer realm="api"'), (403, 'Bearer error="insufficient_scope", scope="orders/write"')],
)
def test_an_answer_other_than_invalid_token_is_not_retried(
    credentials: ClientCredentials, api: Api, clock: Clock, status: int, challenge: str
) -> None:
    aged(credentials, clock)
    api.refuse_all, api.status, api.challenge = True, status, challenge

    with httpx.Client(auth=credentials) as client:
        response = client.get(f"{api.url}/orders")

    assert response.status_code == status
    assert len(api.seen) == 1


def test_the_retry_sends_the_request_body_again(credentials: ClientCredentials, api: Api, clock: Clock) -> None:
    api.refused.add(aged(credentials, clock))

    with httpx.Client(auth=credentials) as client:
        client.post(f"{api.url}/orders", content=iter([b'{"item": ', b'"tea"}']))

    assert api.bodies == [b'{"item": "tea"}', b'{"item": "tea"}']


def test_the_new_token_serves_the_requests_that_follow(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint, clock: Clock
) -> None:
    api.refused.add(aged(credentials, clock))

    with httpx.Client(auth=credentials) as client:
        for _ in range(3):
            client.get(f"{api.url}/orders")

    assert len(api.seen) == 4
    assert stand_in.requests == 2


async def test_async_httpx_sends_one_token_for_200_concurrent_requests(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint
) -> None:
    async with httpx.AsyncClient(auth=credentials) as client:
        responses = await asyncio.gather(*(client.get(f"{api.url}/orders") for _ in range(200)))

    assert {response.status_code for response in responses} == {200}
    assert len(set(api.seen)) == 1
    assert stand_in.requests == 1
    await credentials.aclose()


async def test_async_httpx_retries_once_after_invalid_token(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint, clock: Clock
) -> None:
    api.refused.add(await credentials.atoken())
    clock.advance(60)

    async with httpx.AsyncClient(auth=credentials) as client:
        response = await client.get(f"{api.url}/orders")

    assert response.status_code == 200
    assert len(api.seen) == 2
    assert stand_in.requests == 2
    await credentials.aclose()


# -- requests ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def requests_module() -> Any:
    return pytest.importorskip("requests")


def test_requests_auth_is_a_requests_auth_base(credentials: ClientCredentials, requests_module: Any) -> None:
    assert isinstance(credentials.requests_auth(), requests_module.auth.AuthBase)


def test_requests_sends_the_token_as_a_bearer_header(
    credentials: ClientCredentials, api: Api, requests_module: Any
) -> None:
    with requests_module.Session() as session:
        session.auth = credentials.requests_auth()
        response = session.get(f"{api.url}/orders", timeout=10)

    assert response.status_code == 200
    assert api.seen == [credentials.token()]


def test_requests_retries_once_after_invalid_token_with_the_body_again(
    credentials: ClientCredentials, api: Api, stand_in: TokenEndpoint, clock: Clock, requests_module: Any
) -> None:
    api.refused.add(aged(credentials, clock))

    response = requests_module.post(f"{api.url}/orders", data=b"tea", auth=credentials.requests_auth(), timeout=10)

    assert response.status_code == 200
    assert api.bodies == [b"tea", b"tea"]
    assert api.seen[1] == credentials.token() != api.seen[0]
    assert [old.status_code for old in response.history] == [401]
    assert stand_in.requests == 2


def test_requests_does_not_retry_a_second_refusal(
    credentials: ClientCredentials, api: Api, clock: Clock, requests_module: Any
) -> None:
    aged(credentials, clock)
    api.refuse_all = True

    response = requests_module.get(f"{api.url}/orders", auth=credentials.requests_auth(), timeout=10)

    assert response.status_code == 401
    assert len(api.seen) == 2


def test_requests_does_not_replace_a_young_token(
    credentials: ClientCredentials, api: Api, requests_module: Any
) -> None:
    api.refuse_all = True

    response = requests_module.get(f"{api.url}/orders", auth=credentials.requests_auth(), timeout=10)

    assert response.status_code == 401
    assert len(api.seen) == 1
