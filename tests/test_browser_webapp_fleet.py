"""examples/webapp.py as a fleet: three uvicorn processes on three ports sharing one real Redis (COGNITO_REDIS_URL),
behind the local Cognito stand-in with refresh-token rotation on and no grace period (a second refresh with an old
refresh token fails and signs the user out). Cookies on ``localhost`` are shared across ports, so one headless
Chromium context signed in on one worker is signed in on all three.

The stand-in and the three workers are shared by the module (the stand-in's counts are reset and Redis emptied before
each test); a test that breaks Redis runs a worker of its own on a Redis of its own. Skipped, with instructions,
without Chromium (tests/browser.py) or redis-server (tests/redis_support.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from browser import browser, page
from conftest import Clock
from devserver_support import PASSWORD, Dev, running, unverified_claims
from redis_support import RedisServer
from servers import free_port, serve_command

from cognito_guard.hosted_ui import RedisSessionStore, Sealer
from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import default_config

if TYPE_CHECKING:
    from playwright.sync_api import Page

__all__ = ["browser", "page"]  # the fixtures, imported for pytest

ROOT = Path(__file__).resolve().parent.parent
UVICORN = Path(sys.executable).parent / "uvicorn"
SECRET_KEY = "fleet-test-secret-0123456789abcdef"  # one key for every worker: one session, three workers
SESSION_COOKIE = "cognito_session"
WORKERS = 3
REQUESTS_PER_WORKER = 10
# The Redis key of a stored session, as RedisSessionStore names it (namespace cognito_guard): its id sits between
# the prefix and the closing brace of the hash tag; the refresh lock is the same key followed by "#refresh".
SESSION_KEY = re.compile(r"\{cognito_guard:hosted_ui:session:([A-Za-z0-9_-]+)\}")


class RealClock(Clock):
    """The workers run on real time (the example has no clock to inject), so the stand-in must too."""

    def __call__(self) -> float:
        return time.time()


@dataclass
class Fleet:
    """The stand-in, the shared Redis, and the workers' base URLs (``http://localhost:PORT``)."""

    dev: Dev
    redis: RedisServer
    workers: list[str]
    spare_port: int  # an app URL the stand-in accepts, for a worker of one test's own


@contextlib.contextmanager
def stand_in(keys: tuple[SigningKeyPair, SigningKeyPair], ports: list[int]) -> Iterator[Dev]:
    """The built-in pool accepting sign-ins for apps on ``ports``, rotating refresh tokens with no grace period."""
    config = default_config(
        [f"http://localhost:{port}" for port in ports], refresh_token_rotation=True, retry_grace_period_seconds=0
    )
    with running(RealClock(), keys, config) as dev:
        yield dev


@contextlib.contextmanager
def worker(port: int, dev: Dev, redis_url: str, log: Path) -> Iterator[str]:
    """``uvicorn examples.webapp:app`` on ``port``, configured only by its environment variables; stopped on exit."""
    app = f"http://localhost:{port}"
    environment = {
        "COGNITO_DOMAIN": dev.base_url,
        "COGNITO_USER_POOL_ID": "us-east-1_LocalDev",
        "COGNITO_CLIENT_ID": "local-client",
        "COGNITO_ISSUER": dev.issuer,
        "COGNITO_REDIRECT_URI": f"{app}/auth/callback",
        "COGNITO_LOGOUT_URI": f"{app}/",
        "COGNITO_REDIS_URL": redis_url,
        "APP_SECRET_KEY": SECRET_KEY,
    }
    # serve_command passes on this process's environment: `env` sets the app's variables and drops any other
    # COGNITO_* (a client secret, scopes) the test run happens to have, then execs uvicorn (same pid, so it stops).
    unset = [f"--unset={name}" for name in os.environ if name.startswith("COGNITO_") and name not in environment]
    command = [
        "env", *unset, *(f"{name}={value}" for name, value in environment.items()),
        str(UVICORN), "examples.webapp:app", "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    with serve_command(command, port=port, cwd=ROOT, log=log):
        yield app


@pytest.fixture(scope="module")
def fleet(
    session_keys: tuple[SigningKeyPair, SigningKeyPair],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Fleet]:
    ports = [free_port() for _ in range(WORKERS + 1)]
    logs = tmp_path_factory.mktemp("fleet")
    with stand_in(session_keys, ports) as dev, contextlib.ExitStack() as workers:
        urls = [
            workers.enter_context(worker(port, dev, redis_server.url, logs / f"worker-{number}.log"))
            for number, port in enumerate(ports[:WORKERS], start=1)
        ]
        yield Fleet(dev, redis_server, urls, ports[WORKERS])


@pytest.fixture
def workers(fleet: Fleet, redis_server: RedisServer) -> list[str]:
    """The three workers' URLs, with the stand-in's counts at zero (Redis is emptied by conftest's fixture)."""
    fleet.dev.pool.stats.reset()
    return fleet.workers


# --- the browser's part -----------------------------------------------------------------------------------------------


def fill_sign_in_form(page: Page, username: str = "alice") -> None:
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)


def submit_sign_in_form(page: Page) -> None:
    page.locator("form").evaluate("form => form.submit()")


def sign_in(page: Page, app: str, username: str = "alice") -> None:
    """Start at the worker's sign-in route, fill the stand-in's form, land on the worker's home page."""
    page.goto(f"{app}/auth/login")
    fill_sign_in_form(page, username)
    submit_sign_in_form(page)
    page.wait_for_url(f"{app}/")


def greeted(page: Page) -> str | None:
    """The username the home page greets, or None when it offers to sign in."""
    found = page.locator("#username")
    return found.inner_text() if found.count() else None


def session_cookies(page: Page) -> dict[str, str]:
    """The browser's session cookie(s) on localhost, to send from httpx."""
    return {
        cookie["name"]: cookie["value"]
        for cookie in page.context.cookies("http://localhost/")
        if cookie["name"].startswith(SESSION_COOKIE)
    }


# --- requests from Python with the browser's cookies ------------------------------------------------------------------


def page_answers(urls: list[str], cookies: dict[str, str], path: str = "/profile") -> list[httpx.Response]:
    """GET ``path`` on every URL of ``urls`` at once (a barrier releases them together), as a browser with
    ``cookies`` would (HTML wanted, redirects not followed)."""
    barrier = threading.Barrier(len(urls))
    limits = httpx.Limits(max_connections=len(urls), max_keepalive_connections=len(urls))
    with httpx.Client(cookies=cookies, headers={"Accept": "text/html"}, timeout=60, limits=limits) as client:

        def visit(url: str) -> httpx.Response:
            barrier.wait(timeout=30)
            return client.get(f"{url}{path}")

        with ThreadPoolExecutor(max_workers=len(urls)) as pool:
            return list(pool.map(visit, urls))


def shows_alice(answer: httpx.Response) -> bool:
    return answer.status_code == 200 and "<td id='username'>alice</td>" in answer.text


def sends_to_sign_in(answer: httpx.Response) -> bool:
    return answer.status_code == 302 and answer.headers["location"].startswith("/auth/login")


def summary(answers: list[httpx.Response]) -> list[tuple[int, str]]:
    """Status and start of each answer, for assertion messages."""
    return [(answer.status_code, answer.headers.get("location", answer.text[:80])) for answer in answers]


# --- the stored session, reached directly in Redis --------------------------------------------------------------------


def stored_session_id(redis: RedisServer) -> str:
    """The id of the one session stored in ``redis`` (it is sealed inside the cookie, so look for its key)."""
    with redis.client(decode_responses=True) as raw:
        ids = [found.group(1) for key in raw.scan_iter("*hosted_ui:session:*") if (found := SESSION_KEY.fullmatch(key))]
    assert len(ids) == 1, f"expected one stored session, found {ids}"
    return ids[0]


def rewrite_session(redis: RedisServer, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``change`` to the one stored session's data with a compare-and-set, keeping its TTL; returns the new
    data."""
    session_id = stored_session_id(redis)
    store = RedisSessionStore(redis.url)
    try:
        found = store.get_versioned(f"session:{session_id}")
        assert found is not None
        data, version = found
        with redis.client() as raw:
            ttl = raw.pttl(f"{{cognito_guard:hosted_ui:session:{session_id}}}") / 1000
        change(data)
        assert store.compare_and_set(f"session:{session_id}", data, ttl=ttl, version=version) is not None
        return data
    finally:
        store.close()


def expire_access_token(redis: RedisServer) -> str:
    """Move the stored session's ``expires_at`` into the past (no waiting on real time); returns the ``origin_jti``
    of its sign-in, the key of the stand-in's refresh count."""

    def expire(data: dict[str, Any]) -> None:
        data["tokens"]["expires_at"] = time.time() - 1

    data = rewrite_session(redis, expire)
    origin_jti: str = unverified_claims(data["tokens"]["access_token"])["origin_jti"]
    return origin_jti


def stored_refresh_token(redis: RedisServer) -> str:
    store = RedisSessionStore(redis.url)
    try:
        data = store.get(f"session:{stored_session_id(redis)}")
    finally:
        store.close()
    assert data is not None
    token: str = data["tokens"]["refresh_token"]
    return token


# --- one session, three workers ---------------------------------------------------------------------------------------


def test_a_sign_in_on_one_worker_is_a_session_on_all_three(page: Page, workers: list[str], fleet: Fleet) -> None:
    sign_in(page, workers[0])

    for app in workers[1:]:
        page.goto(f"{app}/profile")
        assert page.url == f"{app}/profile"  # not sent to sign in
        assert page.locator("td#username").inner_text() == "alice"
    assert fleet.dev.pool.stats.requests_by_grant["authorization_code"] == 1  # the one sign-in


def test_an_expired_session_hit_on_all_three_workers_at_once_is_refreshed_exactly_once(
    page: Page, workers: list[str], fleet: Fleet
) -> None:
    sign_in(page, workers[0])
    origin_jti = expire_access_token(fleet.redis)

    answers = page_answers([app for app in workers for _ in range(REQUESTS_PER_WORKER)], session_cookies(page))

    assert all(shows_alice(answer) for answer in answers), summary(answers)
    stats = fleet.dev.pool.stats
    assert stats.requests_by_grant["refresh_token"] == 1
    assert stats.refreshes_by_family == {origin_jti: 1}


def test_the_rotated_refresh_token_is_stored_so_a_second_expiry_refreshes_again(
    page: Page, workers: list[str], fleet: Fleet
) -> None:
    sign_in(page, workers[0])
    first_token = stored_refresh_token(fleet.redis)
    origin_jti = expire_access_token(fleet.redis)
    assert all(shows_alice(answer) for answer in page_answers(workers, session_cookies(page)))
    assert stored_refresh_token(fleet.redis) != first_token  # rotated, and the new one stored

    expire_access_token(fleet.redis)
    answers = page_answers([app for app in workers for _ in range(REQUESTS_PER_WORKER)], session_cookies(page))

    # With no grace period, presenting the first refresh token again would have failed and signed alice out.
    assert all(shows_alice(answer) for answer in answers), summary(answers)
    stats = fleet.dev.pool.stats
    assert stats.refreshes_by_family == {origin_jti: 2}
    assert stats.errors_by_grant["refresh_token"] == 0
    page.goto(f"{workers[2]}/")
    assert greeted(page) == "alice"


def test_signing_out_on_one_worker_signs_out_on_all(page: Page, workers: list[str], fleet: Fleet) -> None:
    sign_in(page, workers[0])
    for app in workers[1:]:
        page.goto(f"{app}/")
        assert greeted(page) == "alice"
    copied = session_cookies(page)
    page.goto(f"{workers[0]}/")

    page.get_by_role("link", name="Sign out").click()
    page.wait_for_url(f"{workers[0]}/")

    assert page.get_by_role("link", name="Sign in").is_visible()
    for app in workers[1:]:
        page.goto(f"{app}/profile")
        assert "/oauth2/authorize" in page.url  # sent to sign in again
    # Not only the browser's copy: the stored session is gone, so a copy of the cookie is refused by every worker.
    answers = page_answers(workers, copied)
    assert all(sends_to_sign_in(answer) for answer in answers), summary(answers)


def test_two_tabs_signing_in_at_once_on_different_workers_both_finish_signed_in(
    page: Page, workers: list[str], fleet: Fleet
) -> None:
    first, second = page, page.context.new_page()
    first.goto(f"{workers[0]}/auth/login")
    second.goto(f"{workers[1]}/auth/login")
    fill_sign_in_form(first)
    fill_sign_in_form(second)

    submit_sign_in_form(first)
    first.wait_for_url(f"{workers[0]}/")
    submit_sign_in_form(second)
    second.wait_for_url(f"{workers[1]}/")

    assert (greeted(first), greeted(second)) == ("alice", "alice")
    first.reload()
    assert greeted(first) == "alice"  # the session the second tab left is the browser's, on every worker
    assert fleet.dev.pool.stats.requests_by_grant["authorization_code"] == 2


# --- faults -----------------------------------------------------------------------------------------------------------


def test_a_refresh_lock_left_by_a_dead_worker_delays_the_refresh_until_it_expires(
    page: Page, workers: list[str], fleet: Fleet
) -> None:
    sign_in(page, workers[0])
    lock_seconds = 1.0
    store = RedisSessionStore(fleet.redis.url)
    try:
        # What a worker killed mid-refresh leaves: the lock, created only if absent, that nobody will delete.
        lock = store.compare_and_set(
            f"session:{stored_session_id(fleet.redis)}#refresh", {"pid": 1}, ttl=lock_seconds, version=0
        )
    finally:
        store.close()
    locked_at = time.monotonic()
    assert lock is not None
    origin_jti = expire_access_token(fleet.redis)

    answers = page_answers(workers, session_cookies(page))

    assert all(shows_alice(answer) for answer in answers), summary(answers)
    assert time.monotonic() - locked_at >= lock_seconds  # nobody refreshed while the lock was held
    assert fleet.dev.pool.stats.refreshes_by_family == {origin_jti: 1}


def forged_cookies(real: str, session_id: str) -> dict[str, str]:
    """Session cookies no worker must open as anyone's session."""
    middle = len(real) // 2
    flipped = real[:middle] + ("A" if real[middle] != "A" else "B") + real[middle + 1 :]
    other_secret = Sealer("another-app-secret-0123456789abcdef")
    ours = Sealer(SECRET_KEY)
    return {
        "bytes flipped": flipped,
        "sealed with another secret": other_secret.seal({"sid": session_id}, purpose="session-id", max_age=3600),
        "an id no session has": ours.seal({"sid": "x" * 43}, purpose="session-id", max_age=3600),
        "a session cookie opened as an id": ours.seal({"sid": session_id}, purpose="session", max_age=3600),
    }


def test_a_tampered_or_foreign_session_cookie_is_signed_out_on_every_worker(
    page: Page, workers: list[str], fleet: Fleet
) -> None:
    sign_in(page, workers[0])
    real = session_cookies(page)[SESSION_COOKIE]
    session_id = stored_session_id(fleet.redis)
    # The forgeries are made like the real cookie: sealed by our secret around the real id, one opens as alice's.
    genuine = Sealer(SECRET_KEY).seal({"sid": session_id}, purpose="session-id", max_age=3600)
    assert all(shows_alice(answer) for answer in page_answers(workers, {SESSION_COOKIE: genuine}))

    for kind, forged in forged_cookies(real, session_id).items():
        answers = page_answers(workers, {SESSION_COOKIE: forged})
        assert all(sends_to_sign_in(answer) for answer in answers), (kind, summary(answers))
    assert all(shows_alice(answer) for answer in page_answers(workers, {SESSION_COOKIE: real}))  # left unharmed


@pytest.fixture
def lone_worker(fleet: Fleet, fresh_redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    """A fourth worker, on a Redis of its own that the test may kill and restart, with the stand-in's counts at 0."""
    fleet.dev.pool.stats.reset()
    with worker(fleet.spare_port, fleet.dev, fresh_redis_server.url, tmp_path / "worker.log") as app:
        yield app


def start_sign_in(page: Page, app: str) -> None:
    """Open the worker's sign-in route and fill the stand-in's form, without submitting it."""
    page.goto(f"{app}/auth/login")
    fill_sign_in_form(page)


def test_a_sign_in_whose_callback_finds_redis_down_shows_a_503_page_then_a_fresh_sign_in_works(
    page: Page, lone_worker: str, fresh_redis_server: RedisServer, fleet: Fleet
) -> None:
    start_sign_in(page, lone_worker)
    fresh_redis_server.kill()

    with page.expect_response(lambda response: "/auth/callback" in response.url) as callback:
        submit_sign_in_form(page)

    assert callback.value.status == 503
    assert page.locator("h1").inner_text() == "Sign-in failed"
    fresh_redis_server.restart()  # empty
    page.goto(f"{lone_worker}/auth/login")  # the stand-in remembers alice: straight back with a new code
    page.wait_for_url(f"{lone_worker}/")
    assert greeted(page) == "alice"
    assert fleet.dev.pool.stats.requests_by_grant["authorization_code"] == 1  # the first never reached Cognito


def test_a_sign_in_survives_redis_restarting_empty_between_its_start_and_its_callback(
    page: Page, lone_worker: str, fresh_redis_server: RedisServer
) -> None:
    start_sign_in(page, lone_worker)
    fresh_redis_server.kill()
    fresh_redis_server.restart()  # empty: the sign-in in progress lives in its sealed cookie, not in Redis

    with page.expect_response(lambda response: "/auth/callback" in response.url) as callback:
        submit_sign_in_form(page)
    page.wait_for_url(f"{lone_worker}/")

    assert callback.value.status == 302
    assert greeted(page) == "alice"
    assert stored_session_id(fresh_redis_server)  # the session lives in the restarted Redis
