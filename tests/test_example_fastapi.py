"""examples/fastapi_app.py as a real program: uvicorn on 127.0.0.1, configured only through COGNITO_* variables.

The keys come from a JWKS file (COGNITO_JWKS_FILE), so the app never leaves the machine; the test calls it over HTTP
with httpx and over a WebSocket with the ``websockets`` client. With COGNITO_REDIS_URL pointing at the harness's real
Redis, two instances of the example run as separate uvicorn processes and share the revocation list.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import httpx
import pytest
from cognito_env import use_offline_pool
from servers import free_port, serve_asgi, serve_command
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


@contextmanager
def uvicorn_instance(tmp_path: Path, name: str) -> Iterator[str]:
    """`uvicorn examples.fastapi_app:app` in a process of its own, on a free port, with this test's environment."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("uvicorn")), f"{MODULE}:app", "--port", str(port)]
    with serve_command(command, port=port, cwd=ROOT, log=tmp_path / f"{name}.log") as url:
        yield url


def first_refusal(url: str, token: str, *, within: float) -> httpx.Response:
    """Poll ``GET /me`` with ``token`` until the answer is not 200 (or ``within`` seconds pass); the last answer."""
    deadline = time.monotonic() + within
    pause = threading.Event()
    while True:
        response = httpx.get(f"{url}/me", headers=bearer(token), timeout=10)
        if response.status_code != 200 or time.monotonic() > deadline:
            return response
        pause.wait(0.01)  # the revocation travels through Redis to the other process: poll, do not sleep a fixed time


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


def test_sign_out_answers_204_without_a_body(http: httpx.Client, pool: LocalIssuer) -> None:
    response = http.post("/sign-out", headers=bearer(pool.access_token()))

    assert (response.status_code, response.content) == (204, b"")


def test_sign_out_without_a_token_is_401(http: httpx.Client) -> None:
    assert http.post("/sign-out").status_code == 401


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/me"), ("GET", "/orders"), ("GET", "/admin"), ("POST", "/sign-out")]
)
def test_a_signed_out_token_is_refused_on_every_route_with_token_revoked(
    http: httpx.Client, pool: LocalIssuer, method: str, path: str
) -> None:
    token = pool.access_token(scopes=["orders/read"], groups=["admin"])
    assert http.get("/me", headers=bearer(token)).status_code == 200  # verified once: the result is cached
    http.post("/sign-out", headers=bearer(token))

    response = http.request(method, path, headers=bearer(token))

    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


async def test_a_signed_out_token_is_refused_at_the_websocket_handshake(base_url: str, pool: LocalIssuer) -> None:
    token = pool.access_token()
    async with httpx.AsyncClient(trust_env=False) as client:
        await client.post(f"{base_url}/sign-out", headers=bearer(token), timeout=10)

    with pytest.raises(InvalidStatus) as refused:
        async with connect(base_url.replace("http://", "ws://") + "/ws", additional_headers=bearer(token), proxy=None):
            pass  # pragma: no cover - the handshake is refused

    assert refused.value.response.status_code == 403


def test_another_sign_in_of_the_same_user_is_still_accepted_after_sign_out(
    http: httpx.Client, pool: LocalIssuer
) -> None:
    signed_out, other = pool.access_token(sub="sub-alice"), pool.access_token(sub="sub-alice")
    http.post("/sign-out", headers=bearer(signed_out))

    assert http.get("/me", headers=bearer(other)).status_code == 200


def test_sign_out_with_a_client_credentials_token_revokes_only_that_token(
    http: httpx.Client, pool: LocalIssuer
) -> None:
    signed_out, other = pool.client_credentials_token(), pool.client_credentials_token()
    http.post("/sign-out", headers=bearer(signed_out))

    assert http.get("/orders", headers=bearer(signed_out)).json()["code"] == "token_revoked"
    assert http.get("/orders", headers=bearer(other)).status_code == 200


def test_a_second_instance_sharing_redis_refuses_a_token_signed_out_on_the_first(
    cognito_env: None, pool: LocalIssuer, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("COGNITO_REDIS_URL", redis_url)
    token = pool.access_token()
    with uvicorn_instance(tmp_path, "first") as first, uvicorn_instance(tmp_path, "second") as second:
        assert httpx.get(f"{second}/me", headers=bearer(token), timeout=10).status_code == 200
        assert httpx.post(f"{first}/sign-out", headers=bearer(token), timeout=10).status_code == 204

        refused = first_refusal(second, token, within=5.0)

    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"


def test_example_refuses_to_start_without_its_settings(cognito_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COGNITO_CLIENT_ID")

    with pytest.raises(ConfigurationError, match="COGNITO_CLIENT_ID"):
        load_example(monkeypatch)
