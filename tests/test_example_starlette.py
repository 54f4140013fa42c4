"""examples/starlette_app.py is a real program: start it under uvicorn on 127.0.0.1 and call every route over HTTP.

With COGNITO_REDIS_URL pointing at the harness's real Redis, two instances run as separate uvicorn processes and share
the revocation list."""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cognito_env import use_offline_pool
from servers import free_port, serve_asgi, serve_command

from cognito_guard import ConfigurationError
from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
MODULE = "examples.starlette_app"


@pytest.fixture
def pool(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """A local user pool on the real clock: the example verifies with the wall clock, like production."""
    access_key, id_key = session_keys
    return LocalIssuer(
        user_pool_id="eu-west-1_Example1", client_id="example-client", access_key=access_key, id_key=id_key
    )


@pytest.fixture
def fresh_import(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the example importable from the repository root and re-read its environment on the next import."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)


@pytest.fixture
def base_url(pool: LocalIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_import: None) -> Iterator[str]:
    use_offline_pool(monkeypatch, pool, tmp_path)
    with serve_asgi(f"{MODULE}:app") as url:  # what `uvicorn examples.starlette_app:app` does
        yield url


def get(base_url: str, path: str, token: str | None = None) -> httpx.Response:
    return call("GET", base_url, path, token)


def post(base_url: str, path: str, token: str | None = None) -> httpx.Response:
    return call("POST", base_url, path, token)


def call(method: str, base_url: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.request(method, f"{base_url}{path}", headers=headers, timeout=10)


@contextmanager
def uvicorn_instance(tmp_path: Path, name: str) -> Iterator[str]:
    """`uvicorn examples.starlette_app:app` in a process of its own, on a free port, with this test's environment."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("uvicorn")), f"{MODULE}:app", "--port", str(port)]
    with serve_command(command, port=port, cwd=ROOT, log=tmp_path / f"{name}.log") as url:
        yield url


def first_refusal(base_url: str, token: str, *, within: float) -> httpx.Response:
    """Poll ``GET /me`` with ``token`` until the answer is not 200 (or ``within`` seconds pass); the last answer."""
    deadline = time.monotonic() + within
    pause = threading.Event()
    while True:
        response = get(base_url, "/me", token)
        if response.status_code != 200 or time.monotonic() > deadline:
            return response
        pause.wait(0.01)  # the revocation travels through Redis to the other process: poll, do not sleep a fixed time


def test_health_is_public(base_url: str) -> None:
    response = get(base_url, "/health")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


def test_me_describes_the_caller(pool: LocalIssuer, base_url: str) -> None:
    token = pool.access_token(username="alice", sub="sub-alice", scopes=["profile", "orders/read"], groups=["staff"])

    response = get(base_url, "/me", token)

    assert response.status_code == 200
    body = response.json()
    assert (body["sub"], body["username"]) == ("sub-alice", "alice")
    assert (body["scopes"], body["groups"]) == (["orders/read", "profile"], ["staff"])


def test_me_without_token_is_401_with_a_bearer_challenge(base_url: str) -> None:
    response = get(base_url, "/me")

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated", "code": "not_authenticated"}
    assert response.headers["www-authenticate"] == 'Bearer realm="api"'


def test_me_with_an_expired_token_is_401_invalid_token(pool: LocalIssuer, base_url: str) -> None:
    response = get(base_url, "/me", pool.access_token(expires_in=-60))

    assert response.status_code == 401
    assert response.json()["code"] == "token_expired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_orders_lets_a_token_with_orders_read_in(pool: LocalIssuer, base_url: str) -> None:
    response = get(base_url, "/orders", pool.access_token(scopes=["orders/read"]))

    assert response.status_code == 200


def test_orders_without_the_scope_is_403_insufficient_scope(pool: LocalIssuer, base_url: str) -> None:
    response = get(base_url, "/orders", pool.access_token(scopes=["profile"]))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_scope"
    assert response.headers["www-authenticate"] == 'Bearer realm="api", error="insufficient_scope", scope="orders/read"'


def test_admin_lets_a_member_of_the_admin_group_in(pool: LocalIssuer, base_url: str) -> None:
    response = get(base_url, "/admin", pool.access_token(groups=["admin"]))

    assert response.status_code == 200


def test_admin_is_403_for_a_user_outside_the_admin_group(pool: LocalIssuer, base_url: str) -> None:
    response = get(base_url, "/admin", pool.access_token(groups=["staff"]))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_sign_out_answers_204_without_a_body(pool: LocalIssuer, base_url: str) -> None:
    response = post(base_url, "/sign-out", pool.access_token())

    assert (response.status_code, response.content) == (204, b"")


def test_sign_out_without_a_token_is_401(base_url: str) -> None:
    assert post(base_url, "/sign-out").status_code == 401


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/me"), ("GET", "/orders"), ("GET", "/admin"), ("POST", "/sign-out")]
)
def test_a_signed_out_token_is_refused_on_every_route_with_token_revoked(
    pool: LocalIssuer, base_url: str, method: str, path: str
) -> None:
    token = pool.access_token(scopes=["orders/read"], groups=["admin"])
    assert get(base_url, "/me", token).status_code == 200  # verified once: the result is cached
    post(base_url, "/sign-out", token)

    response = call(method, base_url, path, token)

    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_another_sign_in_of_the_same_user_is_still_accepted_after_sign_out(pool: LocalIssuer, base_url: str) -> None:
    signed_out, other = pool.access_token(sub="sub-alice"), pool.access_token(sub="sub-alice")
    post(base_url, "/sign-out", signed_out)

    assert get(base_url, "/me", other).status_code == 200


def test_a_second_instance_sharing_redis_refuses_a_token_signed_out_on_the_first(
    pool: LocalIssuer, redis_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_offline_pool(monkeypatch, pool, tmp_path)
    monkeypatch.setenv("COGNITO_REDIS_URL", redis_url)
    token = pool.access_token()
    with uvicorn_instance(tmp_path, "first") as first, uvicorn_instance(tmp_path, "second") as second:
        assert get(second, "/me", token).status_code == 200
        assert post(first, "/sign-out", token).status_code == 204

        refused = first_refusal(second, token, within=5.0)

    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"


def test_example_refuses_to_start_without_its_settings(monkeypatch: pytest.MonkeyPatch, fresh_import: None) -> None:
    monkeypatch.delenv("COGNITO_USER_POOL_ID", raising=False)

    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        importlib.import_module(MODULE)
