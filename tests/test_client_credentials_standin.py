"""The local Cognito stand-in as the client-credentials tests use it: on 127.0.0.1, with its token requests counted.

:func:`token_endpoint` wraps the stand-in's ASGI app (the stand-in itself is untouched): it counts every
``POST /oauth2/token``, can hold the answers until a test lets them go (so that concurrent callers really overlap),
and can play an endpoint that is down (an error status for every token request). The tests of the counter itself are
at the end; the other ``test_client_credentials*`` modules import the fixtures from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from conftest import Clock

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import AppClient, LocalUserPool, PoolConfig, PoolKeys, create_app, default_config
from cognito_guard.testing.devserver.serve import serve_in_thread

M2M_ID, M2M_SECRET = "local-m2m", "local-m2m-secret"
SHORT_ID, SHORT_SECRET = "short-m2m", "short-m2m-secret"  # a machine client whose tokens live 5 minutes
CODE_ONLY_ID, CODE_ONLY_SECRET = "web-backend", "web-backend-secret"  # confidential, but no client credentials


def pool_config() -> PoolConfig:
    """The built-in pool plus two app clients: a short-lived machine client and one not allowed client credentials."""
    config = default_config()
    extra = {
        SHORT_ID: AppClient(
            SHORT_ID,
            client_secret=SHORT_SECRET,
            allowed_flows=("client_credentials",),
            allowed_scopes=("orders/read",),
            access_token_validity=300,
        ),
        CODE_ONLY_ID: AppClient(
            CODE_ONLY_ID,
            client_secret=CODE_ONLY_SECRET,
            callback_urls=("http://localhost:8000/auth/callback",),
            allowed_flows=("code",),
            allowed_scopes=("openid", "orders/read"),
        ),
    }
    return dataclasses.replace(config, clients={**config.clients, **extra})


@dataclass
class TokenEndpoint:
    """A running stand-in and what its token endpoint saw."""

    base_url: str
    pool: LocalUserPool
    requests: int = 0
    down_with: int | None = None  # an HTTP status every token request gets instead of an answer
    gate: threading.Event | None = None  # when set, token answers wait until it is set
    arrived: threading.Event = field(default_factory=threading.Event)  # set by the first token request
    _counted: threading.Condition = field(default_factory=threading.Condition)

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"

    @property
    def issuer(self) -> str:
        return self.pool.issuer(self.base_url)

    def count(self) -> None:
        with self._counted:
            self.requests += 1
            self._counted.notify_all()
        self.arrived.set()

    def wait_for_requests(self, count: int, timeout: float = 30) -> bool:
        """Block until ``count`` token requests arrived (False after ``timeout`` seconds)."""
        with self._counted:
            return self._counted.wait_for(lambda: self.requests >= count, timeout)


def counting(app: Any, endpoint: TokenEndpoint) -> Any:
    """``app`` with its token requests counted (and held or failed as ``endpoint`` says)."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/oauth2/token":
            endpoint.count()
            if endpoint.gate is not None:
                await asyncio.to_thread(endpoint.gate.wait, 30)
            if endpoint.down_with is not None:
                body = b'{"message": "the token endpoint is down"}'
                headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
                await send({"type": "http.response.start", "status": endpoint.down_with, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return wrapped


@contextlib.contextmanager
def serve_counted(pool: LocalUserPool) -> Iterator[TokenEndpoint]:
    """The stand-in for ``pool`` on a free loopback port, its token requests counted."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    endpoint = TokenEndpoint(f"http://127.0.0.1:{port}", pool)
    app = counting(create_app(pool=pool, public_url=endpoint.base_url), endpoint)
    with serve_in_thread(app, port=port, sock=listener):
        yield endpoint


@pytest.fixture
def stand_in(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[TokenEndpoint]:
    """The stand-in on the test's clock, its token requests counted."""
    with serve_counted(LocalUserPool(pool_config(), keys=PoolKeys(*session_keys), clock=clock)) as endpoint:
        yield endpoint


def test_the_counter_counts_each_token_request(stand_in: TokenEndpoint) -> None:
    for _ in range(3):
        httpx.post(stand_in.token_url, data={"grant_type": "client_credentials"}, auth=(M2M_ID, M2M_SECRET))

    assert stand_in.requests == 3


def test_the_counter_leaves_other_routes_uncounted(stand_in: TokenEndpoint) -> None:
    httpx.get(f"{stand_in.issuer}/.well-known/jwks.json")

    assert stand_in.requests == 0


def test_a_down_token_endpoint_answers_its_status(stand_in: TokenEndpoint) -> None:
    stand_in.down_with = 503

    response = httpx.post(stand_in.token_url, data={"grant_type": "client_credentials"}, auth=(M2M_ID, M2M_SECRET))

    assert response.status_code == 503
    assert stand_in.requests == 1
