"""examples/lambda_authorizer.py and examples/lambda_handler.py are real Lambda functions: configured by COGNITO_* only
(the test pool, its keys in a JWKS file), called with the realistic events of tests/lambda_events/ as Lambda calls
them, and run as programs on an event file."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cognito_env import use_offline_pool
from lambda_events import api_gateway_decision, load_event

from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
POOL_ID = "eu-west-1_TestPool1"
CLIENT_ID = "example-client"
STAGE = "arn:aws:execute-api:eu-west-1:123456789012:k3xq8v2m1a/prod"


@pytest.fixture
def live_issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """The pool the examples trust, on the real clock (their verifiers use the real clock)."""
    access_key, id_key = session_keys
    return LocalIssuer(user_pool_id=POOL_ID, client_id=CLIENT_ID, access_key=access_key, id_key=id_key)


@pytest.fixture
def cognito_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, live_issuer: LocalIssuer) -> dict[str, str]:
    return use_offline_pool(monkeypatch, live_issuer, tmp_path)


def load_example(monkeypatch: pytest.MonkeyPatch, name: str) -> Iterator[ModuleType]:
    """Import examples/<name>.py afresh, as a Lambda cold start does, with this test's environment."""
    module = f"examples.{name}"
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.delitem(sys.modules, module, raising=False)
    yield importlib.import_module(module)
    sys.modules.pop(module, None)


@pytest.fixture
def authorizer(cognito_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    yield from load_example(monkeypatch, "lambda_authorizer")


@pytest.fixture
def protected_handler(cognito_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    yield from load_example(monkeypatch, "lambda_handler")


@pytest.fixture
def reader(live_issuer: LocalIssuer) -> str:
    return live_issuer.access_token(username="alice", scopes=["orders/read"])


# -- examples/lambda_authorizer.py ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rest_token_authorizer", "rest_request_authorizer"])
def test_authorizer_example_allows_a_reader_on_every_route_of_the_stage(
    authorizer: ModuleType, reader: str, name: str
) -> None:
    answer = authorizer.handler(load_event(name, token=reader), None)

    assert answer["policyDocument"]["Statement"] == [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": [f"{STAGE}/*/*"]}
    ]
    assert answer["context"]["username"] == "alice"


def test_authorizer_example_answer_cached_for_one_route_serves_the_callers_next_routes(
    authorizer: ModuleType, reader: str
) -> None:
    first = authorizer.handler(load_event("rest_token_authorizer", token=reader), None)  # GET /orders/o-1001

    # API Gateway answers the same token from its cache for the TTL: the caller's other routes must not get 403.
    for route in ("GET/orders", "GET/orders/o-2002", "POST/orders/o-1001/cancel"):
        assert api_gateway_decision(first, f"{STAGE}/{route}") == 200


def test_authorizer_example_denies_a_token_without_the_scope(authorizer: ModuleType, live_issuer: LocalIssuer) -> None:
    answer = authorizer.handler(
        load_event("rest_token_authorizer", token=live_issuer.access_token(scopes=["x/y"])), None
    )

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert api_gateway_decision(answer, f"{STAGE}/GET/orders") == 403


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not.a.token", "Basic YWxpY2U6c2VjcmV0"],
    ids=["no-token", "garbage", "basic"],
)
def test_authorizer_example_raises_unauthorized_for_a_401(authorizer: ModuleType, authorization: str | None) -> None:
    with pytest.raises(authorizer.Unauthorized) as caught:
        authorizer.handler(load_event("rest_token_authorizer", authorization=authorization), None)

    assert str(caught.value) == "Unauthorized"


def test_authorizer_example_raises_unauthorized_for_an_expired_token(
    authorizer: ModuleType, live_issuer: LocalIssuer
) -> None:
    token = live_issuer.access_token(scopes=["orders/read"], expires_in=-60)

    with pytest.raises(authorizer.Unauthorized, match=r"^Unauthorized$"):
        authorizer.handler(load_event("rest_token_authorizer", token=token), None)


def test_authorizer_example_raises_unauthorized_for_another_clients_token(
    authorizer: ModuleType, live_issuer: LocalIssuer
) -> None:
    token = live_issuer.access_token(scopes=["orders/read"], client_id="someone-elses-client")

    with pytest.raises(authorizer.Unauthorized):
        authorizer.handler(load_event("rest_token_authorizer", token=token), None)


# -- examples/lambda_handler.py -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["http_api_proxy", "function_url", "rest_proxy"])
def test_handler_example_answers_a_reader(protected_handler: ModuleType, reader: str, name: str) -> None:
    answer = protected_handler.handler(load_event(name, token=reader), None)

    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"order": "o-1001", "for": "alice"}


def test_handler_example_answers_a_machine_client(protected_handler: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.client_credentials_token(scopes=["orders/read"])

    answer = protected_handler.handler(load_event("http_api_proxy", token=token), None)

    assert json.loads(answer["body"])["for"] == f"client {CLIENT_ID}"


def test_handler_example_without_a_token_is_a_401_challenge(protected_handler: ModuleType) -> None:
    answer = protected_handler.handler(load_event("http_api_proxy", authorization=None), None)

    assert answer["statusCode"] == 401
    assert answer["headers"]["WWW-Authenticate"] == 'Bearer realm="orders"'


def test_handler_example_without_the_scope_is_a_403(protected_handler: ModuleType, live_issuer: LocalIssuer) -> None:
    answer = protected_handler.handler(load_event("function_url", token=live_issuer.access_token(scopes=["x/y"])), None)

    assert answer["statusCode"] == 403
    assert json.loads(answer["body"])["code"] == "missing_scope"


# -- as programs ----------------------------------------------------------------------------------------------------


def run_example(
    name: str, event: dict[str, Any], env: dict[str, str], tmp_path: Path
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event), encoding="utf-8")
    environment = {key: value for key, value in os.environ.items() if not key.startswith("COGNITO_")}
    environment.update(env)
    return subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py"), str(path)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_authorizer_program_prints_the_policy(cognito_env: dict[str, str], reader: str, tmp_path: Path) -> None:
    result = run_example("lambda_authorizer", load_event("rest_token_authorizer", token=reader), cognito_env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def test_authorizer_program_prints_lambdas_unauthorized_error_and_never_the_token(
    cognito_env: dict[str, str], live_issuer: LocalIssuer, tmp_path: Path
) -> None:
    token = live_issuer.access_token(scopes=["orders/read"], expires_in=-60)

    result = run_example("lambda_authorizer", load_event("rest_token_authorizer", token=token), cognito_env, tmp_path)

    assert result.returncode == 1
    assert json.loads(result.stdout) == {"errorMessage": "Unauthorized", "errorType": "Unauthorized"}
    assert token.rsplit(".", 1)[1] not in result.stdout + result.stderr


def test_handler_program_prints_the_response(cognito_env: dict[str, str], reader: str, tmp_path: Path) -> None:
    result = run_example("lambda_handler", load_event("http_api_proxy", token=reader), cognito_env, tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["statusCode"] == 200
