"""Browser sessions for server-rendered apps: the signed-in state, in sealed cookies or a SessionStore.

Framework-neutral: request cookies come in as a ``Mapping[str, str]`` and responses go out as complete ``Set-Cookie``
header values, so every adapter only copies strings. Nothing here raises for a bad cookie: a tampered, truncated,
foreign or expired cookie simply means "not signed in" (``None``).

Chunked cookies: a sealed value longer than ``CookieSettings.chunk_size`` is cut into pieces stored as ``name``,
``name.1``, ``name.2``, ... (at most ``MAX_CHUNKS``). There is no header: ``load`` joins the contiguous run of pieces,
and AES-GCM authenticates the whole, so a missing, extra or reordered piece makes the value fail to open.

The sealing, the stores, the cookie rules and pending sign-ins live in ``_sealer``, ``_store``, ``_cookies`` and
``_pending``; their public names are re-exported here.
"""

from __future__ import annotations

import math
import re
import secrets as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
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
from ._pending import PendingSignIns
from ._sealer import Sealer, _TooLargeError
from ._store import MemorySessionStore, SessionStore

__all__ = [
    "MAX_CHUNKS",
    "CookieSettings",
    "MemorySessionStore",
    "PendingSignIns",
    "Sealer",
    "SessionStore",
    "Sessions",
    "StoredSession",
]

MAX_CHUNKS = 10
"""Most cookies one session may use; a larger session raises ValueError (use a SessionStore). Note that many servers
refuse request header lines over 8 KB (nginx, gunicorn), so in practice more than two chunks calls for a store."""

_MIN_CHUNK_SIZE = 100

_TOO_LARGE = "session too large for cookies; use a SessionStore"
_SESSION = "session"
_SESSION_ID = "session-id"  # a store-backed session's cookie: never opens as a cookie-held session, nor vice versa
_SESSION_KEY = "session:"

_COOKIE_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class StoredSession:
    """A store-backed session as read: its data, the version it had, and its id (for a conditional write)."""

    data: dict[str, Any]
    version: int
    session_id: str


@dataclass(frozen=True)
class CookieSettings:
    """How the session cookie is set; checked at construction (ConfigurationError)."""

    name: str = "cognito_session"
    """Name of the first cookie; further chunks are ``name.1``, ``name.2``, ..."""
    path: str = "/"
    domain: str | None = None
    """None: the cookie goes back only to the host that set it (safest)."""
    secure: bool | None = None
    """None = automatic: Secure unless the request is http:// to localhost/127.0.0.1/::1."""
    same_site: str = "Lax"
    """"Lax", "Strict" or "None" (None requires secure=True). Strict drops the session on the redirect back from
    Cognito, so Lax is the choice for hosted-UI sign-in."""
    max_age: float = 30 * 24 * 3600
    """The session's lifetime in seconds (Cognito's default refresh-token validity)."""
    chunk_size: int = 3800
    """Most characters in one cookie value."""

    def __post_init__(self) -> None:
        _check_cookie_name(self.name, "CookieSettings.name")
        _check_cookie_path(self.path, "CookieSettings.path")
        if self.domain is not None and not (isinstance(self.domain, str) and _COOKIE_DOMAIN.fullmatch(self.domain)):
            raise ConfigurationError(f"CookieSettings.domain is not a host name: {self.domain!r}")
        if self.same_site not in ("Lax", "Strict", "None"):
            raise ConfigurationError(f"CookieSettings.same_site must be 'Lax', 'Strict' or 'None': {self.same_site!r}")
        if self.same_site == "None" and self.secure is not True:
            raise ConfigurationError("CookieSettings.same_site='None' requires secure=True (browsers insist)")
        if not (self.max_age > 0 and math.isfinite(self.max_age)):
            raise ConfigurationError("CookieSettings.max_age must be a positive number of seconds")
        longest_name = len(f"{self.name}.{MAX_CHUNKS - 1}")
        if not _MIN_CHUNK_SIZE <= self.chunk_size <= _MAX_COOKIE_CHARS - longest_name - 1:
            raise ConfigurationError(
                f"CookieSettings.chunk_size must be between {_MIN_CHUNK_SIZE} and "
                f"{_MAX_COOKIE_CHARS - longest_name - 1} (a browser keeps {_MAX_COOKIE_CHARS} characters per cookie)"
            )
        _check_cookie_prefix(self.name, self.secure, self.path, self.domain)


class Sessions:
    """The signed-in state of a browser: sealed into chunked cookies (default), or kept in a SessionStore with only a
    sealed random session id in the cookie.

    ``clock`` is accepted for symmetry with the other classes; expiry is decided by the sealer's and the store's clocks.
    """

    def __init__(
        self,
        sealer: Sealer,
        *,
        cookie: CookieSettings = CookieSettings(),  # frozen: sharing one instance is safe
        store: SessionStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._sealer = sealer
        self._settings = cookie
        self._store = store
        self._clock = clock
        self._chunk_names = (cookie.name, *(f"{cookie.name}.{index}" for index in range(1, MAX_CHUNKS)))

    def load(self, request_cookies: Mapping[str, str]) -> dict[str, Any] | None:
        """The session's data; None for no cookie, a missing/extra/reordered chunk, tampering, expiry or no entry."""
        sealed = self._read(request_cookies)
        if sealed is None:
            return None
        if self._store is None:
            return self._sealer.unseal(sealed, purpose=_SESSION)
        session_id = self._session_id(sealed)
        return None if session_id is None else self._store.get(_SESSION_KEY + session_id)

    def save(
        self,
        data: Mapping[str, Any],
        *,
        request_cookies: Mapping[str, str],
        request_url: str,
        renew: bool = False,
    ) -> list[str]:
        """Set-Cookie headers storing ``data`` (JSON-serialisable), plus deletions of chunks it no longer uses.

        With a store the request's valid session id is kept, unless ``renew``: pass ``renew=True`` when a user signs
        in, so a session id planted in the browser beforehand never becomes theirs (session fixation). Raises
        ValueError("session too large for cookies; use a SessionStore") beyond ``MAX_CHUNKS`` cookies.
        """
        settings = self._settings
        if self._store is None:
            try:
                sealed = self._sealer.seal(data, purpose=_SESSION, max_age=settings.max_age)
            except _TooLargeError:
                raise ValueError(_TOO_LARGE) from None
            if len(sealed) > MAX_CHUNKS * settings.chunk_size:
                raise ValueError(_TOO_LARGE)
        else:
            old_id = self._request_session_id(request_cookies)
            if old_id is not None and renew:
                self._store.delete(_SESSION_KEY + old_id)
            session_id = old_id if old_id is not None and not renew else _random.token_urlsafe(32)
            self._store.set(_SESSION_KEY + session_id, data, ttl=settings.max_age)
            sealed = self._sealer.seal({"sid": session_id}, purpose=_SESSION_ID, max_age=settings.max_age)
        chunks = [sealed[start : start + settings.chunk_size] for start in range(0, len(sealed), settings.chunk_size)]
        secure = _is_secure(settings.secure, settings.name, request_url)
        max_age = math.ceil(settings.max_age)
        headers = [
            self._cookie(name, chunk, max_age, secure) for name, chunk in zip(self._chunk_names, chunks, strict=False)
        ]
        surplus = [name for name in self._chunk_names[len(chunks) :] if name in request_cookies]
        return headers + [self._cookie(name, "", 0, secure) for name in surplus]

    @property
    def store(self) -> SessionStore | None:
        """The store sessions live in, or None for cookie-held sessions."""
        return self._store

    def load_stored(self, request_cookies: Mapping[str, str]) -> StoredSession | None:
        """With a store: the request's session with its version, or None. Without a store: always None."""
        if self._store is None:
            return None
        session_id = self._request_session_id(request_cookies)
        if session_id is None:
            return None
        found = self._store.get_versioned(_SESSION_KEY + session_id)
        return None if found is None else StoredSession(found[0], found[1], session_id)

    def reload(self, session: StoredSession) -> StoredSession | None:
        """``session`` as the store holds it now (another worker may have written it), or None once it is gone."""
        assert self._store is not None, "reload needs a store"
        found = self._store.get_versioned(_SESSION_KEY + session.session_id)
        return None if found is None else StoredSession(found[0], found[1], session.session_id)

    def end_stored(self, session: StoredSession) -> None:
        """Delete ``session`` from the store (its refresh token is dead: the user signs in again)."""
        assert self._store is not None, "end_stored needs a store"
        self._store.delete(_SESSION_KEY + session.session_id)

    def replace_stored(self, session: StoredSession, data: Mapping[str, Any]) -> int | None:
        """Write ``data`` over ``session`` if nobody wrote it since it was read; the new version, or None (then the
        session changed or ended meanwhile). The cookie is unchanged: it holds only the session id."""
        assert self._store is not None, "replace_stored needs a store"
        return self._store.compare_and_set(
            _SESSION_KEY + session.session_id, data, ttl=self._settings.max_age, version=session.version
        )

    @staticmethod
    def refresh_lock_key(session: StoredSession) -> str:
        """The store key of the lock that lets one worker at a time refresh ``session`` (same group as the session)."""
        return f"{_SESSION_KEY}{session.session_id}#refresh"

    @property
    def cookie_names(self) -> tuple[str, ...]:
        """Every cookie name a session may use (``name``, ``name.1`` ...)."""
        return self._chunk_names

    def forget(self, request_cookies: Mapping[str, str]) -> None:
        """With a store, drop the entry these cookies point at (without a store, cookies are all there is)."""
        if self._store is not None:
            session_id = self._request_session_id(request_cookies)
            if session_id is not None:
                self._store.delete(_SESSION_KEY + session_id)

    def clear(self, *, request_cookies: Mapping[str, str], request_url: str) -> list[str]:
        """Deletion headers for every cookie of this session the request carried; with a store also drop its entry."""
        self.forget(request_cookies)
        return self.deletions(request_cookies=request_cookies, request_url=request_url)

    def deletions(self, *, request_cookies: Mapping[str, str], request_url: str) -> list[str]:
        """Deletion headers for every cookie of this session the request carried (the store is not touched)."""
        secure = _is_secure(self._settings.secure, self._settings.name, request_url)
        return [self._cookie(name, "", 0, secure) for name in self._chunk_names if name in request_cookies]

    def _read(self, request_cookies: Mapping[str, str]) -> str | None:
        """The joined contiguous run of chunks (the seal's authentication catches anything wrong with it).

        An empty chunk voids the session: we never write one, and since the seal does not bind chunk names, skipping
        it would let ``name=""`` plus a whole session planted as ``name.1`` open (an empty value is also what
        :meth:`WebRequest.from_raw` gives a cookie that came twice)."""
        parts = []
        for name in self._chunk_names:
            value = request_cookies.get(name)
            if not isinstance(value, str):
                break
            if not value:
                return None
            parts.append(value)
        return "".join(parts) if parts else None

    def _session_id(self, sealed: str) -> str | None:
        data = self._sealer.unseal(sealed, purpose=_SESSION_ID)
        session_id = None if data is None else data.get("sid")
        return session_id if isinstance(session_id, str) and session_id else None

    def _request_session_id(self, request_cookies: Mapping[str, str]) -> str | None:
        sealed = self._read(request_cookies)
        return None if sealed is None else self._session_id(sealed)

    def _cookie(self, name: str, value: str, max_age: int, secure: bool) -> str:
        settings = self._settings
        return _set_cookie(
            name,
            value,
            path=settings.path,
            domain=settings.domain,
            max_age=max_age,
            same_site=settings.same_site,
            secure=secure,
        )
