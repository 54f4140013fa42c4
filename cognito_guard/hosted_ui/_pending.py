"""PendingSignIns: the hosted-UI sign-ins a browser has in progress, keyed by OAuth ``state``, each bound to the
browser by a sealed cookie and usable once; the data lives in that cookie or, given a :class:`SessionStore`, in the
store. Like sessions, a tampered, foreign, expired or already finished sign-in is simply not found (``None``)."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import ConfigurationError
from ._cookies import (
    _MAX_COOKIE_CHARS,
    _check_cookie_name,
    _check_cookie_path,
    _check_cookie_prefix,
    _is_secure,
    _set_cookie,
)
from ._sealer import Sealer
from ._store import SessionStore

__all__ = ["PendingSignIns"]

_MAX_FINISHED = 10_000

_PENDING = "pending-sign-in"
_PENDING_KEY = "pending:"
_FINISHED_KEY = "finished-sign-in:"


def _state_digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _binding_digest(binding: str) -> str:
    return hashlib.sha256(binding.encode("utf-8")).hexdigest()


class PendingSignIns:
    """Sign-ins in progress, keyed by OAuth ``state``, so two tabs can sign in at once; each lives ``lifetime``
    seconds and is usable once.

    Each sign-in has a sealed cookie binding it to this browser (a callback URL sent to someone else finds no cookie
    there). Without a store the cookie also holds the data, and single use is enforced by remembering finished states
    in this process (a replay reaching another worker is refused only by Cognito's single-use codes: use a shared
    store behind several workers). With a store the data lives there and ``store.pop`` makes it single-use.

    The sign-in cookies live under the routes' path, where the ``__Host-`` prefix is impossible, so a sibling
    subdomain could plant one of its own (with a callback URL of its own account: login CSRF). Each sign-in is
    therefore also tied to a random cookie of its own at ``Path=/``, named ``__Host-...`` when cookies are Secure so
    that no other site can set it, whose hash is sealed into the sign-in. One per sign-in, not one per browser: two
    tabs starting at once would otherwise each make one, and the browser keep only the last.
    """

    def __init__(
        self,
        sealer: Sealer,
        *,
        cookie_prefix: str = "cognito_signin_",
        path: str = "/",
        lifetime: float = 600,
        max_pending: int = 5,
        secure: bool | None = None,
        store: SessionStore | None = None,
        finished_store: SessionStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        _check_cookie_name(cookie_prefix, "cookie_prefix")
        _check_cookie_path(path, "path")
        _check_cookie_prefix(cookie_prefix, secure, path, None)
        if not (lifetime > 0 and math.isfinite(lifetime)):
            raise ConfigurationError("lifetime must be a positive number of seconds")
        if max_pending < 1:
            raise ConfigurationError("max_pending must be at least 1")
        self._sealer = sealer
        self._prefix = cookie_prefix
        self._path = path
        self._lifetime = lifetime
        self._max_pending = max_pending
        self._secure = secure
        self._store = store
        self._finished_store = finished_store
        self._clock = clock
        self._cookie_name_pattern = re.compile(re.escape(cookie_prefix) + "[0-9a-f]{16}")
        self._lock = threading.Lock()
        self._finished: OrderedDict[str, float] = OrderedDict()  # state digest -> forget at; oldest first

    def start(
        self, state: str, data: Mapping[str, Any], *, request_cookies: Mapping[str, str], request_url: str
    ) -> list[str]:
        """Set-Cookie headers for a new pending sign-in (plus deletions of the oldest beyond ``max_pending`` and of
        unreadable ones). Raises ValueError for an empty state or, without a store, data too large for a cookie."""
        if not isinstance(state, str) or not state:
            raise ValueError("state must be a non-empty string")
        digest = _state_digest(state)
        name = self._prefix + digest[:16]
        secure = _is_secure(self._secure, self._prefix, request_url)
        binding = secrets.token_urlsafe(32)
        content: dict[str, Any] = {"s": state, "c": self._clock(), "b": _binding_digest(binding)}
        if self._store is None:
            content["d"] = dict(data)
        sealed = self._sealer.seal(content, purpose=_PENDING, max_age=self._lifetime)
        if len(name) + 1 + len(sealed) > _MAX_COOKIE_CHARS:
            raise ValueError("pending sign-in data too large for a cookie; use a SessionStore")
        stale, pending = [], []
        for other_name, value in request_cookies.items():
            if other_name == name or not self._cookie_name_pattern.fullmatch(other_name):
                continue
            opened = self._open(value)
            if opened is None:
                stale.append(other_name)
            else:
                pending.append((opened[1], other_name, opened[0]))
        pending.sort()
        for _, other_name, other_state in pending[: max(len(pending) + 1 - self._max_pending, 0)]:
            stale.append(other_name)
            if self._store is not None:
                self._store.delete(_PENDING_KEY + _state_digest(other_state))
        if self._store is not None:
            self._store.set(_PENDING_KEY + digest, data, ttl=self._lifetime)
        lifetime = math.ceil(self._lifetime)
        headers = [self._cookie(name, sealed, lifetime, secure), self._binding_cookie(name, binding, lifetime, secure)]
        for stale_name in stale:
            headers += [self._cookie(stale_name, "", 0, secure), self._binding_cookie(stale_name, "", 0, secure)]
        return headers

    def finish(
        self, state: str, *, request_cookies: Mapping[str, str], request_url: str
    ) -> tuple[dict[str, Any] | None, list[str]]:
        """The data given to ``start`` for ``state`` and the headers deleting its cookie; the data is None if the
        sign-in is unknown to this browser, expired, tampered with, sealed for another state or already finished."""
        if not isinstance(state, str) or not state:
            return None, []
        digest = _state_digest(state)
        name = self._prefix + digest[:16]
        value = request_cookies.get(name)
        if value is None:
            return None, []
        secure = _is_secure(self._secure, self._prefix, request_url)
        binding_name = self._binding_name(name, secure)
        deletion = [self._cookie(name, "", 0, secure)]
        if binding_name in request_cookies:
            deletion.append(self._binding_cookie(name, "", 0, secure))
        opened = self._open(value)
        binding = _binding_digest(request_cookies.get(binding_name, ""))
        if (
            opened is None
            or not hmac.compare_digest(opened[0].encode("utf-8"), state.encode("utf-8"))
            or not hmac.compare_digest(opened[3], binding)
        ):
            return None, deletion
        if self._store is not None:
            return self._store.pop(_PENDING_KEY + digest), deletion
        if not self._first_finish(digest):
            return None, deletion
        if self._finished_store is not None:
            # Single use across every worker sharing the store: the first to finish leaves a mark (created only if
            # absent) for as long as the sign-in could live. Raises SessionStoreUnavailableError if it is down.
            mark = self._finished_store.compare_and_set(_FINISHED_KEY + digest, {}, ttl=self._lifetime + 60, version=0)
            if mark is None:
                return None, deletion
        return opened[2], deletion

    def _binding_name(self, name: str, secure: bool) -> str:
        """The browser cookie of the sign-in whose cookie is ``name`` (both end in the same 16 digest digits)."""
        base = self._prefix.removeprefix("__Secure-").removeprefix("__Host-")
        return f"{'__Host-' if secure else ''}{base}browser_{name[-16:]}"

    def _binding_cookie(self, name: str, value: str, max_age: int, secure: bool) -> str:
        return _set_cookie(
            self._binding_name(name, secure),
            value,
            path="/",
            domain=None,
            max_age=max_age,
            same_site="Lax",
            secure=secure,
        )

    def _open(self, value: str) -> tuple[str, float, dict[str, Any], str] | None:
        """(state, created at, data, browser binding digest) from a pending sign-in cookie, or None."""
        content = self._sealer.unseal(value, purpose=_PENDING)
        if content is None:
            return None
        state, created, data, binding = content.get("s"), content.get("c"), content.get("d", {}), content.get("b")
        if not isinstance(state, str) or isinstance(created, bool) or not isinstance(created, (int, float)):
            return None
        if not isinstance(binding, str) or not isinstance(data, dict):
            return None
        return state, float(created), data, binding

    def _first_finish(self, digest: str) -> bool:
        """Remember ``digest`` as finished for ``lifetime`` seconds; False if it already was."""
        with self._lock:
            now = self._clock()
            while self._finished and next(iter(self._finished.values())) <= now:
                self._finished.popitem(last=False)
            forget_at = self._finished.get(digest)
            if forget_at is not None and forget_at > now:
                return False
            self._finished[digest] = now + self._lifetime
            while len(self._finished) > _MAX_FINISHED:  # memory stays bounded; Cognito's codes are single-use too
                self._finished.popitem(last=False)
            return True

    def _cookie(self, name: str, value: str, max_age: int, secure: bool) -> str:
        return _set_cookie(name, value, path=self._path, domain=None, max_age=max_age, same_site="Lax", secure=secure)
