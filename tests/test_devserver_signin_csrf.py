"""The stand-in's sign-in form resists login CSRF, as Cognito's does: the form's GET sets a random XSRF-TOKEN cookie and
puts the same token in a hidden ``_csrf`` field; ``POST /login`` signs in only when both come back and match."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest
from conftest import Clock
from devserver_support import PASSWORD, Dev, authorize_params, form_fields, loaded_form, running

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import LocalUserPool, PoolKeys, create_app

XSRF = "XSRF-TOKEN"
CREDENTIALS = {"username": "alice", "password": PASSWORD}


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


def set_cookie(response: httpx.Response, name: str) -> str | None:
    """The Set-Cookie header of ``response`` for cookie ``name``, lower-cased; None if there is none."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header.lower()
    return None


def post_login(dev: Dev, form: dict[str, str], **headers: str) -> httpx.Response:
    return dev.http.post("/login", data={**form, **CREDENTIALS}, headers=headers)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 403
    assert "location" not in response.headers
    assert set_cookie(response, "cognito_dev_session") is None


def test_sign_in_form_sets_an_xsrf_cookie_equal_to_its_hidden_csrf_field(dev: Dev) -> None:
    form = loaded_form(dev)

    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", form["_csrf"])
    assert dev.http.cookies[XSRF] == form["_csrf"]


def test_xsrf_cookie_is_http_only_same_site_lax_on_the_whole_host_and_not_secure_over_http(dev: Dev) -> None:
    cookie = set_cookie(dev.http.get("/oauth2/authorize", params=authorize_params()), XSRF)

    assert cookie is not None
    attributes = {part.strip() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=lax", "path=/"} <= attributes
    assert "secure" not in attributes


async def test_xsrf_cookie_is_secure_when_the_stand_in_is_served_over_https(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    app = create_app(pool=LocalUserPool(keys=PoolKeys(*session_keys), clock=clock), public_url="https://127.0.0.1")
    transport = httpx.ASGITransport(app=app)  # in process: the request's scheme is https
    async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1") as client:
        page = await client.get("/oauth2/authorize", params=authorize_params())

    cookie = set_cookie(page, XSRF)
    assert cookie is not None
    assert "secure" in {part.strip() for part in cookie.split(";")}


def test_each_browser_gets_its_own_token(dev: Dev) -> None:
    with httpx.Client(base_url=dev.base_url) as other_browser:
        other = other_browser.get("/oauth2/authorize", params=authorize_params())

    assert other.cookies[XSRF] != loaded_form(dev)["_csrf"]


def test_a_second_sign_in_form_in_the_same_browser_keeps_the_token_so_both_tabs_work(dev: Dev) -> None:
    first_tab = loaded_form(dev, state="tab-1")
    second_tab = loaded_form(dev, state="tab-2")

    assert first_tab["_csrf"] == second_tab["_csrf"]
    assert post_login(dev, first_tab).status_code == 302


def test_get_login_shows_the_same_sign_in_form_as_authorize(dev: Dev) -> None:
    page = dev.http.get("/login", params=authorize_params())

    assert page.status_code == 200
    assert 'name="_csrf"' in page.text
    assert 'name="password"' in page.text


def test_post_with_the_matching_cookie_and_field_signs_in(dev: Dev) -> None:
    response = post_login(dev, loaded_form(dev))

    assert response.status_code == 302
    assert set_cookie(response, "cognito_dev_session") is not None


def test_post_without_the_xsrf_cookie_is_refused(dev: Dev) -> None:
    form = loaded_form(dev)
    dev.http.cookies.clear()

    assert_refused(post_login(dev, form))


def test_post_with_the_cookie_but_a_different_field_is_refused(dev: Dev) -> None:
    form = loaded_form(dev)
    with httpx.Client(base_url=dev.base_url) as attacker:
        foreign = attacker.get("/oauth2/authorize", params=authorize_params()).cookies[XSRF]

    assert_refused(post_login(dev, {**form, "_csrf": foreign}))


def test_post_with_the_cookie_but_no_field_is_refused(dev: Dev) -> None:
    form = loaded_form(dev)
    del form["_csrf"]

    assert_refused(post_login(dev, form))


def test_post_with_neither_cookie_nor_field_is_refused(dev: Dev) -> None:
    assert_refused(dev.http.post("/login", data={**authorize_params(), **CREDENTIALS}))


def test_post_with_a_matching_pair_that_a_browser_says_came_from_another_site_is_refused(dev: Dev) -> None:
    # Browsers share cookies between the ports of one host: an app on 127.0.0.1:8000 sees the stand-in's cookie.
    form = loaded_form(dev)

    assert_refused(post_login(dev, form, **{"Sec-Fetch-Site": "same-site"}))


def test_post_that_a_browser_says_came_from_the_stand_ins_own_page_is_accepted(dev: Dev) -> None:
    response = post_login(dev, loaded_form(dev), **{"Sec-Fetch-Site": "same-origin"})

    assert response.status_code == 302


def test_refusal_page_says_the_form_expired_or_came_from_elsewhere_and_links_to_start_again(dev: Dev) -> None:
    form = loaded_form(dev, state="s1")
    dev.http.cookies.clear()

    page = post_login(dev, form)

    assert page.headers["content-type"].startswith("text/html")
    assert "expired or was posted from another site" in page.text
    [link] = re.findall(r'<a href="([^"]*)">Start the sign-in again</a>', page.text)
    again = dev.http.get(html.unescape(link))
    assert again.status_code == 200
    assert form_fields(again.text)["state"] == "s1"


def test_refusal_page_without_a_valid_authorize_request_offers_no_link(dev: Dev) -> None:
    page = dev.http.post("/login", data={"client_id": "nope", **CREDENTIALS})

    assert page.status_code == 403
    assert "<a " not in page.text


def test_a_failed_sign_in_shows_a_form_with_the_same_token(dev: Dev) -> None:
    form = loaded_form(dev)

    retry = dev.http.post("/login", data={**form, "username": "alice", "password": "wrong"})

    assert retry.status_code == 200
    assert f'name="_csrf" value="{form["_csrf"]}"' in retry.text
