"""examples/fastapi_app.py as a real program: uvicorn on 127.0.0.1, configured only through COGNITO_* variables.

The keys come from a JWKS file (COGNITO_JWKS_FILE), so the app never leaves the machine; the test calls it over HTTP
with httpx and over a WebSocket with the ``websockets`` client.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from cognito_env import use_offline_pool
from servers import serve_asgi
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from cognito_guard import ConfigurationError
from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
MODULE = "examples.fastapi_app"


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import the example afresh, as `uvicorn examples.fastapi_app:app` from the repository root would."""
    monkeypatch.syspath_prepend(str(ROOT))
    if MODULE in sys.modules:
        return importlib.reload(sys.modules[MODULE])
    return importlib.import_module(MODULE)


@pytest.fixture
def pool(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """A user pool on the real clock: the server verifies with time.time()."""
    access_key, id_key = session_keys
    return LocalIssuer(
        user_pool_id="eu-west-1_ExampleApp", client_id="example-client", access_key=access_key, id_key=id_key
    )


@pytest.fixture
def cognito_env(pool: LocalIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    use_offline_pool(monkeypatch, pool, tmp_path)


@pytest.fixture
def base_url(cognito_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    example = load_example(monkeypatch)
    with serve_asgi(example.app) as url:
        yield url


@pytest.fixture
def http(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, trust_env=False) as client:  # trust_env=False: never via a proxy
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_health_is_public(http: httpx.Client) -> None:
    assert http.get("/health").status_code == 200


def test_me_without_a_token_is_401_with_a_bearer_challenge(http: httpx.Client) -> None:
    response = http.get("/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer realm=")
    assert response.json()["code"] == "not_authenticated"


def test_me_describes_the_caller(http: httpx.Client, pool: LocalIssuer) -> None:
    token = pool.access_token(username="alice", scopes=["profile", "orders/read"], groups=["staff"])

    body = http.get("/me", headers=bearer(token)).json()

    assert body["username"] == "alice"
    assert body["sub"]
    assert body["scopes"] == ["orders/read", "profile"]
    assert body["groups"] == ["staff"]


def test_me_refuses_an_expired_token_with_invalid_token(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.get("/me", headers=bearer(pool.access_token(expires_in=-60)))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_me_refuses_an_id_token_because_the_app_takes_access_tokens(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.get("/me", headers=bearer(pool.id_token()))

    assert response.json()["code"] == "invalid_token_use"


def test_orders_without_the_scope_is_403_naming_it(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.get("/orders", headers=bearer(pool.access_token(scopes=["profile"])))

    assert response.status_code == 403
    assert 'scope="orders/read"' in response.headers["WWW-Authenticate"]


def test_orders_with_the_scope_is_200(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.get("/orders", headers=bearer(pool.access_token(scopes=["orders/read"])))

    assert response.status_code == 200


def test_admin_outside_the_group_is_403(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.get("/admin", headers=bearer(pool.access_token(groups=["staff"])))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_admin_in_the_group_is_200(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.get("/admin", headers=bearer(pool.access_token(groups=["admin"])))

    assert response.status_code == 200


async def test_websocket_sends_back_the_username(base_url: str, pool: LocalIssuer) -> None:
    url = base_url.replace("http://", "ws://") + "/ws"

    async with connect(url, additional_headers=bearer(pool.access_token(username="carol")), proxy=None) as websocket:
        assert await websocket.recv() == "carol"


async def test_websocket_without_a_token_is_refused_at_the_handshake(base_url: str) -> None:
    url = base_url.replace("http://", "ws://") + "/ws"

    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, proxy=None):
            pass  # pragma: no cover - the handshake is refused

    assert refused.value.response.status_code == 403


def test_example_refuses_to_start_without_its_settings(cognito_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COGNITO_CLIENT_ID")

    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        load_example(monkeypatch)
