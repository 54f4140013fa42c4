"""examples/flask_app.py is a real program: configured from COGNITO_* only, served on 127.0.0.1, called over HTTP.

Keys come from a JWKS file in a temporary directory (COGNITO_JWKS_FILE), so nothing leaves the machine.
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
from servers import free_port, serve_command, serve_wsgi

from cognito_guard import ConfigurationError
from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
MODULE = "examples.flask_app"
POOL_ID = "eu-west-1_TestPool1"
CLIENT_ID = "example-client"


@pytest.fixture
def live_issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """The pool the example trusts, on the real clock (the example's verifier uses the real clock)."""
    access_key, id_key = session_keys
    return LocalIssuer(user_pool_id=POOL_ID, client_id=CLIENT_ID, access_key=access_key, id_key=id_key)


@pytest.fixture
def cognito_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, live_issuer: LocalIssuer) -> dict[str, str]:
    """COGNITO_* variables for the example: the test pool, its keys in a JWKS file; nothing else from outside."""
    return use_offline_pool(monkeypatch, live_issuer, tmp_path)


def load_example(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """Import examples/flask_app.py afresh, so it reads the environment of this test."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    return importlib.import_module(MODULE)


@pytest.fixture
def base_url(cognito_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    example = load_example(monkeypatch)
    with serve_wsgi(example.app) as url:
        yield url
    sys.modules.pop(MODULE, None)


def call(base_url: str, path: str, token: str | None = None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.get(base_url + path, headers=headers, timeout=10)


# -- every route over HTTP ------------------------------------------------------------------------------------------


def test_health_is_public(base_url: str) -> None:
    response = call(base_url, "/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_me_without_a_token_is_401_with_a_bearer_challenge(base_url: str) -> None:
    response = call(base_url, "/me")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json()["code"] == "not_authenticated"


def test_me_with_a_valid_token_says_who_is_calling(base_url: str, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(
        username="alice", sub="sub-alice", scopes=["orders/read", "email"], groups=["staff", "admin"]
    )

    response = call(base_url, "/me", token)

    assert response.status_code == 200
    body = response.json()
    assert body["sub"] == "sub-alice"
    assert body["username"] == "alice"
    assert body["scopes"] == ["email", "orders/read"]
    assert body["groups"] == ["staff", "admin"]


def test_me_with_a_token_signed_by_another_key_is_401_invalid_token(base_url: str, live_issuer: LocalIssuer) -> None:
    response = call(base_url, "/me", live_issuer.access_token(bad_signature=True))

    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["code"] == "invalid_signature"


def test_orders_with_the_orders_read_scope_is_200(base_url: str, live_issuer: LocalIssuer) -> None:
    response = call(base_url, "/orders", live_issuer.access_token(sub="sub-alice", scopes=["orders/read"]))

    assert response.status_code == 200
    assert response.json() == {"orders": [], "for": "sub-alice"}


def test_orders_without_the_scope_is_403_insufficient_scope(base_url: str, live_issuer: LocalIssuer) -> None:
    response = call(base_url, "/orders", live_issuer.access_token(scopes=["email"]))

    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="insufficient_scope", scope="orders/read"'
    )
    assert response.json()["code"] == "missing_scope"


def test_admin_for_a_member_of_admin_is_200(base_url: str, live_issuer: LocalIssuer) -> None:
    assert call(base_url, "/admin", live_issuer.access_token(groups=["admin"])).status_code == 200


def test_admin_for_a_non_member_is_403_missing_group(base_url: str, live_issuer: LocalIssuer) -> None:
    response = call(base_url, "/admin", live_issuer.access_token(groups=["staff"]))

    assert response.status_code == 403
    assert response.json()["code"] == "missing_group"


def test_example_without_a_user_pool_id_refuses_to_start_naming_the_variable(
    cognito_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COGNITO_USER_POOL_ID")

    with pytest.raises(ConfigurationError, match="COGNITO_USER_POOL_ID"):
        load_example(monkeypatch)


# -- the documented command -----------------------------------------------------------------------------------------


def test_flask_run_command_serves_the_example(
    cognito_env: dict[str, str], live_issuer: LocalIssuer, tmp_path: Path
) -> None:
    flask = Path(sys.executable).with_name("flask")
    port = free_port()
    command = [str(flask), "--app", "examples.flask_app", "run", "--port", str(port)]
    with serve_command(command, port=port, cwd=ROOT, log=tmp_path / "flask.log") as url:
        token = live_issuer.access_token(username="carol")
        me = httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert me.status_code == 200
    assert me.json()["username"] == "carol"
