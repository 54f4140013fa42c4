"""The machinery behind :class:`cognito_guard.client.ClientCredentials`: one token request at a time for every thread
and task, the shared cache with its lock, and the two front doors (sync and async) over one fetch policy.

The policy is written once, as a generator of steps (a cache call, the token request, a pause); ``_run_sync`` and
``_run_async`` perform the steps with blocking or non-blocking I/O. So the two doors differ only where I/O differs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import threading
import time
import weakref
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx

from ._oauth_http import OAuthHTTP
from ._single_flight import Flight
from ._token_cache import TokenCache
from ._token_policy import Failure, Token, TokenPolicy
from ._token_seal import Vault
from .errors import TokenEndpointUnavailableError

__all__ = ["TokenMetrics", "TokenSource"]

logger = logging.getLogger("cognito_guard.client")

_WHAT = "Cognito's token endpoint"
_FIRST_PAUSE, _LONGEST_PAUSE = 0.02, 0.25  # polling a lock another process holds: soon at first, then calmly
_Step = tuple[str, tuple[Any, ...]]  # ("fetch" | "sleep" | a TokenCache method, its arguments)
_CACHE_FALLBACK: dict[str, Any] = {"get": (None, None), "acquire": True}  # what a cache out of reach amounts to
_CACHE_PAUSE = 30.0  # seconds a cache out of reach is left alone


@dataclass(frozen=True)
class TokenMetrics:
    """What a token source did so far; Cognito bills each token it issues (``tokens_fetched``)."""

    tokens_fetched: int
    """Tokens obtained from the token endpoint by this object."""
    fetch_failures: int
    """Token requests that failed (refused, unreachable, nonsense)."""
    cache_hits: int
    """Calls answered without a token request of their own: a cached token, or one fetched for a concurrent call."""
    shared_cache_hits: int
    """Tokens taken from the cache that another token source (another process) had fetched."""
    expires_at: float | None
    """Unix time the current token expires; None before the first."""


class TokenSource:
    """Tokens for one app client and scope set (settings checked by ClientCredentials, which is the public face)."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        vault: Vault,
        form: dict[str, str],
        headers: dict[str, str],
        cache: TokenCache,
        policy: TokenPolicy,
        invalid_token_cooldown: float,
        timeout: float,
        lock_ttl: float,
        lock_wait: float,
        http_client: httpx.Client | None,
        async_http_client: httpx.AsyncClient | None,
        clock: Callable[[], float],
    ) -> None:
        self.token_url, self.client_id = token_url, client_id
        self._vault, self._name = vault, vault.name
        self._form, self._headers = form, headers
        self._cache, self._policy = cache, policy
        self._invalid_token_cooldown = invalid_token_cooldown
        self._timeout, self._lock_ttl, self._lock_wait = timeout, lock_ttl, lock_wait
        self._http_options = (http_client, async_http_client)
        self._http = OAuthHTTP(http_client=http_client, async_http_client=async_http_client, timeout=timeout)
        self._clock = clock
        self._current: Token | None = None
        self._failure: Failure | None = None
        self._flight: Flight[Token | Failure] | None = None
        self._state_lock = threading.Lock()
        self._counts = {"fetched": 0, "failures": 0, "hits": 0, "shared": 0}
        self._cache_retry_at = 0.0  # monotonic time before which the cache is not asked (after a failure)
        _sources.add(self)

    # -- the front doors -----------------------------------------------------------------------------------------------
    def token(self) -> str:
        """The current access token, fetched only when needed (first call, renewal, expiry). Thread-safe.

        Raises a :class:`~cognito_guard.errors.ClientCredentialsError` when Cognito refuses the client, or
        :class:`~cognito_guard.errors.TokenEndpointUnavailableError` when no usable token can be had now."""
        # Hot path: one attribute read, one comparison and a count, until the renewal is due.
        current = self._current
        if current is not None and self._clock() < current.renew_at:
            with self._state_lock:
                self._counts["hits"] += 1
            return current.access_token
        while True:
            answer, flight, leads = self._begin()
            if answer is not None:
                return answer
            if leads:
                outcome: Token | Failure | None = None
                try:
                    outcome = self._run_sync(self._obtain())
                finally:
                    self._settle(flight, outcome)
            elif flight.wait(self._flight_wait):
                outcome = flight.outcome
            else:
                raise self._gave_up()
            if outcome is not None:  # None: the leader was interrupted; decide again
                return self._answer(outcome, leads)

    async def atoken(self) -> str:
        """:meth:`token` for async code: the request, and any wait for one, never blocks the event loop."""
        current = self._current
        if current is not None and self._clock() < current.renew_at:
            with self._state_lock:
                self._counts["hits"] += 1
            return current.access_token
        while True:
            answer, flight, leads = self._begin()
            if answer is not None:
                return answer
            if leads:
                # A task of its own, shielded: a cancelled caller must not cancel the request the others wait on.
                task = asyncio.get_running_loop().create_task(self._lead_async(flight))
                outcome = await asyncio.shield(task)
            else:
                try:
                    await asyncio.wait_for(flight.wait_async(), self._flight_wait)
                except asyncio.TimeoutError:
                    raise self._gave_up() from None
                outcome = flight.outcome
            if outcome is not None:
                return self._answer(outcome, leads)

    async def _lead_async(self, flight: Flight[Token | Failure]) -> Token | Failure | None:
        outcome: Token | Failure | None = None
        try:
            outcome = await self._run_async(self._obtain())
        finally:
            self._settle(flight, outcome)
        return outcome

    def invalidate(self, token: str) -> bool:
        """Report that an API refused ``token`` as ``invalid_token``: it is forgotten here and in the shared cache, so
        the next call fetches a new one. Returns False, forgetting nothing, when the token is younger than
        ``invalid_token_cooldown`` (a new one would most likely be refused too): then do not retry."""
        return bool(self._run_sync(self._forget(token)))

    async def ainvalidate(self, token: str) -> bool:
        """:meth:`invalidate` for async code."""
        return bool(await self._run_async(self._forget(token)))

    @property
    def cache_name(self) -> str:
        """This source's entry in its cache: a digest of token URL, client id, scopes and secret (in Redis the keys
        ``{namespace:m2m:NAME}:token``, ``:failure`` and ``:lock``)."""
        return self._name

    @property
    def metrics(self) -> TokenMetrics:
        """Counts so far and the current token's expiry (see :class:`TokenMetrics`)."""
        with self._state_lock:
            counts = dict(self._counts)
        current = self._current
        return TokenMetrics(
            tokens_fetched=counts["fetched"],
            fetch_failures=counts["failures"],
            cache_hits=counts["hits"],
            shared_cache_hits=counts["shared"],
            expires_at=None if current is None else current.expires_at,
        )

    # -- this process: one flight at a time ----------------------------------------------------------------------------
    def _begin(self) -> tuple[str | None, Flight[Token | Failure], bool]:
        """A token to hand out now (then the flight is meaningless); else the flight to lead (True) or to wait for
        (False). Raises the failure still in its backoff when no usable token is left."""
        with self._state_lock:
            now = self._clock()
            current, failure, flight = self._current, self._failure, self._flight
            usable = current is not None and now < current.usable_until
            if current is not None and (now < current.renew_at or (usable and flight is not None)):
                self._counts["hits"] += 1  # fresh; or due, still good, and someone is renewing it
                return current.access_token, _NO_FLIGHT, False
            if failure is not None and now < failure.retry_at:
                if current is not None and usable:
                    self._counts["hits"] += 1  # renewal in backoff: the current token serves up to its margin
                    return current.access_token, _NO_FLIGHT, False
                raise failure.error(self.client_id, now)
            if flight is None:
                self._flight = flight = Flight()
                return None, flight, True
            return None, flight, False

    def _settle(self, flight: Flight[Token | Failure], outcome: Token | Failure | None) -> None:
        with self._state_lock:
            if isinstance(outcome, Token):
                self._current, self._failure = outcome, None
            elif isinstance(outcome, Failure):
                self._failure = outcome
            self._flight = None
        flight.finish(outcome)

    def _answer(self, outcome: Token | Failure, leads: bool) -> str:
        if isinstance(outcome, Token):
            if not leads:
                self._count("hits")
            return outcome.access_token
        now = self._clock()
        current = self._current
        if current is not None and now < current.usable_until:
            self._count("hits")  # the renewal failed: the current token serves up to its margin
            return current.access_token
        raise outcome.error(self.client_id, now)

    # -- the fetch policy, as steps ------------------------------------------------------------------------------------
    def _obtain(self) -> Generator[_Step, Any, Token | Failure]:
        """A fresh token in the shared cache wins; a failure there still in its backoff is ours too. Otherwise take the
        cache's lock and ask Cognito. While another process holds the lock, hand out a still-usable token, or wait
        for theirs, bounded: past ``lock_wait`` ask anyway (the holder may be stuck; its lock lapses by itself)."""
        owner = secrets.token_hex(16)
        waited, pause = 0.0, _FIRST_PAUSE
        while True:
            shared, failure = self._read((yield ("get", (self._name,))))
            now = self._clock()
            if shared is not None and now < shared.renew_at:
                return self._took(shared)
            if failure is not None and now < failure.retry_at:
                return failure
            if (yield ("acquire", (self._name, owner, self._lock_ttl))):
                # Read again: the holder before us may have stored its token (or its failure, whose backoff holds
                # for us too) between our read and our lock.
                shared, failure = self._read((yield ("get", (self._name,))))
                now = self._clock()
                if shared is not None and now < shared.renew_at:
                    outcome: Token | Failure = self._took(shared)
                elif failure is not None and now < failure.retry_at:
                    outcome = failure
                else:
                    outcome = yield from self._fetch(failure)
                yield ("release", (self._name, owner))
                return outcome
            for candidate in (shared, self._current):
                if candidate is not None and now < candidate.usable_until:
                    return self._took(candidate)
            if waited >= self._lock_wait:
                logger.warning(
                    "client %r: waited %.1f s for another process's token request; asking Cognito without the lock",
                    self.client_id,
                    waited,
                )
                return (yield from self._fetch(failure))
            yield ("sleep", (pause,))
            waited, pause = waited + pause, min(pause * 2, _LONGEST_PAUSE)

    def _fetch(self, shared_failure: Failure | None) -> Generator[_Step, Any, Token | Failure]:
        started = self._clock()
        answer = yield ("fetch", ())
        previous = max((f.count for f in (shared_failure, self._failure) if f is not None), default=0)
        result = self._policy.interpret(answer, started, previous, self._vault)
        if isinstance(result, Failure):
            self._count("failures")
            self._log_failure(result)
            # Kept past its retry time, so that the next failure (of any process) doubles the backoff.
            yield ("put_failure", (self._name, result.sealed, result.retry_at - started + self._policy.max_backoff))
            return result
        self._count("fetched")
        logger.debug("client %r: fetched a token that expires in %.0f s", self.client_id, result.expires_at - started)
        yield ("put", (self._name, result.sealed, result.expires_at - started))
        return result

    def _forget(self, token: str) -> Generator[_Step, Any, bool]:
        with self._state_lock:
            current = self._current
            if current is None or current.access_token != token:
                return True  # replaced already: the next call gets the new one
            if self._clock() - current.obtained_at < self._invalid_token_cooldown:
                return False
            self._current = None
        yield ("discard", (self._name, current.sealed))
        return True

    def _read(self, found: tuple[str | None, str | None]) -> tuple[Token | None, Failure | None]:
        token, failure = found
        return self._policy.open_token(token, self._vault), self._policy.open_failure(failure, self._vault)

    def _took(self, token: Token) -> Token:
        with self._state_lock:
            self._counts["hits"] += 1
            if self._current is None or token.sealed != self._current.sealed:
                self._counts["shared"] += 1
        return token

    def _count(self, what: str) -> None:
        with self._state_lock:
            self._counts[what] += 1

    def _log_failure(self, failure: Failure) -> None:
        current, now = self._current, self._clock()
        kept = (
            f"keeping the current token, usable {current.usable_until - now:.0f} s more"
            if current is not None and now < current.usable_until
            else "no usable token"
        )
        logger.warning(
            "client %r: token request failed (%s): %s; failure %d, next try in %.1f s",
            self.client_id,
            failure.reason,
            kept,
            failure.count,
            failure.retry_at - now,
        )

    @property
    def _flight_wait(self) -> float:
        # The longest a leader can take: its pauses for another process's lock, its exchanges, a few cache round trips.
        return self._lock_wait + 2 * self._timeout + 10

    def _gave_up(self) -> TokenEndpointUnavailableError:
        message = f"no token for app client {self.client_id!r}: a concurrent token request did not finish in time"
        return TokenEndpointUnavailableError(message, retry_after=self._timeout)

    # -- the drivers: the same steps with blocking or non-blocking I/O -------------------------------------------------
    def _run_sync(self, steps: Generator[_Step, Any, Any]) -> Any:
        result: Any = None
        while True:
            try:
                kind, args = steps.send(result)
            except StopIteration as stop:
                return stop.value
            if kind == "fetch":
                try:
                    result = self._http.post_sync(self.token_url, self._form, self._headers, _WHAT)
                except Exception as error:  # the policy makes a failure of it, whatever it is
                    result = error
            elif kind == "sleep":
                time.sleep(args[0])
            else:
                result = self._cache_call(kind, args)

    async def _run_async(self, steps: Generator[_Step, Any, Any]) -> Any:
        result: Any = None
        while True:
            try:
                kind, args = steps.send(result)
            except StopIteration as stop:
                return stop.value
            if kind == "fetch":
                try:
                    result = await self._http.post(self.token_url, self._form, self._headers, _WHAT)
                except Exception as error:  # the policy makes a failure of it, whatever it is
                    result = error
            elif kind == "sleep":
                await asyncio.sleep(args[0])
            elif self._cache.blocking:
                result = await asyncio.to_thread(self._cache_call, kind, args)
            else:
                result = self._cache_call(kind, args)

    def _cache_call(self, method: str, args: tuple[Any, ...]) -> Any:
        # After a failure the cache is left alone for a while: a Redis that does not answer would otherwise cost a
        # connect timeout per call, five calls per renewal.
        if time.monotonic() < self._cache_retry_at:
            return _CACHE_FALLBACK.get(method)
        try:
            result = getattr(self._cache, method)(*args)
        except Exception as error:  # out of reach: go on without it (this process still asks once at a time)
            if self._cache_retry_at == 0.0:
                logger.warning(
                    "client %r: the token cache is out of reach (%s); going on without it for %.0f s",
                    self.client_id,
                    type(error).__name__,
                    _CACHE_PAUSE,
                )
            self._cache_retry_at = time.monotonic() + _CACHE_PAUSE
            return _CACHE_FALLBACK.get(method)
        if self._cache_retry_at:
            logger.warning("client %r: the token cache is reachable again", self.client_id)
            self._cache_retry_at = 0.0
        return result

    # -- closing and forking -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Close the HTTP client made here (not given ones)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close the HTTP clients made here for this event loop, and the sync one."""
        await self._http.aclose()

    def _after_fork(self) -> None:
        # A fork copies a flight whose leader thread did not come along: its callers in the child would wait for ever.
        self._state_lock = threading.Lock()
        self._flight = None
        # The parent's connections are not the child's to use, nor to close (that would shut them for the parent).
        http_client, async_http_client = self._http_options
        self._http = OAuthHTTP(http_client=http_client, async_http_client=async_http_client, timeout=self._timeout)


_NO_FLIGHT: Flight[Any] = Flight()  # returned with an answer, never waited on
_sources: weakref.WeakSet[TokenSource] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for source in list(_sources):
        source._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
