"""examples/m2m_client.py as a real program against real servers on 127.0.0.1: the stand-in (its token requests
counted) issues client-credentials tokens, and the FastAPI example, configured by COGNITO_* variables as in
``make demo``, verifies them with keys fetched from the stand-in."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import serve_asgi
from test_client_credentials_standin import M2M_ID, M2M_SECRET, TokenEndpoint, pool_config, serve_counted

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import LocalUserPool, PoolKeys

ROOT = Path(__file__).resolve().parent.parent
DOC_SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "m2m.md").read_text(encoding="utf-8"), re.DOTALL)


@pytest.fixture
def live_stand_in(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[TokenEndpoint]:
    """The stand-in on the real clock: the API checks expiry with time.time()."""
    with serve_counted(LocalUserPool(pool_config(), keys=PoolKeys(*session_keys), clock=time.time)) as endpoint:
        yield endpoint


@pytest.fixture
def api(live_stand_in: TokenEndpoint, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """examples/fastapi_app.py configured as `make demo` does, fetching the stand-in's keys over HTTP."""
    for name in [name for name in os.environ if name.startswith("COGNITO_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "us-east-1_LocalDev")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "local-client,local-m2m")
    monkeypatch.setenv("COGNITO_ISSUER", live_stand_in.issuer)
    monkeypatch.setenv("COGNITO_TOKEN_USE", "access")
    monkeypatch.syspath_prepend(str(ROOT))
    module = "examples.fastapi_app"
    example = importlib.reload(sys.modules[module]) if module in sys.modules else importlib.import_module(module)
    with serve_asgi(example.app) as url:
        yield url


def run_example(environment: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("COGNITO_")}
    return subprocess.run(
        [sys.executable, "examples/m2m_client.py", *arguments],
        cwd=ROOT,
        env={**inherited, **environment},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def machine_client(stand_in: TokenEndpoint) -> dict[str, str]:
    return {
        "COGNITO_DOMAIN": stand_in.base_url,
        "COGNITO_CLIENT_ID": M2M_ID,
        "COGNITO_CLIENT_SECRET": M2M_SECRET,
        "COGNITO_SCOPES": "orders/read",
    }


def test_the_example_calls_orders_with_one_token_request(live_stand_in: TokenEndpoint, api: str) -> None:
    result = run_example(machine_client(live_stand_in), "--api", api)

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("GET /orders -> 200") >= 3
    assert "20 concurrent GET /orders -> [200]" in result.stdout
    assert "metrics: 1 token(s) fetched" in result.stdout
    assert live_stand_in.requests == 1


def test_the_example_never_prints_the_secret_or_a_token(live_stand_in: TokenEndpoint, api: str) -> None:
    result = run_example(machine_client(live_stand_in), "--api", api)

    assert M2M_SECRET not in result.stdout + result.stderr
    assert "eyJ" not in result.stdout + result.stderr  # the start of every JWT


def test_the_example_without_a_scope_the_api_needs_exits_1(live_stand_in: TokenEndpoint, api: str) -> None:
    result = run_example({**machine_client(live_stand_in), "COGNITO_SCOPES": "orders/write"}, "--api", api)

    assert result.returncode == 1
    assert "GET /orders -> 403" in result.stdout


def test_the_example_with_a_wrong_secret_says_invalid_client(live_stand_in: TokenEndpoint, api: str) -> None:
    result = run_example({**machine_client(live_stand_in), "COGNITO_CLIENT_SECRET": "wrong"}, "--api", api)

    assert result.returncode == 1
    assert "no token: invalid_client" in result.stderr


def test_the_example_without_settings_names_what_to_set() -> None:
    result = run_example({})

    assert result.returncode == 2
    assert "COGNITO_DOMAIN" in result.stderr


@pytest.mark.parametrize("source", DOC_SNIPPETS, ids=[f"snippet-{index}" for index in range(len(DOC_SNIPPETS))])
def test_every_snippet_of_the_m2m_page_compiles(source: str) -> None:
    compile(source, "docs/m2m.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


def test_the_m2m_page_has_its_snippets() -> None:
    assert len(DOC_SNIPPETS) >= 5
