"""Hosted-UI sessions shared by several workers through a store (issue 12, items 1-3): one refresh per session across
the fleet, a dead refresher does not lock the session out, sign-out ends the session everywhere, a callback is
single-use across workers, and Redis out of reach gives 503s, never a 500.

Each "worker" is a WebSignIn with its own HostedUIClient, as in separate processes; they share a MemorySessionStore or
a RedisSessionStore on a real redis-server. Cognito is the local stand-in on 127.0.0.1 (shared test clock)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import Clock
from devserver_support import PASSWORD, Dev, form_fields, running
from redis_support import RedisServer
from signin_support import APP, hosted_ui_client

from cognito_guard.errors import HostedUIUnavailableError
from cognito_guard.hosted_ui import MemorySessionStore, RedisSessionStore, SessionStore, TokenSet, WebRequest
from cognito_guard.hosted_ui._stored_refresh import StoredRefresh
from cognito_guard.hosted_ui._web import WebSignIn
from cognito_guard.testing import SigningKeyPair

SECRET = "test-secret-key-0123456789abcdef"
HTML = "text/html"


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as stand_in:
        yield stand_in


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore(clock=clock)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    shared = RedisSessionStore(server.url)
    yield shared
    shared.close()


class Workers:
    """Web workers sharing one store; counts the refreshes each asks Cognito for."""

    def __init__(self, dev: Dev, clock: Clock, store: SessionStore, count: int = 2) -> None:
        self.refreshes = 0
        self._count_lock = threading.Lock()
        self.webs = [self._worker(dev, clock, store) for _ in range(count)]

    def _worker(self, dev: Dev, clock: Clock, store: SessionStore) -> WebSignIn:
        client = hosted_ui_client(dev, clock)
        refresh = client._refresh_unverified_sync  # the token request of a stored session's refresh

        def counting(refresh_token: str) -> TokenSet:
            with self._count_lock:
                self.refreshes += 1
            return refresh(refresh_token)

        client._refresh_unverified_sync = counting  # type: ignore[method-assign]
        return WebSignIn.build(client, secret_key=SECRET, store=store, clock=clock)

    def close(self) -> None:
        for web in self.webs:
            web.client.close()


@pytest.fixture
def workers(dev: Dev, clock: Clock, store: SessionStore) -> Iterator[Workers]:
    fleet = Workers(dev, clock, store)
    yield fleet
    fleet.close()


def browser_request(cookies: dict[str, str], path: str = "/", query: bytes = b"") -> WebRequest:
    header = "; ".join(f"{name}={value}" for name, value in cookies.items())
    return WebRequest.from_raw(
        url=f"{APP}{path}", path=path, query_string=query, cookie_headers=[header] if header else [], accept=HTML
    )


def apply(cookies: dict[str, str], set_cookies: list[str]) -> dict[str, str]:
    """The browser's cookies after these Set-Cookie headers."""
    jar = dict(cookies)
    for header in set_cookies:
        pair, _, attributes = header.partition(";")
        name, _, value = pair.partition("=")
        if "Max-Age=0" in attributes:
            jar.pop(name, None)
        else:
            jar[name] = value
    return jar


def at_cognito(dev: Dev, authorize_url: str) -> str:
    """The hosted-UI part (the form, unless the stand-in's own session skips it); returns the callback's query."""
    page = dev.http.get(authorize_url)
    if page.status_code == 200:
        form = {**form_fields(page.text), "username": "alice", "password": PASSWORD}
        page = dev.http.post("/login", data=form)
    assert page.status_code == 302, page.text
    return page.headers["location"].split("?", 1)[1]


def sign_in(dev: Dev, web: WebSignIn) -> tuple[dict[str, str], WebRequest]:
    """alice signs in through ``web`` (the hosted UI is the stand-in over HTTP); returns the browser's cookies and
    the callback request (to replay it)."""
    started = web.login(browser_request({}, "/auth/login"))
    cookies = apply({}, started.set_cookies)
    callback = browser_request(cookies, "/auth/callback", at_cognito(dev, started.location or "").encode())
    done = web.callback_sync(callback)
    assert done.status == 302, done.body
    return apply(cookies, done.set_cookies), callback


def check(web: WebSignIn, cookies: dict[str, str]) -> str | None:
    result = web.check_sync(browser_request(cookies))
    return None if result.user is None else result.user.username


# -- one refresh per session ------------------------------------------------------------------------------------------


def test_a_session_signed_in_on_one_worker_is_signed_in_on_the_others(dev: Dev, workers: Workers) -> None:
    cookies, _ = sign_in(dev, workers.webs[0])
    assert check(workers.webs[1], cookies) == "alice"


def test_sixteen_requests_on_two_workers_after_expiry_make_one_refresh(
    dev: Dev, workers: Workers, clock: Clock
) -> None:
    cookies, _ = sign_in(dev, workers.webs[0])
    clock.advance(3600)
    start = threading.Barrier(16)

    def request(index: int) -> tuple[str | None, str | None]:
        start.wait()
        result = workers.webs[index % 2].check_sync(browser_request(cookies))
        user = result.user
        return (None, None) if user is None else (user.username, user.tokens.access_token)

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(request, range(16)))

    assert workers.refreshes == 1
    assert {username for username, _ in results} == {"alice"}
    assert len({token for _, token in results}) == 1  # everyone got the tokens of that one refresh


def test_after_one_worker_refreshed_the_others_use_the_stored_tokens(dev: Dev, workers: Workers, clock: Clock) -> None:
    cookies, _ = sign_in(dev, workers.webs[0])
    clock.advance(3600)
    assert check(workers.webs[0], cookies) == "alice"

    assert check(workers.webs[1], cookies) == "alice"
    assert workers.refreshes == 1


def test_a_worker_that_died_holding_the_refresh_lock_does_not_lock_the_session_out(dev: Dev, clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)  # the lock's expiry follows the test clock
    fleet = Workers(dev, clock, store, count=1)
    web = fleet.webs[0]
    cookies, _ = sign_in(dev, web)
    clock.advance(3600)
    session = web.sessions.load_stored(browser_request(cookies).cookies)
    assert session is not None
    store.compare_and_set(web.sessions.refresh_lock_key(session), {"pid": 1}, ttl=15, version=0)  # then it died
    refresher = StoredRefresh(web.sessions, web.client, pause=clock.advance, clock=clock)

    try:
        tokens, claims = refresher.refresh(session)
    finally:
        fleet.close()

    assert claims.username == "alice"
    assert not tokens.expired(clock())
    assert fleet.refreshes == 1


def test_a_lock_left_in_redis_by_a_dead_worker_expires_and_the_next_worker_refreshes(
    dev: Dev, clock: Clock, redis_server: RedisServer
) -> None:
    store = RedisSessionStore(redis_server.url)
    fleet = Workers(dev, clock, store, count=1)
    web = fleet.webs[0]
    cookies, _ = sign_in(dev, web)
    clock.advance(3600)
    session = web.sessions.load_stored(browser_request(cookies).cookies)
    assert session is not None
    store.compare_and_set(web.sessions.refresh_lock_key(session), {"pid": 1}, ttl=0.05, version=0)  # then it died
    refresher = StoredRefresh(web.sessions, web.client, clock=clock)  # waits in real time for Redis to expire it

    try:
        _, claims = refresher.refresh(session)
    finally:
        fleet.close()
        store.close()

    assert claims.username == "alice"
    assert fleet.refreshes == 1


def test_waiters_share_a_failed_refresh_instead_of_each_asking_cognito(
    dev: Dev, workers: Workers, clock: Clock, store: SessionStore
) -> None:
    web = workers.webs[1]
    cookies, _ = sign_in(dev, web)
    clock.advance(3600)
    session = web.sessions.load_stored(browser_request(cookies).cookies)
    assert session is not None
    lock_key = web.sessions.refresh_lock_key(session)
    lock = store.compare_and_set(lock_key, {"pid": 1}, ttl=15, version=0)
    assert lock is not None

    def the_holder_fails(seconds: float) -> None:  # what worker 0 leaves when Cognito does not answer
        store.set(f"{lock_key}-failed", {}, ttl=5)
        store.delete_if(lock_key, version=lock)

    refresher = StoredRefresh(web.sessions, web.client, pause=the_holder_fails, clock=clock)

    with pytest.raises(HostedUIUnavailableError):
        refresher.refresh(session)
    assert workers.refreshes == 0


def test_a_waiter_gives_up_with_503_when_the_refresh_takes_too_long(
    dev: Dev, workers: Workers, clock: Clock, store: SessionStore
) -> None:
    web = workers.webs[0]
    cookies, _ = sign_in(dev, web)
    clock.advance(3600)
    session = web.sessions.load_stored(browser_request(cookies).cookies)
    assert session is not None
    store.compare_and_set(web.sessions.refresh_lock_key(session), {"pid": 1}, ttl=600, version=0)
    refresher = StoredRefresh(web.sessions, web.client, wait=2, pause=lambda seconds: None, clock=clock)

    with pytest.raises(HostedUIUnavailableError, match="taking too long"):
        refresher.refresh(session)
    assert workers.refreshes == 0


# -- sign-out and sign-in across workers ----------------------------------------------------------------------------


def test_signing_out_on_one_worker_signs_out_on_all(dev: Dev, workers: Workers) -> None:
    cookies, _ = sign_in(dev, workers.webs[0])
    assert check(workers.webs[1], cookies) == "alice"

    workers.webs[0].logout_sync(browser_request(cookies, "/auth/logout"))

    assert check(workers.webs[1], cookies) is None


def test_a_callback_replayed_on_another_worker_is_refused(dev: Dev, workers: Workers) -> None:
    _, callback = sign_in(dev, workers.webs[0])

    replayed = workers.webs[1].callback_sync(callback)

    assert replayed.status == 400
    assert "already finished" in replayed.body


def test_a_session_whose_refresh_token_is_refused_ends_on_every_worker(
    dev: Dev, workers: Workers, clock: Clock
) -> None:
    cookies, _ = sign_in(dev, workers.webs[0])
    session = workers.webs[0].sessions.load_stored(browser_request(cookies).cookies)
    assert session is not None
    refresh_token = session.data["tokens"]["refresh_token"]
    workers.webs[0].client.revoke_sync(refresh_token)  # revoked elsewhere (another device, an administrator)
    clock.advance(3600)

    assert check(workers.webs[1], cookies) is None
    assert check(workers.webs[0], cookies) is None
    assert workers.webs[0].sessions.reload(session) is None


# -- Redis out of reach -----------------------------------------------------------------------------------------------


@pytest.fixture
def down_store(fresh_redis_server: RedisServer) -> Iterator[tuple[RedisServer, RedisSessionStore]]:
    shared = RedisSessionStore(fresh_redis_server.url)
    yield fresh_redis_server, shared
    shared.close()


def test_a_callback_while_redis_is_down_gets_a_503_page(
    dev: Dev, clock: Clock, down_store: tuple[RedisServer, RedisSessionStore]
) -> None:
    server, shared = down_store
    web = WebSignIn.build(hosted_ui_client(dev, clock), secret_key=SECRET, store=shared, clock=clock)
    started = web.login(browser_request({}, "/auth/login"))
    cookies = apply({}, started.set_cookies)
    query = at_cognito(dev, started.location or "")
    server.kill()

    answer = web.callback_sync(browser_request(cookies, "/auth/callback", query.encode()))
    web.client.close()

    assert answer.status == 503
    assert "Sign-in failed" in answer.body


def test_a_page_while_redis_is_down_is_503_and_the_session_survives_the_outage(
    dev: Dev, clock: Clock, down_store: tuple[RedisServer, RedisSessionStore]
) -> None:
    server, shared = down_store
    web = WebSignIn.build(hosted_ui_client(dev, clock), secret_key=SECRET, store=shared, clock=clock)
    cookies, _ = sign_in(dev, web)
    server.kill()

    during = web.check_sync(browser_request(cookies))
    web.client.close()

    assert during.user is None
    assert during.unavailable is not None
    assert during.unavailable.status_code == 503
    assert during.set_cookies == []  # the session cookie is kept for when Redis is back


def test_sign_out_while_redis_is_down_is_503_and_keeps_the_cookie(
    dev: Dev, clock: Clock, down_store: tuple[RedisServer, RedisSessionStore]
) -> None:
    server, shared = down_store
    web = WebSignIn.build(hosted_ui_client(dev, clock), secret_key=SECRET, store=shared, clock=clock)
    cookies, _ = sign_in(dev, web)
    server.kill()

    answer = web.logout_sync(browser_request(cookies, "/auth/logout"))
    web.client.close()

    assert answer.status == 503
    assert answer.set_cookies == []


def test_after_redis_restarts_empty_a_fresh_sign_in_works(
    dev: Dev, clock: Clock, down_store: tuple[RedisServer, RedisSessionStore]
) -> None:
    server, shared = down_store
    web = WebSignIn.build(hosted_ui_client(dev, clock), secret_key=SECRET, store=shared, clock=clock)
    old_cookies, _ = sign_in(dev, web)
    server.kill()
    server.restart()

    lost = check(web, old_cookies)
    cookies, _ = sign_in(dev, web)
    now = check(web, cookies)
    web.client.close()

    assert lost is None  # the session was in the Redis that restarted empty: sign in again
    assert now == "alice"


# -- async apps: a Redis store is called from worker threads, never from the event loop --------------------------------


async def test_async_checks_with_a_redis_store_run_off_the_event_loop(
    dev: Dev, clock: Clock, redis_server: RedisServer
) -> None:
    import asyncio

    store = RedisSessionStore(redis_server.url)
    loop_thread = threading.get_ident()
    called_from: set[int] = set()
    get_versioned = store.get_versioned

    def recording(key: str) -> Any:
        called_from.add(threading.get_ident())
        return get_versioned(key)

    store.get_versioned = recording  # type: ignore[method-assign]
    web = WebSignIn.build(hosted_ui_client(dev, clock), secret_key=SECRET, store=store, clock=clock)
    cookies, _ = await asyncio.to_thread(sign_in, dev, web)
    clock.advance(3600)  # due for a refresh too

    result = await web.check_async(browser_request(cookies))
    logout = await web.logout_async(browser_request(cookies, "/auth/logout"))
    after = await web.check_async(browser_request(cookies))
    await web.client.aclose()
    store.close()

    assert result.user is not None
    assert result.user.username == "alice"
    assert logout.status == 302
    assert after.user is None
    assert called_from
    assert loop_thread not in called_from


# -- cost: one Redis round trip per page view when nothing needs saving ------------------------------------------------


def test_a_page_view_with_a_live_session_costs_one_redis_command(
    dev: Dev, clock: Clock, redis_server: RedisServer
) -> None:
    store = RedisSessionStore(redis_server.url)
    web = WebSignIn.build(hosted_ui_client(dev, clock), secret_key=SECRET, store=store, clock=clock)
    cookies, _ = sign_in(dev, web)
    assert check(web, cookies) == "alice"  # the ID token is verified and cached
    monitor = redis_server.client()
    before = sum(entry["calls"] for entry in monitor.info("commandstats").values())

    for _ in range(10):
        assert check(web, cookies) == "alice"

    after = sum(entry["calls"] for entry in monitor.info("commandstats").values())
    monitor.close()
    web.client.close()
    store.close()
    assert after - before - 1 == 10  # one GET per view (the other call is the first INFO itself)


# -- a refresh that overruns its lock ---------------------------------------------------------------------------------


def overrunning(web: WebSignIn, during: Any) -> None:
    """Make ``web``'s next token request call ``during()`` first: what other workers do while it is slow."""
    refresh = web.client._refresh_unverified_sync

    def slow(refresh_token: str) -> TokenSet:
        during()
        return refresh(refresh_token)

    web.client._refresh_unverified_sync = slow  # type: ignore[method-assign]


def stored(web: WebSignIn, cookies: dict[str, str]) -> Any:
    session = web.sessions.load_stored(browser_request(cookies).cookies)
    assert session is not None
    return session


def test_a_holder_that_overran_its_lock_leaves_the_next_holders_lock_alone(dev: Dev, clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    fleet = Workers(dev, clock, store, count=1)
    web = fleet.webs[0]
    cookies, _ = sign_in(dev, web)
    clock.advance(3600)
    session = stored(web, cookies)
    lock_key = web.sessions.refresh_lock_key(session)

    def another_worker_takes_the_expired_lock() -> None:
        clock.advance(60)  # longer than the lock's TTL
        assert store.compare_and_set(lock_key, {"pid": 2}, ttl=60, version=0) == 1

    overrunning(web, another_worker_takes_the_expired_lock)
    StoredRefresh(web.sessions, web.client, lock_ttl=15, clock=clock).refresh(session)
    fleet.close()

    assert store.get_versioned(lock_key) == ({"pid": 2}, 1)


def test_a_holder_whose_write_loses_to_another_workers_refresh_uses_that_refresh(dev: Dev, clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    fleet = Workers(dev, clock, store, count=2)
    slow, other = fleet.webs
    cookies, _ = sign_in(dev, slow)
    clock.advance(3600)
    session = stored(slow, cookies)
    theirs: list[TokenSet] = []

    def the_other_worker_refreshes_first() -> None:
        clock.advance(60)  # the slow worker's lock has expired: the other worker takes it and refreshes
        result = other.check_sync(browser_request(cookies))
        assert result.user is not None
        theirs.append(result.user.tokens)

    overrunning(slow, the_other_worker_refreshes_first)
    tokens, claims = StoredRefresh(slow.sessions, slow.client, clock=clock).refresh(session)
    kept = slow.sessions.reload(session)
    fleet.close()

    assert claims.username == "alice"
    assert tokens.access_token == theirs[0].access_token  # the write that won, not a second version of the session
    assert kept is not None
