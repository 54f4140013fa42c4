"""Browser sessions for server-rendered apps: the signed-in state and pending sign-ins, in sealed cookies.

Framework-neutral: request cookies come in as a ``Mapping[str, str]`` and responses go out as complete ``Set-Cookie``
header values, so every adapter only copies strings. Nothing here raises for a bad cookie: a tampered, truncated,
foreign or expired cookie simply means "not signed in" (``None``).

Chunked cookies: a sealed value longer than ``CookieSettings.chunk_size`` is cut into pieces stored as ``name``,
``name.1``, ``name.2``, ... (at most ``MAX_CHUNKS``). There is no header: ``load`` joins the contiguous run of pieces,
and AES-GCM authenticates the whole, so a missing, extra or reordered piece makes the value fail to open.

``Secure`` is automatic by default: set unless the request is plain http to localhost / a loopback address. An http
site on any other host still gets ``Secure`` (browsers then drop the cookie): secure by default, opt out explicitly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import os
import re
import secrets as _random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any, Protocol
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .._keys import is_loopback_url
from ..errors import ConfigurationError

__all__ = [
    "MAX_CHUNKS",
    "CookieSettings",
    "MemorySessionStore",
    "PendingSignIns",
    "Sealer",
    "SessionStore",
    "Sessions",
]

MAX_CHUNKS = 10
"""Most cookies one session may use; a larger session raises ValueError (use a SessionStore). Note that many servers
refuse request header lines over 8 KB (nginx, gunicorn), so in practice more than two chunks calls for a store."""

_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_MAX_SEALED_CHARS = 64 * 1024
_MIN_SECRET_LENGTH = 16
_HKDF_SALT = b"cognito_guard sealer salt"
_HKDF_INFO = b"cognito_guard sealer AES-256-GCM key v1"
_MAX_COOKIE_CHARS = 4096  # name + "=" + value; what every browser keeps
_MIN_CHUNK_SIZE = 100
_MAX_FINISHED = 10_000

_TOO_LARGE = "session too large for cookies; use a SessionStore"
_SESSION = "session"
_SESSION_ID = "session-id"  # a store-backed session's cookie: never opens as a cookie-held session, nor vice versa
_PENDING = "pending-sign-in"
_SESSION_KEY = "session:"
_PENDING_KEY = "pending:"

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")
_COOKIE_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 6265 / RFC 2616 token
_COOKIE_PATH = re.compile(r"/[\x21-\x3a\x3c-\x7e]*")  # no controls, spaces or ";"
_COOKIE_DOMAIN = re.compile(r"\.?[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")


class _TooLargeError(ValueError):
    """The sealed value would exceed what ``unseal`` accepts."""


def _aad(purpose: str) -> bytes:
    return b"cognito_guard:" + purpose.encode("utf-8")


class Sealer:
    """Authenticated encryption of small JSON documents with the app's secret(s).

    AES-256-GCM with a key per secret from HKDF-SHA256 (fixed salt/info naming cognito_guard) and a random 96-bit
    nonce per message. The first secret seals, every secret unseals: to rotate, put the new secret first and keep the
    old one until the values it sealed have expired. Raises ConfigurationError for no secret or one shorter than 16
    characters/bytes.
    """

    def __init__(self, secrets: str | bytes | Sequence[str | bytes], *, clock: Callable[[], float] = time.time) -> None:
        candidates: list[Any] = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
        if not candidates:
            raise ConfigurationError("Sealer needs a secret; generate one with e.g. secrets.token_urlsafe(32)")
        keys = []
        for number, secret in enumerate(candidates, start=1):
            if not isinstance(secret, (str, bytes)):
                raise ConfigurationError(f"secret #{number} is a {type(secret).__name__}, not a str or bytes")
            if len(secret) < _MIN_SECRET_LENGTH:
                raise ConfigurationError(
                    f"secret #{number} is shorter than {_MIN_SECRET_LENGTH} characters; "
                    "use e.g. secrets.token_urlsafe(32)"
                )
            material = secret.encode("utf-8") if isinstance(secret, str) else secret
            hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO)
            keys.append(AESGCM(hkdf.derive(material)))
        self._keys = tuple(keys)
        self._clock = clock

    def seal(self, data: Mapping[str, Any], *, purpose: str, max_age: float) -> str:
        """Encrypt ``data`` (JSON-serialisable) for ``purpose``, valid ``max_age`` seconds; url-safe base64 text.

        Raises ValueError for a non-positive ``max_age`` or a result over 64 KiB, TypeError for non-JSON data.
        """
        if not (max_age > 0 and math.isfinite(max_age)):
            raise ValueError("max_age must be a positive number of seconds")
        document = {"d": dict(data), "e": self._clock() + max_age}
        plaintext = json.dumps(document, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8")
        nonce = os.urandom(_NONCE_SIZE)
        sealed = bytes([_VERSION]) + nonce + self._keys[0].encrypt(nonce, plaintext, _aad(purpose))
        text = base64.urlsafe_b64encode(sealed).rstrip(b"=").decode("ascii")
        if len(text) > _MAX_SEALED_CHARS:
            raise _TooLargeError("data too large to seal (over 64 KiB sealed)")
        return text

    def unseal(self, token: str, *, purpose: str) -> dict[str, Any] | None:
        """The data sealed for ``purpose``, or None if the value is anything but a valid, unexpired seal of ours."""
        # Cheap checks first: the value comes straight from a browser.
        if not isinstance(token, str) or len(token) > _MAX_SEALED_CHARS or not _BASE64URL.fullmatch(token):
            return None
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except (binascii.Error, ValueError):
            return None
        if len(raw) < 1 + _NONCE_SIZE + _TAG_SIZE or raw[0] != _VERSION:
            return None
        nonce, ciphertext, aad = raw[1 : 1 + _NONCE_SIZE], raw[1 + _NONCE_SIZE :], _aad(purpose)
        for key in self._keys:
            try:
                plaintext = key.decrypt(nonce, ciphertext, aad)
                break
            except InvalidTag:
                continue
        else:
            return None
        try:
            document = json.loads(plaintext)
        except ValueError:
            return None
        if not isinstance(document, dict):
            return None
        data, expiry = document.get("d"), document.get("e")
        if not isinstance(data, dict) or isinstance(expiry, bool) or not isinstance(expiry, (int, float)):
            return None
        if not math.isfinite(expiry) or self._clock() >= expiry:
            return None
        return data


class SessionStore(Protocol):
    """Where server-side sessions live; implementations must be thread-safe (Flask) and fast (async apps call them
    inline). Data is JSON-serialisable; ``ttl`` is in seconds."""

    def get(self, key: str) -> dict[str, Any] | None:
        """The live entry, or None."""

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        """Create or replace an entry that lives ``ttl`` seconds."""

    def delete(self, key: str) -> None:
        """Remove an entry; no error if there is none."""

    def pop(self, key: str) -> dict[str, Any] | None:
        """Get and delete atomically (what makes a pending sign-in single-use), or None."""


class MemorySessionStore:
    """In-process SessionStore with per-entry expiry and a size cap (the oldest entries are evicted).

    One process only: behind several workers use a shared store (e.g. Redis). Entries are kept as JSON, so callers
    never share mutable data with the store.
    """

    def __init__(self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        if max_entries < 1:
            raise ConfigurationError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()  # key -> (expires at, JSON), oldest first

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            document = self._live(key)
        return None if document is None else _json_object(document)

    def set(self, key: str, data: Mapping[str, Any], *, ttl: float) -> None:
        if not (ttl > 0 and math.isfinite(ttl)):
            raise ValueError("ttl must be a positive number of seconds")
        document = json.dumps(dict(data), separators=(",", ":"), allow_nan=False)
        with self._lock:
            now = self._clock()
            self._entries.pop(key, None)
            self._entries[key] = (now + ttl, document)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
            # A little sweeping per write keeps dead entries from waiting for eviction.
            for old_key, (expires_at, _) in list(islice(self._entries.items(), 8)):
                if now >= expires_at:
                    del self._entries[old_key]

    def delete(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)

    def pop(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            document = self._live(key)
            self._entries.pop(key, None)
        return None if document is None else _json_object(document)

    def _live(self, key: str) -> str | None:
        """The entry's JSON if it has not expired (the lock is held)."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]


def _json_object(document: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(document)
    return value


def _check_cookie_name(name: str, what: str) -> None:
    if not isinstance(name, str) or not _COOKIE_NAME.fullmatch(name):
        raise ConfigurationError(f"{what} must be a cookie name of letters, digits and !#$%&'*+-.^_`|~: {name!r}")


def _check_cookie_path(path: str, what: str) -> None:
    if not isinstance(path, str) or not _COOKIE_PATH.fullmatch(path):
        raise ConfigurationError(f"{what} must start with '/' and contain no spaces, controls or ';': {path!r}")


def _check_cookie_prefix(name: str, secure: bool | None, path: str, domain: str | None) -> None:
    """Browsers refuse __Secure-/__Host- cookies that break the prefix's rules; fail at start-up instead."""
    if name.startswith(("__Secure-", "__Host-")) and secure is False:
        raise ConfigurationError(f"cookie name {name!r} requires Secure; do not set secure=False")
    if name.startswith("__Host-") and (path != "/" or domain is not None):
        raise ConfigurationError(f"cookie name {name!r} requires path='/' and no domain")


def _is_secure(setting: bool | None, name: str, request_url: str) -> bool:
    if setting is not None:
        return setting
    if name.startswith(("__Secure-", "__Host-")):
        return True
    try:
        plain_http = urlsplit(request_url).scheme == "http"
    except ValueError:
        return True
    return not (plain_http and is_loopback_url(request_url))


def _set_cookie(
    name: str, value: str, *, path: str, domain: str | None, max_age: int, same_site: str, secure: bool
) -> str:
    attributes = [f"{name}={value}", f"Path={path}"]
    if domain is not None:
        attributes.append(f"Domain={domain}")
    attributes += [f"Max-Age={max_age}", "HttpOnly", f"SameSite={same_site}"]
    if secure:
        attributes.append("Secure")
    return "; ".join(attributes)


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

    def clear(self, *, request_cookies: Mapping[str, str], request_url: str) -> list[str]:
        """Deletion headers for every cookie of this session the request carried; with a store also drop its entry."""
        if self._store is not None:
            session_id = self._request_session_id(request_cookies)
            if session_id is not None:
                self._store.delete(_SESSION_KEY + session_id)
        secure = _is_secure(self._settings.secure, self._settings.name, request_url)
        return [self._cookie(name, "", 0, secure) for name in self._chunk_names if name in request_cookies]

    def _read(self, request_cookies: Mapping[str, str]) -> str | None:
        """The joined contiguous run of chunks (the seal's authentication catches anything wrong with it)."""
        parts = []
        for name in self._chunk_names:
            value = request_cookies.get(name)
            if not isinstance(value, str):
                break
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


def _state_digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


class PendingSignIns:
    """Sign-ins in progress, keyed by OAuth ``state``, so two tabs can sign in at once; each lives ``lifetime``
    seconds and is usable once.

    Each sign-in has a sealed cookie binding it to this browser (a callback URL sent to someone else finds no cookie
    there). Without a store the cookie also holds the data, and single use is enforced by remembering finished states
    in this process (a replay reaching another worker is refused only by Cognito's single-use codes: use a shared
    store behind several workers). With a store the data lives there and ``store.pop`` makes it single-use.
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
        content: dict[str, Any] = {"s": state, "c": self._clock()}
        if self._store is None:
            content["d"] = dict(data)
        sealed = self._sealer.seal(content, purpose=_PENDING, max_age=self._lifetime)
        if len(name) + 1 + len(sealed) > _MAX_COOKIE_CHARS:
            raise ValueError("pending sign-in data too large for a cookie; use a SessionStore")
        secure = _is_secure(self._secure, self._prefix, request_url)
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
        cookie = self._cookie(name, sealed, math.ceil(self._lifetime), secure)
        return [cookie, *(self._cookie(stale_name, "", 0, secure) for stale_name in stale)]

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
        deletion = [self._cookie(name, "", 0, _is_secure(self._secure, self._prefix, request_url))]
        opened = self._open(value)
        if opened is None or not hmac.compare_digest(opened[0].encode("utf-8"), state.encode("utf-8")):
            return None, deletion
        if self._store is not None:
            return self._store.pop(_PENDING_KEY + digest), deletion
        if not self._first_finish(digest):
            return None, deletion
        return opened[2], deletion

    def _open(self, value: str) -> tuple[str, float, dict[str, Any]] | None:
        """(state, created at, data) from a pending sign-in cookie, or None."""
        content = self._sealer.unseal(value, purpose=_PENDING)
        if content is None:
            return None
        state, created, data = content.get("s"), content.get("c"), content.get("d", {})
        if not isinstance(state, str) or isinstance(created, bool) or not isinstance(created, (int, float)):
            return None
        return (state, float(created), data) if isinstance(data, dict) else None

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
