"""The stand-in's hosted UI in a real headless Chromium: authorize -> sign-in form -> the relying party's callback,
both served on 127.0.0.1. Skipped, with instructions, when no Chromium is installed (see tests/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import pytest
from browser import browser, page
from conftest import Clock
from devserver_support import PASSWORD, Dev, exchange, running
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import PoolConfig
from cognito_guard.testing.devserver.config import parse_config
from cognito_guard.testing.devserver.pages import GENERIC_SIGN_IN_ERROR
from cognito_guard.testing.devserver.serve import serve_in_thread

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

CLIENT_ID = "browser-client"
STATE = "state 1&/=?+"  # characters that must survive URL encoding both ways


@dataclass
class RelyingParty:
    """The app a user signs in to: it only records the query of each request to its callback."""

    base_url: str
    callbacks: list[dict[str, str]] = field(default_factory=list)
    forged_page: str = ""  # what /forged serves: a page of another site posting a form to the stand-in

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/auth/callback"

    def app(self) -> Starlette:
        async def callback(request: Request) -> Response:
            self.callbacks.append(dict(request.query_params))
            return PlainTextResponse("signed in")

        async def forged(request: Request) -> Response:
            return HTMLResponse(self.forged_page)

        return Starlette(
            routes=[Route("/auth/callback", callback, methods=["GET"]), Route("/forged", forged, methods=["GET"])]
        )


def pool_for(callback_url: str) -> PoolConfig:
    """A pool whose public client accepts the relying party's callback (its port is only known at run time)."""
    return parse_config(
        {
            "clients": [{"client_id": CLIENT_ID, "callback_urls": [callback_url], "allowed_scopes": ["openid"]}],
            "users": [{"username": "alice", "password": PASSWORD}],
        }
    )


@pytest.fixture
def relying_party() -> Iterator[RelyingParty]:
    party = RelyingParty("")
    with serve_in_thread(party.app()) as base_url:
        party.base_url = base_url
        yield party


@pytest.fixture
def dev(
    relying_party: RelyingParty, clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> Iterator[Dev]:
    with running(clock, session_keys, pool_for(relying_party.callback_url)) as server:
        yield server


def authorize_url(dev: Dev, relying_party: RelyingParty, **extra: str) -> str:
    params = {
        "response_type": "code",
        "client_id": CLIENT_ID,
        "redirect_uri": relying_party.callback_url,
        "scope": "openid",
        "state": STATE,
        **extra,
    }
    return f"{dev.base_url}/oauth2/authorize?{urlencode(params)}"


def submit_sign_in(page: Page, password: str = PASSWORD) -> None:
    """Fill the sign-in form as a user would, for alice, and press its button."""
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def sign_in_through_the_form(page: Page, dev: Dev, relying_party: RelyingParty) -> None:
    page.goto(authorize_url(dev, relying_party))
    submit_sign_in(page)
    page.wait_for_url(lambda url: url.startswith(relying_party.callback_url))


def test_signing_in_lands_on_the_callback_with_a_code_and_the_original_state(
    page: Page, dev: Dev, relying_party: RelyingParty
) -> None:
    page.goto(authorize_url(dev, relying_party))
    assert page.get_by_role("heading", name="Sign in").is_visible()

    submit_sign_in(page)
    page.wait_for_url(lambda url: url.startswith(relying_party.callback_url))

    assert page.text_content("body") == "signed in"
    [received] = relying_party.callbacks
    assert received.keys() == {"code", "state"}
    assert received["state"] == STATE
    redeemed = exchange(dev, received["code"], client_id=CLIENT_ID, redirect_uri=relying_party.callback_url)
    assert redeemed.status_code == 200, redeemed.text


def test_wrong_password_shows_the_form_again_with_one_generic_error_and_no_redirect(
    page: Page, dev: Dev, relying_party: RelyingParty
) -> None:
    page.goto(authorize_url(dev, relying_party))

    with page.expect_navigation() as navigation:
        submit_sign_in(page, password="not-" + PASSWORD)

    response = navigation.value
    assert response is not None
    assert (response.status, response.request.redirected_from) == (200, None)
    assert page.url == f"{dev.base_url}/login"
    assert page.get_by_role("alert").all_text_contents() == [GENERIC_SIGN_IN_ERROR]
    assert page.get_by_label("Password").is_visible()
    assert relying_party.callbacks == []


def test_second_authorize_in_the_same_browser_skips_the_form(page: Page, dev: Dev, relying_party: RelyingParty) -> None:
    sign_in_through_the_form(page, dev, relying_party)

    response = page.goto(authorize_url(dev, relying_party, state="second"))

    assert response is not None
    assert response.url.startswith(relying_party.callback_url)
    authorize = response.request.redirected_from
    assert authorize is not None
    assert authorize.url.startswith(f"{dev.base_url}/oauth2/authorize?")
    assert authorize.redirected_from is None  # straight from authorize to the callback: no form in between
    assert [callback["state"] for callback in relying_party.callbacks] == [STATE, "second"]
    assert relying_party.callbacks[0]["code"] != relying_party.callbacks[1]["code"]


def test_prompt_login_shows_the_form_despite_the_session(page: Page, dev: Dev, relying_party: RelyingParty) -> None:
    sign_in_through_the_form(page, dev, relying_party)

    response = page.goto(authorize_url(dev, relying_party, prompt="login"))

    assert response is not None
    assert (response.status, response.request.redirected_from) == (200, None)
    assert page.get_by_role("button", name="Sign in").is_visible()
    assert len(relying_party.callbacks) == 1


def test_a_sign_in_form_posted_from_another_site_signs_nobody_in_even_with_the_right_token(
    page: Page, dev: Dev, relying_party: RelyingParty
) -> None:
    page.goto(authorize_url(dev, relying_party))  # the victim has the stand-in's form, hence its XSRF-TOKEN cookie
    [token] = [cookie["value"] for cookie in page.context.cookies() if cookie["name"] == "XSRF-TOKEN"]
    # The worst case: the other site knows the token (browsers share cookies between the ports of one host).
    fields = {
        "client_id": CLIENT_ID,
        "redirect_uri": relying_party.callback_url,
        "response_type": "code",
        "scope": "openid",
        "_csrf": token,
        "username": "alice",
        "password": PASSWORD,
    }
    inputs = "".join(f'<input type="hidden" name="{name}" value="{value}">' for name, value in fields.items())
    relying_party.forged_page = f'<form method="post" action="{dev.base_url}/login">{inputs}<button>Win</button></form>'
    page.goto(f"{relying_party.base_url}/forged")

    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="Win").click()

    response = navigation.value
    assert response is not None
    assert response.status == 403
    assert "posted from another site" in (page.text_content("body") or "")
    assert "cognito_dev_session" not in {cookie["name"] for cookie in page.context.cookies()}
    assert relying_party.callbacks == []


def test_the_refusal_page_links_back_to_a_sign_in_form_that_works(
    page: Page, dev: Dev, relying_party: RelyingParty
) -> None:
    page.goto(authorize_url(dev, relying_party))
    page.context.clear_cookies()  # the form outlived its cookie (a browser restart, say)
    with page.expect_navigation():
        submit_sign_in(page)
    assert page.get_by_role("heading", name="This sign-in form has expired").is_visible()

    page.get_by_role("link", name="Start the sign-in again").click()
    submit_sign_in(page)
    page.wait_for_url(lambda url: url.startswith(relying_party.callback_url))

    [received] = relying_party.callbacks
    assert received["state"] == STATE
