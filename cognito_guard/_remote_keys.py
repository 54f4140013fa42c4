"""Key sets fetched from a JWKS URI: TTL, cooldown, backoff, stale-if-error, one fetch for concurrent misses.

The fetch itself (bounded in time and size, no redirects, whatever answer parsed by the caller), the backoff and the
one-fetch-per-loop sharing are also what the ALB key server (:mod:`cognito_guard._alb_keys`, one PEM per ``kid``)
is fetched with.

Public through :mod:`cognito_guard.jwks`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from ._keys import JWKSError, SigningKey, check_key_url, parse_jwks
from .errors import ConfigurationError, KeyNotFoundError, KeysUnavailableError

logger = logging.getLogger("cognito_guard.jwks")


_T = TypeVar("_T")


class FetchError(Exception):
    """Why a key fetch failed (status, timeout, size, garbage...); logged, never shown to a client."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


# More doublings than any backoff / max_backoff ratio needs (2 ** 64 > 1e19); well short of float overflow.
_MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class FetchOptions:
    """How keys are fetched (see :class:`JWKSCache` for the meaning of each)."""

    timeout: float = 3.0
    max_bytes: int = 256 * 1024
    cooldown: float = 10.0
    backoff: float = 1.0
    max_backoff: float = 60.0


def _check_response_head(response: httpx.Response, options: FetchOptions) -> None:
    if response.status_code != 200:
        raise FetchError(f"HTTP {response.status_code}", status=response.status_code)
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > options.max_bytes:
        raise FetchError(f"response larger than {options.max_bytes} bytes")


def _parse_jwks_body(body: bytes) -> dict[str, SigningKey]:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise FetchError("response is not JSON") from None
    try:
        return parse_jwks(document)
    except JWKSError as error:
        raise FetchError(str(error)) from None


def _read_sync(
    client: httpx.Client, uri: str, options: FetchOptions, deadline: float, parse: Callable[[bytes], _T]
) -> _T:
    chunks: list[bytes] = []
    size = 0
    try:
        with client.stream("GET", uri, timeout=options.timeout, follow_redirects=False) as response:
            _check_response_head(response, options)
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > options.max_bytes:
                    raise FetchError(f"response larger than {options.max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise FetchError(f"no complete response within {options.timeout} s")
                chunks.append(chunk)
    except httpx.HTTPError as error:
        raise FetchError(f"{type(error).__name__}") from None
    return parse(b"".join(chunks))


def fetch_sync(client: httpx.Client, uri: str, options: FetchOptions, parse: Callable[[bytes], _T]) -> _T:
    """Fetch within ``options.timeout`` in all, whatever the server does; ``parse`` turns the body into keys.

    httpx's timeouts bound each read, not the exchange: a server trickling its headers a byte at a time could hold us
    (and, through the key set's lock, every caller waiting for keys) as long as it likes. So the exchange runs in a
    daemon thread and we stop waiting at the deadline; an abandoned fetch ends on its own (its result is dropped).
    Fetches are rare (one per TTL or cooldown), so a thread each costs nothing that matters.
    """
    deadline = time.monotonic() + options.timeout
    outcome: list[_T | BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(_read_sync(client, uri, options, deadline, parse))
        except BaseException as error:
            outcome.append(error)
        finally:
            done.set()

    threading.Thread(target=run, name="cognito-guard-jwks-fetch", daemon=True).start()
    if not done.wait(options.timeout):
        raise FetchError(f"no complete response within {options.timeout} s")
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


async def fetch_async(client: httpx.AsyncClient, uri: str, options: FetchOptions, parse: Callable[[bytes], _T]) -> _T:
    chunks: list[bytes] = []

    async def read() -> None:
        size = 0
        async with client.stream("GET", uri, timeout=options.timeout, follow_redirects=False) as response:
            _check_response_head(response, options)
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > options.max_bytes:
                    raise FetchError(f"response larger than {options.max_bytes} bytes")
                chunks.append(chunk)

    try:
        await asyncio.wait_for(read(), options.timeout)
    except asyncio.TimeoutError:
        raise FetchError(f"no complete response within {options.timeout} s") from None
    except httpx.HTTPError as error:
        raise FetchError(f"{type(error).__name__}") from None
    return parse(b"".join(chunks))


def failure_reason(error: Exception) -> str:
    """What to log for a failed fetch.

    Anything a fetch raises is a failed fetch: an injected client that is closed or bound to another event loop, a
    host name the IDNA codec refuses, a bug in a transport. Escaping, it would be a 500 on every request and skip the
    backoff, so every request would fetch again. (CancelledError, KeyboardInterrupt and SystemExit are not Exceptions:
    they pass.)
    """
    if isinstance(error, FetchError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def backoff_delay(backoff: float, max_backoff: float, failures: int) -> float:
    """The wait before the next attempt after ``failures`` failed fetches in a row: doubling, capped."""
    # Cap the exponent: an outage lasts as long as it likes (max_stale is a day), and a float backoff times
    # 2 ** 1024 raises OverflowError instead of saturating at max_backoff.
    delay: float = min(max_backoff, backoff * 2 ** min(failures - 1, _MAX_DOUBLINGS))
    return delay


class SharedFetches:
    """One fetch per (event loop, what) at a time: concurrent callers on a loop await the same task."""

    def __init__(self) -> None:
        self._tasks: dict[tuple[asyncio.AbstractEventLoop, Hashable], asyncio.Task[None]] = {}

    async def run(self, what: Hashable, fetch: Callable[[], Coroutine[Any, Any, None]]) -> None:
        loop = asyncio.get_running_loop()
        slot = (loop, what)
        task = self._tasks.get(slot)
        if task is None or task.done():
            task = loop.create_task(fetch())
            self._tasks[slot] = task
            task.add_done_callback(functools.partial(self._forget, slot))
        # shield: a cancelled request must not cancel the fetch that other requests are waiting on
        await asyncio.shield(task)

    def _forget(self, slot: tuple[asyncio.AbstractEventLoop, Hashable], task: asyncio.Task[None]) -> None:
        if self._tasks.get(slot) is task:  # a newer fetch may already have taken its place
            del self._tasks[slot]


class RemoteKeySet:
    """The key set published at one JWKS URI, cached with TTL, cooldown, backoff and stale-if-error.

    - Fresh (younger than ``ttl``): known ``kid`` -> key, no I/O. Unknown ``kid`` -> one refetch, at most once per
      ``cooldown`` (someone may be sending made-up kids: don't let them drive our traffic to Cognito).
    - Older than ``ttl``: refetched on the next lookup. If that fails, the old keys keep verifying (a warning is
      logged) until they are ``max_stale`` seconds past their TTL.
    - After a failed fetch, no new attempt before an exponential backoff (``backoff`` doubling up to
      ``max_backoff``): an outage plus a flood of tokens never floods the JWKS endpoint.
    - Concurrent misses share one fetch: one in-flight task per event loop, one lock for threads.
    """

    def __init__(
        self,
        uri: str,
        *,
        cache: JWKSCache,
        ttl: float,
        cooldown: float,
        max_stale: float,
        backoff: float,
        max_backoff: float,
        clock: Callable[[], float],
    ) -> None:
        self.uri = uri
        self._cache = cache
        self._ttl = ttl
        self._cooldown = cooldown
        self._max_stale = max_stale
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._clock = clock
        self._keys: dict[str, SigningKey] | None = None
        self._fresh_until = -math.inf
        self._stale_until = -math.inf
        self._last_attempt = -math.inf
        self._next_attempt = -math.inf
        self._failures = 0
        self._attempts = 0
        self._thread_lock = threading.Lock()
        self._fetches = SharedFetches()

    # -- hot path ---------------------------------------------------------------------------------------------------
    def lookup(self, kid: str, now: float) -> SigningKey | None:
        keys = self._keys
        if keys is not None and now < self._fresh_until:
            return keys.get(kid)
        return None

    # -- slow path --------------------------------------------------------------------------------------------------
    def _needs_fetch(self, kid: str, now: float) -> SigningKey | None:
        """The key when no fetch is needed; None when a fetch should be attempted; raises when neither can help."""
        keys = self._keys
        if keys is not None and now < self._fresh_until:
            key = keys.get(kid)
            if key is not None:
                return key
            if now < self._next_attempt or now < self._last_attempt + self._cooldown:
                return self._settle(kid, now)
            return None
        if now < self._next_attempt:
            return self._settle(kid, now)
        return None

    def _settle(self, kid: str, now: float) -> SigningKey:
        """Answer from what is cached, without fetching: a fresh or tolerably stale key, or the right error."""
        keys = self._keys
        if keys is not None and now < self._stale_until:
            key = keys.get(kid)
            if key is not None:
                return key
            if self._failures == 0:
                raise KeyNotFoundError("token was signed by a key that is not in the user pool's key set")
        retry_after = max(1.0, self._next_attempt - now)
        raise KeysUnavailableError("signing keys are unavailable, try again later", retry_after=retry_after)

    def _record_success(self, keys: dict[str, SigningKey], now: float) -> None:
        old = self._keys or {}
        # Keep the SigningKey objects of unchanged keys: the verifier's result cache compares keys by identity.
        merged = {kid: old[kid] if kid in old and old[kid].jwk == key.jwk else key for kid, key in keys.items()}
        self._keys = merged
        self._fresh_until = now + self._ttl
        self._stale_until = now + self._ttl + self._max_stale
        self._failures = 0
        self._next_attempt = -math.inf

    def _record_failure(self, reason: str, now: float) -> None:
        self._failures += 1
        delay = backoff_delay(self._backoff, self._max_backoff, self._failures)
        self._next_attempt = now + delay
        kept = "keeping the cached keys" if self._keys is not None and now < self._stale_until else "no usable keys"
        logger.warning(
            "fetching JWKS from %s failed (%s): %s; failure %d, next try in %.1f s",
            self.uri,
            reason,
            kept,
            self._failures,
            delay,
        )

    def _begin_attempt(self) -> None:
        self._attempts += 1
        self._last_attempt = self._clock()

    @property
    def fetch_count(self) -> int:
        """How many fetches were attempted (for tests and metrics)."""
        return self._attempts

    def get_key_sync(self, kid: str) -> SigningKey:
        key = self._needs_fetch(kid, self._clock())
        if key is not None:
            return key
        with self._thread_lock:
            # Decide again: a thread that held the lock may have fetched (or failed) meanwhile.
            key = self._needs_fetch(kid, self._clock())
            if key is not None:
                return key
            self._refresh_sync()
        return self._settle(kid, self._clock())

    async def get_key(self, kid: str) -> SigningKey:
        key = self._needs_fetch(kid, self._clock())
        if key is not None:
            return key
        await self._shared_refresh()
        return self._settle(kid, self._clock())

    async def _shared_refresh(self) -> None:
        await self._fetches.run(None, self._refresh_async)

    def _refresh_sync(self) -> None:
        self._begin_attempt()
        try:
            keys = fetch_sync(self._cache.sync_client(), self.uri, self._cache.fetch_options, _parse_jwks_body)
        except Exception as error:  # whatever went wrong, it is a failed fetch: see failure_reason
            reason = failure_reason(error)
            if not isinstance(error, FetchError):  # not the network's doing: keep the traceback for whoever debugs
                logger.error("unexpected error fetching JWKS from %s", self.uri, exc_info=error)
        else:
            self._record_success(keys, self._clock())
            return
        self._record_failure(reason, self._clock())

    async def _refresh_async(self) -> None:
        self._begin_attempt()
        try:
            keys = await fetch_async(self._cache.async_client(), self.uri, self._cache.fetch_options, _parse_jwks_body)
        except Exception as error:  # whatever went wrong, it is a failed fetch: see failure_reason
            reason = failure_reason(error)
            if not isinstance(error, FetchError):  # not the network's doing: keep the traceback for whoever debugs
                logger.error("unexpected error fetching JWKS from %s", self.uri, exc_info=error)
        else:
            self._record_success(keys, self._clock())
            return
        self._record_failure(reason, self._clock())

    def warm_up_sync(self) -> None:
        """Fetch now (application start); raises KeysUnavailableError if no keys could be had."""
        with self._thread_lock:
            self._refresh_sync()
        self._require_keys()

    async def warm_up(self) -> None:
        """Fetch now (application start); raises KeysUnavailableError if no keys could be had."""
        await self._shared_refresh()
        self._require_keys()

    def _require_keys(self) -> None:
        if self._keys is None or self._clock() >= self._stale_until:
            raise KeysUnavailableError(f"could not load signing keys from {self.uri}", retry_after=self._backoff)


class JWKSCache:
    """Key sets by URI plus the HTTP clients that fetch them; share one between verifiers of the same pools.

    Options (all seconds unless named otherwise):
    ``ttl`` how long fetched keys count as fresh (default 300), ``cooldown`` minimum time between refetches caused
    by an unknown ``kid`` (10), ``max_stale`` how long past their TTL keys keep serving while refreshes fail (86400),
    ``backoff`` / ``max_backoff`` the retry delay after a failed fetch, doubling (1 / 60), ``timeout`` total time for
    one fetch (3), ``max_bytes`` response size cap (256 KiB). ``http_client`` / ``async_http_client`` are used as
    given (we never close injected clients); our own follow no redirects.
    """

    def __init__(
        self,
        *,
        ttl: float = 300.0,
        cooldown: float = 10.0,
        max_stale: float = 86400.0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float = 3.0,
        max_bytes: int = 256 * 1024,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (("ttl", ttl), ("timeout", timeout), ("max_bytes", max_bytes)):
            if value <= 0:
                raise ConfigurationError(f"{name} must be positive")
        for name, value in (("cooldown", cooldown), ("max_stale", max_stale), ("backoff", backoff)):
            if value < 0:
                raise ConfigurationError(f"{name} must not be negative")
        self.fetch_options = FetchOptions(
            timeout=timeout,
            max_bytes=max_bytes,
            cooldown=cooldown,
            backoff=backoff,
            max_backoff=max(backoff, max_backoff),
        )
        self._settings = {
            "ttl": ttl,
            "cooldown": cooldown,
            "max_stale": max_stale,
            "backoff": backoff,
            "max_backoff": max(backoff, max_backoff),
        }
        self._clock = clock
        self._sets: dict[str, RemoteKeySet] = {}
        self._lock = threading.Lock()
        self._sync_client = http_client
        self._owns_sync_client = http_client is None
        self._async_client = async_http_client
        self._owns_async_client = async_http_client is None
        self._own_async_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}

    def key_set(self, uri: str) -> RemoteKeySet:
        """The (shared) key set for ``uri``."""
        check_key_url(uri, "JWKS URI")
        with self._lock:
            key_set = self._sets.get(uri)
            if key_set is None:
                key_set = RemoteKeySet(uri, cache=self, clock=self._clock, **self._settings)
                self._sets[uri] = key_set
            return key_set

    def sync_client(self) -> httpx.Client:
        with self._lock:
            if self._sync_client is None:
                self._sync_client = httpx.Client(timeout=self.fetch_options.timeout, follow_redirects=False)
            return self._sync_client

    def async_client(self) -> httpx.AsyncClient:
        if self._async_client is not None:
            return self._async_client
        # An httpx.AsyncClient belongs to the event loop that first used it: keep one per loop.
        loop = asyncio.get_running_loop()
        client = self._own_async_clients.get(loop)
        if client is None:
            for old_loop in [known for known in self._own_async_clients if known.is_closed()]:
                del self._own_async_clients[old_loop]
            client = httpx.AsyncClient(timeout=self.fetch_options.timeout, follow_redirects=False)
            self._own_async_clients[loop] = client
        return client

    def close(self) -> None:
        """Close the HTTP clients this cache created (not injected ones)."""
        if self._owns_sync_client and self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    async def aclose(self) -> None:
        """Close every HTTP client this cache created (not injected ones)."""
        self.close()
        loop = asyncio.get_running_loop()
        client = self._own_async_clients.pop(loop, None)
        if client is not None:
            await client.aclose()
