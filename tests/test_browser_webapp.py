"""examples/webapp.py in a real headless Chromium against the local Cognito stand-in: sign in through the stand-in's
page, see the profile, be refused /admin as bob, sign out. Both servers run on 127.0.0.1; the app is configured only
by the environment variables its docstring lists. Skipped, with instructions, when no Chromium is installed."""

from __future__ import annotations

import importlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from browser import browser, page
from conftest import Clock
from devserver_support import PASSWORD, Dev, running
from servers import free_port

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import PoolConfig
from cognito_guard.testing.devserver.config import parse_config
from cognito_guard.testing.devserver.serve import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

ROOT = Path(__file__).resolve().parent.parent


class RealClock(Clock):
    """The stand-in on real time: the example app, configured only by its environment, runs on real time too."""

    def __call__(self) -> float:
        return time.time()


def pool_for(app_url: str) -> PoolConfig:
    """The built-in pool's users and groups, with local-client's URLs on the app's run-time port."""
    user = {"password": PASSWORD}
    return parse_config(
        {
            "clients": [
                {
                    "client_id": "local-client",
                    "callback_urls": [f"{app_url}/auth/callback"],
                    "logout_urls": [f"{app_url}/"],
                    "allowed_scopes": ["openid", "email", "profile"],
                }
            ],
            "groups": [
                {"name": "admin", "precedence": 1, "role_arn": "arn:aws:iam::123456789012:role/Admin"},
                {"name": "users", "precedence": 10, "role_arn": "arn:aws:iam::123456789012:role/User"},
            ],
            "users": [
                {
                    **user,
                    "username": "alice",
                    "attributes": {"email": "alice@example.com"},
                    "groups": ["admin", "users"],
                },
                {**user, "username": "bob", "attributes": {"email": "bob@example.com"}, "groups": ["users"]},
            ],
        }
    )


@pytest.fixture
def app_url(session_keys: tuple[SigningKeyPair, SigningKeyPair], monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running(RealClock(), session_keys, pool_for(url)) as dev:
        _configure(monkeypatch, dev, url)
        monkeypatch.syspath_prepend(str(ROOT))  # as `uvicorn examples.webapp:app` from the repository root
        sys.modules.pop("examples.webapp", None)  # the module reads the environment at import
        webapp = importlib.import_module("examples.webapp")
        with serve_in_thread(webapp.app, port=port, lifespan="on"):
            yield url


def _configure(monkeypatch: pytest.MonkeyPatch, dev: Dev, app_url: str) -> None:
    for name, value in {
        "COGNITO_DOMAIN": dev.base_url,
        "COGNITO_USER_POOL_ID": "us-east-1_LocalDev",
        "COGNITO_CLIENT_ID": "local-client",
        "COGNITO_ISSUER": dev.issuer,
        "COGNITO_REDIRECT_URI": f"{app_url}/auth/callback",
        "COGNITO_LOGOUT_URI": f"{app_url}/",
        "APP_SECRET_KEY": "browser-test-secret-0123456789abcdef",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("COGNITO_CLIENT_SECRET", raising=False)


def sign_in(page: Page, app_url: str, username: str) -> None:
    page.goto(f"{app_url}/")
    page.get_by_role("link", name="Sign in").click()
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form").evaluate("form => form.submit()")
    page.wait_for_url(f"{app_url}/")


def test_alice_signs_in_and_sees_her_profile(page: Page, app_url: str) -> None:
    sign_in(page, app_url, "alice")
    assert page.locator("#username").inner_text() == "alice"

    page.get_by_role("link", name="Profile").click()

    assert page.locator("td#username").inner_text() == "alice"
    assert page.locator("td#email").inner_text() == "alice@example.com"
    assert page.locator("td#groups").inner_text() == "admin, users"


def test_bob_is_refused_the_admin_page(page: Page, app_url: str) -> None:
    sign_in(page, app_url, "bob")

    response = page.goto(f"{app_url}/admin")

    assert response is not None
    assert response.status == 403
    assert "Forbidden" in page.content()


def test_signing_out_returns_to_the_signed_out_home_page(page: Page, app_url: str) -> None:
    sign_in(page, app_url, "alice")

    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(f"{app_url}/")

    assert page.get_by_role("link", name="Sign in").is_visible()
    assert page.goto(f"{app_url}/profile") is not None
    assert "/oauth2/authorize" in page.url  # signed out: the profile sends the browser to sign in again
