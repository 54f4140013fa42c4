"""CognitoVerifier: parse -> pick pool by ``iss`` -> key -> signature -> claims -> :class:`Claims`.

Every check lives here once; ``verify`` (async) and ``verify_sync`` share it and differ only in how a missing key is
fetched. A bounded cache of verified results lets a repeated token skip the signature check, never the time or
policy checks.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple, Protocol, Union

import httpx

from . import _token
from .claims import Claims, freeze
from .errors import (
    AlgorithmError,
    AudienceError,
    ClaimError,
    ClientIdError,
    ConfigurationError,
    ExpiredTokenError,
    IssuedInFutureError,
    IssuerError,
    KeysUnavailableError,
    NotYetValidError,
    SignatureError,
    TokenUseError,
)
from .guards import Requirement
from .jwks import JWKSCache, KeySet, SigningKey, StaticKeySet, check_key_url, load_jwks_file
from .revocation import _MARGIN as _REVOCATION_MARGIN
from .revocation import RevocationList

__all__ = ["CognitoVerifier", "OnlineCheck", "TokenUse", "UserPool", "pool_issuers"]

TokenUse = Literal["access", "id"]
JWKSSource = Union[Mapping[str, Any], str, "os.PathLike[str]"]

_REGION = r"[a-z]{2,4}(?:-[a-z]+)+-\d+"
_POOL_ID = re.compile(rf"({_REGION})_[0-9A-Za-z]+")
_CUSTOM_POOL_ID = re.compile(r"[0-9A-Za-z_-]+")
_MISSING: Any = object()

# Standard claims and the JSON type each must have when present; a wrong type is a ClaimError, never a crash
# further down. Times must also lie between 0 and the last second datetime can show (9999-12-31T23:59:59Z): beyond
# it (or infinite, NaN) is no real time and would only overflow later.
_STRING_CLAIMS = frozenset(
    (
        "iss",
        "sub",
        "token_use",
        "client_id",
        "username",
        "cognito:username",
        "scope",
        "jti",
        "origin_jti",
        "event_id",
        "cognito:preferred_role",
        "nonce",
        "at_hash",
    )
)
_TIME_CLAIMS = frozenset(("exp", "iat", "nbf", "auth_time"))
_STRING_LIST_CLAIMS = frozenset(("cognito:groups", "cognito:roles"))
_NON_STRING_CLAIMS = _TIME_CLAIMS | _STRING_LIST_CLAIMS
_MAX_TIME = 253402300799


def _is_string_list(value: object) -> bool:
    return isinstance(value, (list, tuple)) and _all_strings(value)


def _all_strings(items: Sequence[Any]) -> bool:
    try:
        "".join(items)  # C-speed type check of every item: join refuses anything but str
    except TypeError:
        return False
    return True


def _client_ids(value: str | Iterable[str] | None, what: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{what} must be a non-empty string, a non-empty list of them, or None to opt out")
    return frozenset(items)


def _raise_first_failure(outcomes: Sequence[object]) -> None:
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def pool_issuers(user_pool_id: str, issuer: str | None = None) -> tuple[str, ...]:
    """The ``iss`` values a pool's tokens may carry: ``issuer`` when given (emulators, local stand-ins), else both
    Cognito hosts for the pool's region. Raises :class:`ConfigurationError` for a bad pool id or issuer URL."""
    if not isinstance(user_pool_id, str):
        raise ConfigurationError("user_pool_id must be a string")
    if issuer is not None:
        if not _CUSTOM_POOL_ID.fullmatch(user_pool_id):
            raise ConfigurationError("user_pool_id must be made of letters, digits, '-' and '_'")
        check_key_url(issuer, "issuer")
        return (issuer.rstrip("/"),)
    match = _POOL_ID.fullmatch(user_pool_id)
    if match is None:
        raise ConfigurationError(
            f"user_pool_id {user_pool_id!r} is not a Cognito user pool id such as 'us-east-1_Abc123XYZ'"
        )
    region = match.group(1)
    return (
        f"https://cognito-idp.{region}.amazonaws.com/{user_pool_id}",
        f"https://issuer-cognito-idp.{region}.amazonaws.com/{user_pool_id}",
    )


@dataclass(frozen=True, kw_only=True)
class UserPool:
    """One user pool a verifier accepts tokens from (see :meth:`CognitoVerifier.for_pools`).

    ``client_id`` and ``token_use`` are required: ``None`` is the explicit opt-out ("any client", "either kind").
    ``issuer`` overrides the Cognito issuer (emulators, local stand-ins); ``jwks_uri`` overrides
    ``{issuer}/.well-known/jwks.json``; ``jwks`` preloads keys (a JWKS dict or a path to a JWKS file) so no network is
    used. ``audience`` requires an access token's ``aud`` (resource binding) to name one of these values.
    """

    user_pool_id: str
    client_id: str | Sequence[str] | None
    token_use: TokenUse | None
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks: JWKSSource | None = None
    audience: str | Sequence[str] | None = None


class OnlineCheck(Protocol):
    """Asks Cognito whether a token that passed every offline check is still live (see
    :class:`cognito_guard.online.CognitoOnlineCheck`). Raises :class:`TokenRevokedError` when it is not."""

    async def check(self, token: str, claims: Claims) -> None: ...

    def check_sync(self, token: str, claims: Claims) -> None: ...


class _Pool(NamedTuple):
    """A user pool after validation: what the hot path reads."""

    issuers: tuple[str, ...]
    client_ids: frozenset[str] | None
    token_use: str | None
    audience: frozenset[str] | None
    key_set: KeySet


# What the revocation list looks up for a token: (origin_jti, jti, sub, sign-in time: auth_time, else iat).
_RevocationKey = tuple[str | None, str | None, str, float]
# A result-cache entry: (claims, key set, kid, key, not_before, not_after, revocation key or None). It stays valid
# while the key set still maps kid to that very key object and not_before <= now < not_after; the revocation list is
# asked again on every hit. Plain tuples: this is the hot path.
_Verified = tuple[Claims, KeySet, str, SigningKey, float, float, _RevocationKey | None]
# A parsed, not yet trusted token: (header, payload, signing input, signature segment, pool).
_Parsed = tuple[_token.Header, dict[str, Any], bytes, bytes, _Pool]


class CognitoVerifier:
    """Verifies Amazon Cognito ID and access tokens completely and returns their :class:`Claims`.

    Required keywords: ``user_pool_id`` (``{region}_{id}``), ``client_id`` (one id, a list, or ``None`` to accept any
    client) and ``token_use`` (``"access"``, ``"id"`` or ``None`` for either).

    Options: ``issuer``/``jwks_uri``/``jwks``/``audience`` as in :class:`UserPool`; ``leeway`` seconds of clock skew
    allowed on ``exp``/``iat``/``nbf`` (default 0; at most 600 with ``revocations``); ``scopes`` all required,
    ``groups`` any one required (failures raise :class:`~cognito_guard.errors.AuthorizationError`); ``algorithms``
    allowed (default ``("RS256",)``, the only one Cognito uses); ``max_token_length`` in characters (default 32 KiB);
    ``cache_size`` verified results kept (default 10 000, 0 disables); ``jwks_cache`` to share keys between verifiers,
    or else ``http_client`` / ``async_http_client`` to fetch with your own httpx clients and ``jwks_ttl`` /
    ``jwks_max_stale`` for the verifier's own key cache (seconds keys count as fresh, default 300; seconds past that
    they keep serving while refreshes fail, default 86400); ``revocations`` a
    :class:`~cognito_guard.revocation.RevocationList` consulted on every verification, cached results included (a
    revoked token raises :class:`~cognito_guard.errors.TokenRevokedError`, 401); ``online_check`` to ask Cognito whether
    a token is still live (see :mod:`cognito_guard.online`); ``clock`` returning Unix seconds (tests).

    Raises :class:`~cognito_guard.errors.ConfigurationError` on bad settings.
    """

    def __init__(
        self,
        *,
        user_pool_id: str,
        client_id: str | Sequence[str] | None,
        token_use: TokenUse | None,
        issuer: str | None = None,
        jwks_uri: str | None = None,
        jwks: JWKSSource | None = None,
        audience: str | Sequence[str] | None = None,
        leeway: float = 0,
        scopes: str | Iterable[str] | None = None,
        groups: str | Iterable[str] | None = None,
        algorithms: Iterable[str] = ("RS256",),
        max_token_length: int = 32 * 1024,
        cache_size: int = 10_000,
        jwks_cache: JWKSCache | None = None,
        jwks_ttl: float | None = None,
        jwks_max_stale: float | None = None,
        revocations: RevocationList | None = None,
        online_check: OnlineCheck | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        pool = UserPool(
            user_pool_id=user_pool_id,
            client_id=client_id,
            token_use=token_use,
            issuer=issuer,
            jwks_uri=jwks_uri,
            jwks=jwks,
            audience=audience,
        )
        self._setup(
            [pool],
            leeway=leeway,
            requirement=Requirement.build(scopes=scopes, groups=groups),
            algorithms=algorithms,
            max_token_length=max_token_length,
            cache_size=cache_size,
            jwks_cache=jwks_cache,
            jwks_timings=(jwks_ttl, jwks_max_stale),
            revocations=revocations,
            online_check=online_check,
            http_client=http_client,
            async_http_client=async_http_client,
            clock=clock,
        )

    @classmethod
    def for_pools(
        cls,
        pools: Sequence[UserPool],
        *,
        leeway: float = 0,
        scopes: str | Iterable[str] | None = None,
        groups: str | Iterable[str] | None = None,
        algorithms: Iterable[str] = ("RS256",),
        max_token_length: int = 32 * 1024,
        cache_size: int = 10_000,
        jwks_cache: JWKSCache | None = None,
        jwks_ttl: float | None = None,
        jwks_max_stale: float | None = None,
        revocations: RevocationList | None = None,
        online_check: OnlineCheck | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> CognitoVerifier:
        """A verifier accepting several user pools / client lists; each token's pool is chosen by exact ``iss``."""
        self = cls.__new__(cls)
        self._setup(
            pools,
            leeway=leeway,
            requirement=Requirement.build(scopes=scopes, groups=groups),
            algorithms=algorithms,
            max_token_length=max_token_length,
            cache_size=cache_size,
            jwks_cache=jwks_cache,
            jwks_timings=(jwks_ttl, jwks_max_stale),
            revocations=revocations,
            online_check=online_check,
            http_client=http_client,
            async_http_client=async_http_client,
            clock=clock,
        )
        return self

    def _setup(
        self,
        pools: Sequence[UserPool],
        *,
        leeway: float,
        requirement: Requirement,
        algorithms: Iterable[str],
        max_token_length: int,
        cache_size: int,
        jwks_cache: JWKSCache | None,
        jwks_timings: tuple[float | None, float | None],
        revocations: RevocationList | None,
        online_check: OnlineCheck | None,
        http_client: httpx.Client | None,
        async_http_client: httpx.AsyncClient | None,
        clock: Callable[[], float],
    ) -> None:
        if not (type(leeway) is int or type(leeway) is float) or not 0 <= leeway <= 86400:
            raise ConfigurationError("leeway must be a number of seconds between 0 and 86400")
        if isinstance(algorithms, str):
            algorithms = (algorithms,)
        self._algorithms = frozenset(algorithms)
        if not self._algorithms or any(alg.startswith("HS") or alg == "none" for alg in self._algorithms):
            raise ConfigurationError("algorithms must be public-key JWS algorithms such as 'RS256'")
        if max_token_length < 16 or cache_size < 0:
            raise ConfigurationError("max_token_length must be at least 16 and cache_size not negative")
        ttl, max_stale = jwks_timings
        if jwks_cache is not None and (http_client is not None or async_http_client is not None):
            raise ConfigurationError("pass HTTP clients to the JWKSCache, not next to it")
        if jwks_cache is not None and (ttl is not None or max_stale is not None):
            raise ConfigurationError("pass jwks_ttl and jwks_max_stale to the JWKSCache, not next to it")
        if not pools:
            raise ConfigurationError("at least one user pool is required")
        self._owns_jwks_cache = jwks_cache is None
        self._jwks_cache = jwks_cache or JWKSCache(
            ttl=300.0 if ttl is None else ttl,
            max_stale=86400.0 if max_stale is None else max_stale,
            http_client=http_client,
            async_http_client=async_http_client,
            clock=clock,
        )
        if revocations is not None and not isinstance(revocations, RevocationList):
            raise ConfigurationError("revocations must be a RevocationList")
        if revocations is not None and leeway > _REVOCATION_MARGIN:
            # A record outlives its token by this margin only: a larger leeway accepts the token once it is gone.
            raise ConfigurationError(f"leeway must be at most {_REVOCATION_MARGIN:g} seconds with a revocation list")
        self._revocations = revocations
        self._online = online_check
        self._leeway = float(leeway)
        self._requirement: Requirement | None = requirement or None
        self._max_token_length = max_token_length
        self._clock = clock
        self._cache_size = cache_size
        self._results: dict[str, _Verified] = {}
        self._headers: dict[bytes, _token.Header] = {}
        self._pools: dict[str, _Pool] = {}
        for config in pools:
            pool = self._build_pool(config)
            for issuer in pool.issuers:
                if issuer in self._pools:
                    raise ConfigurationError(f"issuer {issuer!r} is configured twice")
                self._pools[issuer] = pool

    def _build_pool(self, config: UserPool) -> _Pool:
        if not isinstance(config, UserPool):
            raise ConfigurationError("pools must be UserPool instances")
        pool_id = config.user_pool_id
        if config.token_use not in ("access", "id", None):
            raise ConfigurationError("token_use must be 'access', 'id' or None (either)")
        client_ids = _client_ids(config.client_id, "client_id")
        audience = _client_ids(config.audience, "audience")
        issuers = pool_issuers(pool_id, config.issuer)
        key_set = self._key_set(config, issuers[0])
        return _Pool(issuers, client_ids, config.token_use, audience, key_set)

    def _key_set(self, config: UserPool, issuer: str) -> KeySet:
        jwks = config.jwks
        if jwks is not None:
            if config.jwks_uri is not None:
                raise ConfigurationError("pass either jwks (preloaded keys) or jwks_uri, not both")
            if isinstance(jwks, Mapping):
                return StaticKeySet(jwks)
            return StaticKeySet(load_jwks_file(jwks), source=f"JWKS file {os.fspath(jwks)!r}")
        uri = config.jwks_uri or f"{issuer}/.well-known/jwks.json"
        return self._jwks_cache.key_set(uri)

    # -- public API ---------------------------------------------------------------------------------------------------
    @property
    def issuers(self) -> tuple[str, ...]:
        """Every issuer this verifier accepts."""
        return tuple(self._pools)

    @property
    def revocations(self) -> RevocationList | None:
        """The revocation list this verifier consults, if any."""
        return self._revocations

    async def verify(self, token: object) -> Claims:
        """Verify ``token`` and return its claims; fetches keys without blocking the event loop.

        Raises :class:`TokenError` (401), :class:`AuthorizationError` (403) or :class:`KeysUnavailableError` (503).
        """
        now = self._clock()
        entry = self._results.get(token) if type(token) is str else None
        claims: Claims | None = None
        if entry is not None:
            claims = self._cached(token, entry, now)
        if claims is None:
            parsed = self._parse(token)
            key_set, kid = parsed[4].key_set, parsed[0].kid
            key = key_set.lookup(kid, now)
            if key is None:
                key = await key_set.get_key(kid)
                now = self._clock()
            claims = self._check(token, parsed, key, now)  # type: ignore[arg-type]
        if self._online is not None:
            await self._online.check(token, claims)  # type: ignore[arg-type]
        return claims

    def verify_sync(self, token: object) -> Claims:
        """Verify ``token`` and return its claims, for synchronous code (no event loop needed).

        Raises :class:`TokenError` (401), :class:`AuthorizationError` (403) or :class:`KeysUnavailableError` (503).
        """
        now = self._clock()
        entry = self._results.get(token) if type(token) is str else None
        claims: Claims | None = None
        if entry is not None:
            claims = self._cached(token, entry, now)
        if claims is None:
            parsed = self._parse(token)
            key_set, kid = parsed[4].key_set, parsed[0].kid
            key = key_set.lookup(kid, now)
            if key is None:
                key = key_set.get_key_sync(kid)
                now = self._clock()
            claims = self._check(token, parsed, key, now)  # type: ignore[arg-type]
        if self._online is not None:
            self._online.check_sync(token, claims)  # type: ignore[arg-type]
        return claims

    async def warm_up(self) -> None:
        """Fetch every pool's keys now (call at application start), all of them at once.

        Raises :class:`KeysUnavailableError` if any pool's keys could not be had (the others are loaded anyway).
        """
        outcomes = await asyncio.gather(*(key_set.warm_up() for key_set in self._key_sets()), return_exceptions=True)
        _raise_first_failure(outcomes)

    def warm_up_sync(self) -> None:
        """Synchronous :meth:`warm_up` (pool after pool)."""
        outcomes: list[BaseException | None] = []
        for key_set in self._key_sets():
            try:
                key_set.warm_up_sync()
            except KeysUnavailableError as error:
                outcomes.append(error)
        _raise_first_failure(outcomes)

    def _key_sets(self) -> list[KeySet]:
        return list({id(pool.key_set): pool.key_set for pool in self._pools.values()}.values())

    def close(self) -> None:
        """Close the HTTP clients this verifier created."""
        if self._owns_jwks_cache:
            self._jwks_cache.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this verifier created (async ones included)."""
        if self._owns_jwks_cache:
            await self._jwks_cache.aclose()

    # -- the checks (hot path: plain tuples and local names, measured by benchmarks/verify.py) -----------------------
    def _cached(self, token: object, entry: _Verified, now: float) -> Claims | None:
        """The claims of this earlier verification of ``token``, if they are still valid now."""
        claims, key_set, kid, key, not_before, not_after, revocation = entry
        if not_before <= now < not_after and key_set.lookup(kid, now) is key:
            if revocation is not None:
                self._revocations.check(*revocation)  # type: ignore[union-attr]
            if self._requirement is not None:
                self._requirement.check(claims)
            return claims
        # Expired, or its key left the set (or the set is due for a refresh): verify from scratch.
        self._results.pop(token, None)  # type: ignore[call-overload]
        return None

    def _parse(self, token: object) -> _Parsed:
        """Take the token apart and choose its pool by ``iss``; nothing is trusted yet."""
        header_segment, payload_segment, signature_segment, signing_input = _token.split(token, self._max_token_length)
        header = self._headers.get(header_segment)
        if header is None:
            header = _token.parse_header(header_segment, self._algorithms)
            if len(self._headers) >= 256:  # a pool has two keys: many distinct headers means junk; start over
                self._headers.clear()
            self._headers[header_segment] = header
        payload = _token.decode_json_object(payload_segment, "payload")
        issuer = payload.get("iss")
        pool = self._pools.get(issuer) if type(issuer) is str else None
        if pool is None:
            raise IssuerError("token issuer is not an accepted user pool")
        return header, payload, signing_input, signature_segment, pool

    def _check(self, token: str, parsed: _Parsed, key: SigningKey, now: float) -> Claims:
        """Signature, then claims; cache and return the result."""
        header, payload, signing_input, signature_segment, pool = parsed
        alg = header.alg
        if alg not in key.algorithms:
            raise AlgorithmError("token algorithm does not fit the signing key")
        if not key.verify(alg, signing_input, _token.decode(signature_segment)):
            raise SignatureError("token signature is invalid")
        not_before, not_after = self._check_claims(payload, pool, now)
        revocation: _RevocationKey | None = None
        if self._revocations is not None:
            get = payload.get
            signed_in_at: float = get("auth_time") or payload["iat"]
            revocation = (get("origin_jti"), get("jti"), payload["sub"], signed_in_at)
            self._revocations.check(*revocation)
        claims = Claims.from_frozen(payload)
        if self._cache_size:
            if len(self._results) >= self._cache_size:
                self._evict()
            self._results[token] = (claims, pool.key_set, header.kid, key, not_before, not_after, revocation)
        if self._requirement is not None:
            self._requirement.check(claims)
        return claims

    def _evict(self) -> None:
        """Make room in the result cache: drop expired entries, and if that is not enough the older half.

        Amortised O(1) per insertion; dicts keep insertion order, so the first entries are the oldest.
        """
        results = self._results
        now = self._clock()
        stale = [token for token, entry in list(results.items()) if entry[5] <= now]
        if len(results) - len(stale) >= self._cache_size // 2:
            stale = list(itertools.islice(results, max(1, len(results) // 2)))
        for token in stale:
            results.pop(token, None)

    def _check_claims(self, payload: dict[str, Any], pool: _Pool, now: float) -> tuple[float, float]:
        """Check the verified payload; return the window ``(not_before, not_after)`` in which it stays valid.

        Arrays and objects are frozen on the way: Claims are shared through the result cache.
        """
        for name, value in payload.items():
            if type(value) is str:  # most claims
                if name in _NON_STRING_CLAIMS:
                    raise ClaimError(f"claim {name!r} must not be a string")
            elif name in _STRING_CLAIMS:
                raise ClaimError(f"claim {name!r} must be a string")
            elif name in _TIME_CLAIMS:
                # bool is an int subclass and no time; NaN fails both comparisons.
                if not ((type(value) is int or type(value) is float) and 0 <= value <= _MAX_TIME):
                    raise ClaimError(f"claim {name!r} must be a time (seconds since the epoch)")
            elif name in _STRING_LIST_CLAIMS:
                if type(value) is not list or not _all_strings(value):
                    raise ClaimError(f"claim {name!r} must be an array of strings")
                payload[name] = tuple(value)
            elif type(value) is list or type(value) is dict:
                try:
                    payload[name] = freeze(value)
                except ValueError:
                    raise ClaimError(f"claim {name!r} is nested too deeply") from None

        get = payload.get
        leeway = self._leeway
        exp = get("exp")
        iat = get("iat")
        if exp is None or iat is None:
            raise ClaimError("token lacks the required 'exp' or 'iat' claim")
        if now >= exp + leeway:
            raise ExpiredTokenError("token has expired")
        if iat > now + leeway:
            raise IssuedInFutureError("token is issued in the future")
        nbf = get("nbf")
        if nbf is not None and nbf > now + leeway:
            raise NotYetValidError("token is not valid yet")
        if not get("sub"):
            raise ClaimError("token lacks the required 'sub' claim")

        token_use = get("token_use")
        if token_use != "access" and token_use != "id":
            raise TokenUseError("token_use must be 'id' or 'access'")
        if pool.token_use is not None and token_use != pool.token_use:
            raise TokenUseError(f"{token_use} tokens are not accepted here, only {pool.token_use} tokens")
        if token_use == "id":
            client = get("aud")
            if type(client) is not str:
                raise ClaimError("ID token 'aud' must be a string")
        else:
            client = get("client_id")
            if client is None:
                raise ClaimError("access token lacks the 'client_id' claim")
            # Resource binding puts the API's URL in an access token's aud: when present (null included) it is a
            # standard claim of a known type, checked even where no audience is required, as the official verifier does.
            aud = get("aud", _MISSING)
            if aud is not _MISSING and type(aud) is not str and not _is_string_list(aud):
                raise ClaimError("claim 'aud' must be a string or an array of strings")
            if pool.audience is not None:
                self._check_audience(aud, pool.audience)
        if pool.client_ids is not None and client not in pool.client_ids:
            raise ClientIdError("token was issued to an app client that is not accepted here")
        return max(iat, nbf or iat) - leeway, exp + leeway

    @staticmethod
    def _check_audience(aud: object, accepted: frozenset[str]) -> None:
        values = (aud,) if isinstance(aud, str) else aud if _is_string_list(aud) else ()  # arrays arrive frozen
        if accepted.isdisjoint(values):  # type: ignore[arg-type]
            raise AudienceError("access token 'aud' does not name an accepted audience")
