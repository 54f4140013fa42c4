"""Shared steps of the hosted-UI sign-in tests: the app's client for the stand-in's default pool, and a browser that
talks to an ASGI app in process and to the stand-in over HTTP (no redirects followed, so every hop is checked)."""

from __future__ import annotations

from typing import Any

import httpx
from conftest import Clock
from devserver_support import PASSWORD, Dev, form_fields

from cognito_guard.hosted_ui import HostedUIClient

APP = "http://localhost:8000"  # the callback registered for local-client in the stand-in's default pool
HTML = {"Accept": "text/html,application/xhtml+xml"}


def hosted_ui_settings(dev: Dev, clock: Clock) -> dict[str, Any]:
    """The keywords of the app's HostedUIClient for local-client of the stand-in, on the shared test clock."""
    return {
        "domain": dev.base_url,
        "user_pool_id": "us-east-1_LocalDev",
        "issuer": dev.issuer,
        "client_id": "local-client",
        "redirect_uri": f"{APP}/auth/callback",
        "logout_uri": f"{APP}/",
        "clock": clock,
    }


def hosted_ui_client(dev: Dev, clock: Clock, **overrides: Any) -> HostedUIClient:
    """The app's client for local-client of the stand-in; ``overrides`` replace settings (``redirect_uri=...``)."""
    return HostedUIClient(**{**hosted_ui_settings(dev, clock), **overrides})


class Browser:
    """One browser: a cookie jar for the app (in process) and one for the stand-in (over HTTP)."""

    def __init__(self, app: Any, dev: Dev) -> None:
        self.app = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=APP, headers=HTML)
        self.cognito = httpx.AsyncClient(base_url=dev.base_url, headers=HTML)

    async def start(self, path: str = "/auth/login") -> str:
        """GET a login URL of the app; returns the hosted-UI URL it redirects to."""
        response = await self.app.get(path)
        assert response.status_code == 302, response.text
        location: str = response.headers["location"]
        assert location.startswith(str(self.cognito.base_url))
        return location

    async def sign_in_at_cognito(self, authorize_url: str, username: str = "alice") -> str:
        """The hosted-UI part: the form (unless the stand-in's session skips it); returns the app callback URL."""
        page = await self.cognito.get(authorize_url)
        if page.status_code == 200:
            form = {**form_fields(page.text), "username": username, "password": PASSWORD}
            page = await self.cognito.post("/login", data=form)
        assert page.status_code == 302, page.text
        callback: str = page.headers["location"]
        assert callback.startswith(f"{APP}/auth/callback")
        return callback

    async def sign_in(self, username: str = "alice", path: str = "/auth/login") -> httpx.Response:
        """The whole flow; returns the app's answer to the callback."""
        callback = await self.sign_in_at_cognito(await self.start(path), username)
        return await self.app.get(callback)

    async def aclose(self) -> None:
        await self.app.aclose()
        await self.cognito.aclose()
