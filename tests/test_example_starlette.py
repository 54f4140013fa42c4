"""examples/starlette_app.py is a real program: start it under uvicorn on 127.0.0.1 and call every route over HTTP."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cognito_env import use_offline_pool
from servers import serve_asgi

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
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.get(f"{base_url}{path}", headers=headers, timeout=10)


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


def test_example_refuses_to_start_without_its_settings(monkeypatch: pytest.MonkeyPatch, fresh_import: None) -> None:
    monkeypatch.delenv("COGNITO_USER_POOL_ID", raising=False)

    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        importlib.import_module(MODULE)
