"""examples/worker.py (issue 3, section 6): a token carried by a job or event, checked offline with verify_sync.

The program runs as a subprocess, as a user would start it; its entry points (Celery-style task, Lambda handler,
queue consumer) are also called in-process. Keys come from a JWKS file in a temporary directory.
"""

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

import httpx
import pytest
from cognito_env import use_offline_pool

from cognito_guard import CognitoVerifier, errors
from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "worker.py"
POOL_ID = "eu-west-1_TestPool1"
CLIENT_ID = "worker-client"


@pytest.fixture
def live_issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """The pool the worker trusts, on the real clock (the worker's verifier uses the real clock)."""
    access_key, id_key = session_keys
    return LocalIssuer(user_pool_id=POOL_ID, client_id=CLIENT_ID, access_key=access_key, id_key=id_key)


@pytest.fixture
def cognito_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, live_issuer: LocalIssuer) -> dict[str, str]:
    """COGNITO_* for the worker: the test pool with its keys in a JWKS file, and nothing from outside."""
    return use_offline_pool(monkeypatch, live_issuer, tmp_path)


@pytest.fixture
def worker(cognito_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """examples.worker, its verifier built from this test's environment."""
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module("examples.worker")
    get_verifier = module.get_verifier  # kept: a test may replace the module's name
    get_verifier.cache_clear()
    yield module
    get_verifier.cache_clear()


def record(message_id: str, order_id: str, token: str | None) -> dict[str, Any]:
    attributes = {} if token is None else {"authorization": {"stringValue": token, "dataType": "String"}}
    return {"messageId": message_id, "body": json.dumps({"order_id": order_id}), "messageAttributes": attributes}


def run_worker(
    *arguments: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("COGNITO_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, str(SCRIPT), *arguments],
        input=stdin,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- the program ---------------------------------------------------------------------------------------------------


@pytest.fixture
def sample(live_issuer: LocalIssuer) -> list[dict[str, Any]]:
    return [
        record("m-1", "o-1", live_issuer.access_token(username="alice", scopes=["orders/read"])),
        record("m-2", "o-2", live_issuer.access_token(username="bob", scopes=["profile"])),
        record("m-3", "o-3", live_issuer.access_token(scopes=["orders/read"], expires_in=-10)),
        record("m-4", "o-4", live_issuer.access_token(scopes=["orders/read"], bad_signature=True)),
    ]


def test_worker_checks_each_message_of_a_file_at_every_entry_point(
    cognito_env: dict[str, str], sample: list[dict[str, Any]], tmp_path: Path
) -> None:
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(sample), encoding="utf-8")

    result = run_worker(str(messages), env=cognito_env)

    assert result.returncode == 0, result.stderr
    out = result.stdout
    for source in ("queue", "lambda/sqs", "lambda/http", "celery"):
        lines = [line for line in out.splitlines() if f"  {source} " in line]
        assert [line.split()[0] for line in lines] == ["ACCEPT", "REJECT", "REJECT", "REJECT"], out
        assert "alice: order o-1 processed" in lines[0]
        assert " 403 missing_scope: " in lines[1]
        assert " 401 token_expired: " in lines[2]
        assert " 401 invalid_signature: " in lines[3]
    assert "DEMO MODE" not in out


def test_worker_never_prints_a_token(cognito_env: dict[str, str], sample: list[dict[str, Any]], tmp_path: Path) -> None:
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(sample), encoding="utf-8")

    result = run_worker(str(messages), env=cognito_env)

    signatures = [message["messageAttributes"]["authorization"]["stringValue"].rsplit(".", 1)[1] for message in sample]
    assert not [signature for signature in signatures if signature in result.stdout + result.stderr]


def test_worker_reads_messages_from_stdin_given_a_dash(
    cognito_env: dict[str, str], sample: list[dict[str, Any]]
) -> None:
    result = run_worker("-", env=cognito_env, stdin=json.dumps(sample[:1]))

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ACCEPT") == 4


def test_worker_without_a_messages_file_prints_its_usage(cognito_env: dict[str, str]) -> None:
    result = run_worker(env=cognito_env)

    assert result.returncode == 2
    assert "usage:" in result.stdout


def test_worker_with_an_invalid_setting_stops_naming_the_variable(
    cognito_env: dict[str, str], sample: list[dict[str, Any]], tmp_path: Path
) -> None:
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(sample), encoding="utf-8")

    result = run_worker(str(messages), env={**cognito_env, "COGNITO_TOKEN_USE": "refresh"})

    assert result.returncode == 2
    assert "COGNITO_TOKEN_USE" in result.stdout
    assert "ACCEPT" not in result.stdout


def test_worker_without_cognito_settings_runs_a_demo_and_says_so() -> None:
    result = run_worker()

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("DEMO MODE:")
    assert result.stdout.count("ACCEPT") == 8  # two good messages, four entry points
    for code in ("missing_scope", "token_expired", "invalid_signature", "invalid_token_use", "invalid_issuer"):
        assert result.stdout.count(f" {code}: ") == 4


def test_demo_mode_restores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))
    for name in list(os.environ):
        if name.startswith("COGNITO_"):
            monkeypatch.delenv(name)
    worker = importlib.import_module("examples.worker")

    assert worker.main([]) == 0
    assert not [name for name in os.environ if name.startswith("COGNITO_")]


# -- the Celery-style task -----------------------------------------------------------------------------------------


def test_task_processes_the_order_of_an_authorized_caller(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(username="alice", scopes=["orders/read"])

    assert worker.process_order(token, "o-1") == {"order_id": "o-1", "status": "processed", "for": "alice"}


def test_task_accepts_a_token_written_as_a_bearer_header(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(username="alice", scopes=["orders/read"])

    assert worker.process_order(f"Bearer {token}", "o-1")["for"] == "alice"


def test_task_for_a_caller_without_the_scope_raises_missing_scope(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    with pytest.raises(errors.MissingScopeError):
        worker.process_order(live_issuer.access_token(scopes=["profile"]), "o-1")


def test_task_without_a_token_raises_token_error(worker: ModuleType) -> None:
    with pytest.raises(errors.TokenError, match="no token"):
        worker.process_order(None, "o-1")


def test_task_with_a_key_missing_from_the_jwks_file_is_refused_without_any_fetch(
    worker: ModuleType, live_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_network(*args: object, **kwargs: object) -> httpx.Response:
        raise AssertionError("the worker must not fetch keys")

    monkeypatch.setattr(httpx.Client, "send", no_network)
    token = live_issuer.access_token(scopes=["orders/read"], key=SigningKeyPair(kid="not-in-the-file"))

    with pytest.raises(errors.KeyNotFoundError):
        worker.process_order(token, "o-1")


def test_verifier_is_built_once_per_process(worker: ModuleType) -> None:
    assert worker.get_verifier() is worker.get_verifier()


# -- the Lambda handler --------------------------------------------------------------------------------------------


def test_http_event_with_a_valid_token_gets_200_and_the_result(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(username="alice", scopes=["orders/read"])
    event = {"headers": {"authorization": f"Bearer {token}"}, "body": json.dumps({"order_id": "o-9"})}

    response = worker.handler(event, None)

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {"order_id": "o-9", "status": "processed", "for": "alice"}


def test_http_event_header_name_is_case_insensitive(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(scopes=["orders/read"])

    assert worker.handler({"headers": {"Authorization": f"Bearer {token}"}}, None)["statusCode"] == 200


def test_http_event_without_a_token_gets_401_with_a_bearer_challenge(worker: ModuleType) -> None:
    response = worker.handler({"headers": {}}, None)

    assert response["statusCode"] == 401
    assert response["headers"]["WWW-Authenticate"] == 'Bearer realm="orders-worker"'
    assert json.loads(response["body"])["code"] == "not_authenticated"


def test_http_event_with_an_expired_token_gets_401_invalid_token(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(scopes=["orders/read"], expires_in=-10)

    response = worker.handler({"headers": {"authorization": f"Bearer {token}"}}, None)

    assert response["statusCode"] == 401
    assert 'error="invalid_token"' in response["headers"]["WWW-Authenticate"]
    assert json.loads(response["body"])["code"] == "token_expired"


def test_http_event_without_the_scope_gets_403_insufficient_scope(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    token = live_issuer.access_token(scopes=["profile"])

    response = worker.handler({"headers": {"authorization": f"Bearer {token}"}}, None)

    assert response["statusCode"] == 403
    assert 'scope="orders/read"' in response["headers"]["WWW-Authenticate"]


def test_sqs_event_reports_no_failure_for_refused_tokens_so_they_are_not_retried(
    worker: ModuleType, live_issuer: LocalIssuer
) -> None:
    event = {
        "Records": [
            record("m-1", "o-1", live_issuer.access_token(scopes=["orders/read"])),
            record("m-2", "o-2", live_issuer.access_token(scopes=["orders/read"], expires_in=-10)),
            record("m-3", "o-3", None),
        ]
    }

    assert worker.handler(event, None) == {"batchItemFailures": []}


def test_sqs_event_reports_messages_to_retry_when_keys_are_unavailable(
    worker: ModuleType, live_issuer: LocalIssuer, monkeypatch: pytest.MonkeyPatch
) -> None:
    event = {"Records": [record("m-1", "o-1", live_issuer.access_token(scopes=["orders/read"]))]}
    with httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500))) as client:
        keyless = CognitoVerifier(
            user_pool_id=POOL_ID,
            client_id=CLIENT_ID,
            token_use="access",
            jwks_uri=live_issuer.jwks_uri,  # fetched (and failing), not read from COGNITO_JWKS_FILE
            http_client=client,
        )
        monkeypatch.setattr(worker, "get_verifier", lambda: keyless)

        response = worker.handler(event, None)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}


# -- the queue consumer --------------------------------------------------------------------------------------------


def test_consumer_decides_each_message_in_order(worker: ModuleType, live_issuer: LocalIssuer) -> None:
    messages = [
        record("m-1", "o-1", live_issuer.access_token(username="alice", scopes=["orders/read"])),
        record("m-2", "o-2", live_issuer.id_token()),
        record("m-3", "o-3", "not-a-token"),
    ]

    outcomes = worker.consume(messages)

    assert [(item.message_id, item.accepted, item.retry) for item in outcomes] == [
        ("m-1", True, False),
        ("m-2", False, False),
        ("m-3", False, False),
    ]
    assert outcomes[1].detail.startswith("401 invalid_token_use: ")


def test_consumer_refuses_a_message_of_the_wrong_shape_without_crashing(worker: ModuleType) -> None:
    outcomes = worker.consume([{"messageId": "m-1", "messageAttributes": {"authorization": 42}, "body": "{"}])

    assert [(item.accepted, item.retry) for item in outcomes] == [(False, False)]
