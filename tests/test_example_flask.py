"""examples/flask_app.py is a real program: configured from COGNITO_* only, served on 127.0.0.1, called over HTTP.

Keys come from a JWKS file in a temporary directory (COGNITO_JWKS_FILE), so nothing leaves the machine. With
COGNITO_REDIS_URL pointing at the harness's real Redis, two instances run as separate `flask run` processes and share
the revocation list.
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


def call(base_url: str, path: str, token: str | None = None, *, method: str = "GET") -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    return httpx.request(method, base_url + path, headers=headers, timeout=10)


def sign_out(base_url: str, token: str | None) -> httpx.Response:
    return call(base_url, "/sign-out", token, method="POST")


@contextmanager
def flask_instance(tmp_path: Path, name: str) -> Iterator[str]:
    """`flask --app examples.flask_app run` in a process of its own, on a free port, with this test's environment."""
    port = free_port()
    command = [str(Path(sys.executable).with_name("flask")), "--app", MODULE, "run", "--port", str(port)]
    with serve_command(command, port=port, cwd=ROOT, log=tmp_path / f"{name}.log") as url:
        yield url


def first_refusal(base_url: str, token: str, *, within: float) -> httpx.Response:
    """Poll ``GET /me`` with ``token`` until the answer is not 200 (or ``within`` seconds pass); the last answer."""
    deadline = time.monotonic() + within
    pause = threading.Event()
    while True:
        response = call(base_url, "/me", token)
        if response.status_code != 200 or time.monotonic() > deadline:
            return response
        pause.wait(0.01)  # the revocation travels through Redis to the other process: poll, do not sleep a fixed time


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


def test_sign_out_answers_204_without_a_body(base_url: str, live_issuer: LocalIssuer) -> None:
    response = sign_out(base_url, live_issuer.access_token())

    assert (response.status_code, response.content) == (204, b"")


def test_sign_out_without_a_token_is_401(base_url: str) -> None:
    assert sign_out(base_url, None).status_code == 401


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/me"), ("GET", "/orders"), ("GET", "/admin"), ("POST", "/sign-out")]
)
def test_a_signed_out_token_is_refused_on_every_route_with_token_revoked(
    base_url: str, live_issuer: LocalIssuer, method: str, path: str
) -> None:
    token = live_issuer.access_token(scopes=["orders/read"], groups=["admin"])
    assert call(base_url, "/me", token).status_code == 200  # verified once: the result is cached
    sign_out(base_url, token)

    response = call(base_url, path, token, method=method)

    assert response.status_code == 401
    assert response.json()["code"] == "token_revoked"
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_another_sign_in_of_the_same_user_is_still_accepted_after_sign_out(
    base_url: str, live_issuer: LocalIssuer
) -> None:
    signed_out, other = live_issuer.access_token(sub="sub-alice"), live_issuer.access_token(sub="sub-alice")
    sign_out(base_url, signed_out)

    assert call(base_url, "/me", other).status_code == 200


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


def test_a_second_instance_sharing_redis_refuses_a_token_signed_out_on_the_first(
    cognito_env: dict[str, str],
    live_issuer: LocalIssuer,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("COGNITO_REDIS_URL", redis_url)
    token = live_issuer.access_token()
    with flask_instance(tmp_path, "first") as first, flask_instance(tmp_path, "second") as second:
        assert call(second, "/me", token).status_code == 200
        assert sign_out(first, token).status_code == 204

        refused = first_refusal(second, token, within=5.0)

    assert refused.status_code == 401
    assert refused.json()["code"] == "token_revoked"
