"""The README's Python snippets are true: each one compiles, and the framework and worker ones run as written."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cognito_guard.testing import LocalIssuer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)
HOSTED_UI_DOC = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "hosted-ui.md").read_text(), flags=re.DOTALL)


def test_the_readme_has_python_snippets() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("source", BLOCKS, ids=[f"snippet-{index}" for index in range(len(BLOCKS))])
def test_every_snippet_compiles(source: str) -> None:
    compile(source, "README.md", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


RUNNABLE = [source for source in BLOCKS if "from_env()" in source or "CognitoGuard(app)" in source]


@pytest.mark.parametrize("source", RUNNABLE, ids=[f"runnable-{index}" for index in range(len(RUNNABLE))])
def test_snippets_configured_from_the_environment_run_as_written(
    source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = LocalIssuer(user_pool_id="us-east-1_Readme1", client_id="readme-client")
    jwks_file = tmp_path / "jwks.json"
    jwks_file.write_text(json.dumps(pool.jwks))
    monkeypatch.setenv("COGNITO_USER_POOL_ID", pool.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", pool.client_id)
    monkeypatch.setenv("COGNITO_JWKS_FILE", str(jwks_file))
    _hosted_ui_environment(monkeypatch)
    namespace: dict[str, Any] = {"__name__": "readme_snippet", "app": _asgi_app}

    exec(compile(source, "README.md", "exec"), namespace)  # noqa: S102 - our own README

    if "handler" in namespace:  # the Lambda recipe: call it as API Gateway would
        token = pool.access_token(scopes=["orders/read"])
        answer = namespace["handler"]({"headers": {"authorization": f"Bearer {token}"}}, None)
        assert answer["statusCode"] == 200
    else:
        assert namespace["app"] is not _asgi_app or "verifier" in namespace  # the snippet built its own app


async def _asgi_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands for "your app" in the ASGI-middleware snippet."""


def _hosted_ui_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the hosted-UI snippets read besides COGNITO_USER_POOL_ID / COGNITO_CLIENT_ID (no network at start)."""
    monkeypatch.setenv("COGNITO_DOMAIN", "auth.example.com")
    monkeypatch.setenv("COGNITO_REDIRECT_URI", "https://app.example.com/auth/callback")
    monkeypatch.setenv("COGNITO_LOGOUT_URI", "https://app.example.com/")
    monkeypatch.setenv("APP_SECRET_KEY", "readme-secret-0123456789abcdef")


@pytest.mark.parametrize("source", HOSTED_UI_DOC, ids=[f"hosted-ui-{index}" for index in range(len(HOSTED_UI_DOC))])
def test_hosted_ui_doc_snippets_run_as_written(source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_USER_POOL_ID", "eu-west-1_Readme1")
    monkeypatch.setenv("COGNITO_CLIENT_ID", "readme-client")
    _hosted_ui_environment(monkeypatch)
    namespace: dict[str, Any] = {"__name__": "hosted_ui_snippet"}

    exec(compile(source, "docs/hosted-ui.md", "exec"), namespace)  # noqa: S102 - our own docs

    assert "sign_in" in namespace
