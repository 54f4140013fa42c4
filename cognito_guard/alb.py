"""AlbVerifier: the user claims an Application Load Balancer hands its targets, verified completely.

An ALB with an ``authenticate-cognito`` (or ``authenticate-oidc``) action signs the user's claims itself and passes
them in ``x-amzn-oidc-data``: a JWT signed with ES256 whose header names the ALB (``signer``), the app client
(``client``) and a ``kid`` whose PEM public key the region's key server publishes. That key server is shared by every
ALB in the region, so a token from *anyone's* ALB verifies: the ``signer`` must be one of yours. The token keeps its
base64 ``=`` padding, and its signature covers the padded text.

Parse -> ``signer`` picks the key server -> key by ``kid`` -> signature -> claims -> :class:`AlbClaims`; the same
shape as :class:`~cognito_guard.CognitoVerifier`, the same errors (plus :class:`~cognito_guard.errors.SignerError`).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import _token
from ._alb_claims import AlbClaims
from ._alb_keys import UUID, KeySource, PemKeyServer, alb_key_url, load_keys, parse_alb_arn
from .claims import Claims, freeze
from .errors import (
    ClaimError,
    ClientIdError,
    ConfigurationError,
    ExpiredTokenError,
    IssuedInFutureError,
    IssuerError,
    MalformedTokenError,
    NotYetValidError,
    SignatureError,
    SignerError,
)
from .guards import Requirement
from .jwks import JWKSCache, KeySet, SigningKey
from .verifier import CognitoVerifier

__all__ = [
    "ACCESS_TOKEN_HEADER",
    "DATA_HEADER",
    "IDENTITY_HEADER",
    "AlbClaims",
    "AlbVerifier",
    "HeaderValues",
    "alb_key_url",
    "parse_alb_arn",
]

DATA_HEADER = "x-amzn-oidc-data"
"""The header holding the ALB-signed user claims (what :class:`AlbVerifier` verifies)."""
ACCESS_TOKEN_HEADER = "x-amzn-oidc-accesstoken"
"""The header holding the IdP's access token (verified too with ``AlbVerifier(access_token=...)``)."""
IDENTITY_HEADER = "x-amzn-oidc-identity"
"""The header holding the user's ``sub``, unsigned: never trust it, read ``claims.sub``."""

HeaderValues = Callable[[str], Sequence[str]]
"""Every value of a request header by (lower-case) name: Starlette's and werkzeug's ``headers.getlist``."""

_ES256 = frozenset({"ES256"})
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# Payload claims our checks or Claims' properties read, and the JSON type each must have when present. The payload
# is the IdP's userinfo: anything else passes through untouched (Cognito's own "identities" is a JSON *string* there).
_STRING_CLAIMS = frozenset(("iss", "sub", "username", "email", "phone_number", "scope", "jti"))
_TIME_CLAIMS = frozenset(("exp", "iat", "nbf", "auth_time"))
_BOOLEAN_CLAIMS = frozenset(("email_verified", "phone_number_verified"))
_NON_STRING_CLAIMS = _TIME_CLAIMS | {"cognito:groups"}
_BOOLEANS = (True, False, "true", "false")
_MAX_TIME = 253402300799  # 9999-12-31T23:59:59Z, as in the verifier

# A result-cache entry: (claims, key set, kid, key, not_before, not_after). Plain tuples: this is the hot path.
_Verified = tuple[AlbClaims, KeySet, str, SigningKey, float, float]
# A parsed, not yet trusted token: (kid, signer, client, payload, signing input, raw signature, key set).
_Parsed = tuple[str, str, object, dict[str, Any], bytes, bytes, KeySet]


def _es256(public_key: ec.EllipticCurvePublicKey, signing_input: bytes, signature: bytes) -> bool:
    """True when ``signature`` (JWS form: R || S, 32 bytes each, checked by ``_parse``) is the P-256/SHA-256
    signature of ``signing_input``.

    ``cryptography`` takes DER: the conversion is all that stands between the token and OpenSSL (no PyJWT wrapper on
    the hot path).
    """
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    try:
        public_key.verify(der, signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True


def _strings(value: str | Iterable[str], what: str) -> frozenset[str]:
    items = (value,) if isinstance(value, str) else tuple(value)
    if not items or not all(isinstance(item, str) and item for item in items):
        raise ConfigurationError(f"{what} must be a non-empty string or a non-empty list of them")
    return frozenset(items)


def _single(values: Sequence[str], name: str) -> str | None:
    if not values:
        return None
    if len(values) > 1:
        raise MalformedTokenError(f"send a single {name} header")
    return values[0]


class AlbVerifier:
    """Verifies the ``x-amzn-oidc-data`` header an ALB passes to its targets and returns its :class:`AlbClaims`.

    Required keywords: ``alb_arn`` (your load balancer's ARN, or a list: the only accepted ``signer``\\s; the region
    of each picks its key server), ``client_id`` (the header's ``client``: one app client id, a list, or ``None`` to
    accept any) and ``issuer`` (the ``iss`` the ALB writes: your IdP's issuer, for Cognito
    ``https://cognito-idp.{region}.amazonaws.com/{user_pool_id}``; one or a list).

    Options: ``leeway`` seconds of clock skew on ``exp``/``iat``/``nbf`` (default 0); ``scopes`` / ``groups``
    requirements (403), which need claims that carry them: with ``access_token`` those of the access token;
    ``access_token`` a :class:`~cognito_guard.CognitoVerifier` for ``x-amzn-oidc-accesstoken``: then ``verify`` needs
    that token too, checks it, and requires it to name the same ``sub`` and client; ``keys`` offline keys (a mapping
    kid -> PEM, or a directory of PEM files named by their kid): no network at all; ``key_url`` a URL template with
    ``{kid}`` (and optionally ``{region}``) replacing the AWS key server (https only, http to loopback); ``max_keys``
    fetched keys kept (default 256); ``max_token_length`` (default 32 KiB); ``cache_size`` verified results kept
    (default 10 000, 0 disables); ``jwks_cache`` a :class:`JWKSCache` whose HTTP clients, timeout, size cap, cooldown
    and backoff fetch the keys, or else ``http_client`` / ``async_http_client``; ``clock`` returning Unix seconds.

    Raises :class:`~cognito_guard.errors.ConfigurationError` on bad settings.
    """

    def __init__(
        self,
        *,
        alb_arn: str | Sequence[str],
        client_id: str | Sequence[str] | None,
        issuer: str | Sequence[str],
        leeway: float = 0,
        scopes: str | Iterable[str] | None = None,
        groups: str | Iterable[str] | None = None,
        access_token: CognitoVerifier | None = None,
        keys: KeySource | None = None,
        key_url: str | None = None,
        max_keys: int = 256,
        max_token_length: int = 32 * 1024,
        cache_size: int = 10_000,
        jwks_cache: JWKSCache | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not (type(leeway) is int or type(leeway) is float) or not 0 <= leeway <= 86400:
            raise ConfigurationError("leeway must be a number of seconds between 0 and 86400")
        if max_token_length < 16 or cache_size < 0:
            raise ConfigurationError("max_token_length must be at least 16 and cache_size not negative")
        if access_token is not None and not isinstance(access_token, CognitoVerifier):
            raise ConfigurationError("access_token must be a CognitoVerifier for the x-amzn-oidc-accesstoken header")
        if jwks_cache is not None and (http_client is not None or async_http_client is not None):
            raise ConfigurationError("pass HTTP clients to the JWKSCache, not next to it")
        if keys is not None and key_url is not None:
            raise ConfigurationError("pass either keys (offline) or key_url, not both")
        self._client_ids = None if client_id is None else _strings(client_id, "client_id")
        self._issuers = _strings(issuer, "issuer")
        self._access = access_token
        self._leeway = float(leeway)
        self._requirement: Requirement | None = Requirement.build(scopes=scopes, groups=groups) or None
        self._max_token_length = max_token_length
        self._cache_size = cache_size
        self._clock = clock
        self._results: dict[str, _Verified] = {}
        self._owns_jwks_cache = jwks_cache is None
        self._jwks_cache = jwks_cache or JWKSCache(
            http_client=http_client, async_http_client=async_http_client, clock=clock
        )
        arns = _strings(alb_arn, "alb_arn")
        static = None if keys is None else load_keys(keys)
        servers: dict[str, PemKeyServer] = {}
        self._signers: dict[str, KeySet] = {}
        for arn in sorted(arns):
            partition, region = parse_alb_arn(arn)
            if static is not None:
                self._signers[arn] = static
                continue
            template = alb_key_url(partition, region) if key_url is None else key_url.replace("{region}", region)
            server = servers.get(template)
            if server is None:
                server = servers[template] = PemKeyServer(
                    template, cache=self._jwks_cache, max_keys=max_keys, clock=clock
                )
            self._signers[arn] = server

    # -- public API ---------------------------------------------------------------------------------------------------
    @property
    def alb_arns(self) -> tuple[str, ...]:
        """The load balancers whose tokens are accepted."""
        return tuple(self._signers)

    @property
    def access_token_verifier(self) -> CognitoVerifier | None:
        """The verifier of ``x-amzn-oidc-accesstoken``, when it is checked too."""
        return self._access

    @property
    def issuers(self) -> tuple[str, ...]:
        """Every ``iss`` this verifier accepts."""
        return tuple(sorted(self._issuers))

    async def verify_headers(self, headers: HeaderValues) -> AlbClaims | None:
        """Verify a request's ``x-amzn-oidc-*`` headers (``headers``: every value of a header by name, such as
        ``request.headers.getlist``); ``None`` when there is no ``x-amzn-oidc-data`` at all.

        Two headers of one name are refused (:class:`MalformedTokenError`): a proxy and we might read different ones.
        Raises as :meth:`verify` does.
        """
        tokens = self._read_headers(headers)
        return None if tokens is None else await self.verify(tokens[0], access_token=tokens[1])

    def verify_headers_sync(self, headers: HeaderValues) -> AlbClaims | None:
        """Synchronous :meth:`verify_headers`."""
        tokens = self._read_headers(headers)
        return None if tokens is None else self.verify_sync(tokens[0], access_token=tokens[1])

    def _read_headers(self, headers: HeaderValues) -> tuple[str, str | None] | None:
        data = _single(headers(DATA_HEADER), DATA_HEADER)
        if data is None:
            return None
        access = _single(headers(ACCESS_TOKEN_HEADER), ACCESS_TOKEN_HEADER) if self._access is not None else None
        return data, access

    async def verify(self, token: object, *, access_token: object = None) -> AlbClaims:
        """Verify ``token`` (the ``x-amzn-oidc-data`` value) and return its claims; fetches keys without blocking.

        With an access-token verifier, ``access_token`` (the ``x-amzn-oidc-accesstoken`` value) is verified too.
        Raises :class:`TokenError` (401), :class:`AuthorizationError` (403) or :class:`KeysUnavailableError` (503).
        """
        now = self._clock()
        entry = self._results.get(token) if type(token) is str else None
        claims = None if entry is None else self._cached(token, entry, now)
        if claims is None:
            parsed = self._parse(token)
            kid, key_set = parsed[0], parsed[6]
            key = key_set.lookup(kid, now)
            if key is None:
                key = await key_set.get_key(kid)
                now = self._clock()
            claims = self._check(token, parsed, key, now)  # type: ignore[arg-type]
        if self._access is not None:
            claims = self._join(claims, await self._access.verify(self._access_token(access_token)))
        elif access_token is not None:
            self._refuse_access_token()
        if self._requirement is not None:
            await self._requirement.check_async(claims)
        return claims

    def verify_sync(self, token: object, *, access_token: object = None) -> AlbClaims:
        """Verify ``token`` and return its claims, for synchronous code (no event loop needed); see :meth:`verify`.

        Raises :class:`TokenError` (401), :class:`AuthorizationError` (403) or :class:`KeysUnavailableError` (503).
        """
        now = self._clock()
        entry = self._results.get(token) if type(token) is str else None
        claims = None if entry is None else self._cached(token, entry, now)
        if claims is None:
            parsed = self._parse(token)
            kid, key_set = parsed[0], parsed[6]
            key = key_set.lookup(kid, now)
            if key is None:
                key = key_set.get_key_sync(kid)
                now = self._clock()
            claims = self._check(token, parsed, key, now)  # type: ignore[arg-type]
        if self._access is not None:
            claims = self._join(claims, self._access.verify_sync(self._access_token(access_token)))
        elif access_token is not None:
            self._refuse_access_token()
        if self._requirement is not None:
            self._requirement.check(claims)
        return claims

    async def warm_up(self) -> None:
        """Load what can be loaded ahead: the access-token verifier's keys (ALB keys are fetched by ``kid``)."""
        if self._access is not None:
            await self._access.warm_up()

    def warm_up_sync(self) -> None:
        """Synchronous :meth:`warm_up`."""
        if self._access is not None:
            self._access.warm_up_sync()

    def close(self) -> None:
        """Close the HTTP clients this verifier (and its access-token verifier) created."""
        if self._owns_jwks_cache:
            self._jwks_cache.close()
        if self._access is not None:
            self._access.close()

    async def aclose(self) -> None:
        """Close the HTTP clients this verifier (and its access-token verifier) created, async ones included."""
        if self._owns_jwks_cache:
            await self._jwks_cache.aclose()
        if self._access is not None:
            await self._access.aclose()

    # -- the checks (hot path: plain tuples and local names, measured by benchmarks/alb.py) ----------------------------
    def _cached(self, token: object, entry: _Verified, now: float) -> AlbClaims | None:
        claims, key_set, kid, key, not_before, not_after = entry
        if not_before <= now < not_after and key_set.lookup(kid, now) is key:
            return claims
        self._results.pop(token, None)  # type: ignore[call-overload]
        return None

    def _parse(self, token: object) -> _Parsed:
        """Take the token apart and choose the key server by ``signer``; nothing is trusted yet."""
        header_segment, payload_segment, signature_segment, signing_input = _token.split_padded(
            token, self._max_token_length
        )
        header = _token.decode_json_object(header_segment, "header")
        kid = _token.check_header(header, _ES256).kid
        if UUID.fullmatch(kid) is None:
            raise MalformedTokenError("token header 'kid' is not a UUID, as the ALB writes it")
        signer = header.get("signer")
        # Checked before any key is fetched: a token naming someone else's ALB never makes us call a key server.
        key_set = self._signers.get(signer) if type(signer) is str else None
        if key_set is None:
            raise SignerError("token was not signed by an accepted load balancer (its 'signer' is not an alb_arn)")
        payload = _token.decode_json_object(payload_segment, "payload")
        # Also before any fetch: a token that is unsigned, or signed in another form (DER), can never verify.
        signature = _token.decode(signature_segment)
        if len(signature) != 64:
            raise SignatureError("token signature is not an ES256 signature (64 bytes, R || S)")
        return kid, signer, header.get("client"), payload, signing_input, signature, key_set  # type: ignore[return-value]

    def _check(self, token: str, parsed: _Parsed, key: SigningKey, now: float) -> AlbClaims:
        """Signature, then claims; cache and return the result."""
        kid, signer, client, payload, signing_input, signature, key_set = parsed
        if not _es256(key.public_key, signing_input, signature):
            raise SignatureError("token signature is invalid")
        if type(client) is not str or not client:
            raise ClaimError("token header lacks the ALB's 'client'")
        if self._client_ids is not None and client not in self._client_ids:
            raise ClientIdError("token was issued to an app client that is not accepted here")
        not_before, not_after = self._check_claims(payload, now)
        claims = AlbClaims.build(payload, signer=signer, client=client, access_token=None)
        if self._cache_size:
            if len(self._results) >= self._cache_size:
                self._evict()
            self._results[token] = (claims, key_set, kid, key, not_before, not_after)
        return claims

    def _check_claims(self, payload: dict[str, Any], now: float) -> tuple[float, float]:
        """Check the verified payload; return the window ``(not_before, not_after)`` in which it stays valid."""
        for name, value in payload.items():
            if type(value) is str:
                if name in _NON_STRING_CLAIMS:
                    raise ClaimError(f"claim {name!r} must not be a string")
                if name in _BOOLEAN_CLAIMS and value not in _BOOLEANS:
                    raise ClaimError(f"claim {name!r} must be true or false")
            elif name in _STRING_CLAIMS:
                raise ClaimError(f"claim {name!r} must be a string")
            elif name in _TIME_CLAIMS:
                # bool is an int subclass and no time; NaN fails both comparisons.
                if not ((type(value) is int or type(value) is float) and 0 <= value <= _MAX_TIME):
                    raise ClaimError(f"claim {name!r} must be a time (seconds since the epoch)")
            elif name in _BOOLEAN_CLAIMS:
                if type(value) is not bool:
                    raise ClaimError(f"claim {name!r} must be true or false")
            elif type(value) is list or type(value) is dict:
                if name == "cognito:groups" and (type(value) is not list or not all(type(g) is str for g in value)):
                    raise ClaimError("claim 'cognito:groups' must be an array of strings")
                try:
                    payload[name] = freeze(value)
                except ValueError:
                    raise ClaimError(f"claim {name!r} is nested too deeply") from None
            elif name == "cognito:groups":
                raise ClaimError("claim 'cognito:groups' must be an array of strings")

        get = payload.get
        leeway = self._leeway
        exp = get("exp")
        if exp is None:
            raise ClaimError("token lacks the required 'exp' claim")
        if now >= exp + leeway:
            raise ExpiredTokenError("token has expired")
        iat = get("iat")
        if iat is not None and iat > now + leeway:
            raise IssuedInFutureError("token is issued in the future")
        nbf = get("nbf")
        if nbf is not None and nbf > now + leeway:
            raise NotYetValidError("token is not valid yet")
        if get("iss") not in self._issuers:
            raise IssuerError("token issuer is not an accepted issuer")
        if not get("sub"):
            raise ClaimError("token lacks the required 'sub' claim")
        return max(iat or 0, nbf or 0) - leeway, exp + leeway

    def _access_token(self, access_token: object) -> object:
        if access_token is None:
            raise MalformedTokenError(f"the {ACCESS_TOKEN_HEADER} header is missing")
        return access_token

    def _refuse_access_token(self) -> None:
        raise ConfigurationError("access_token= needs an AlbVerifier made with access_token=CognitoVerifier(...)")

    @staticmethod
    def _join(claims: AlbClaims, access: Claims) -> AlbClaims:
        """The ALB's claims with the access token of the same sign-in: same user, same app client."""
        if access.sub != claims.sub:
            raise ClaimError("the access token and the ALB's user claims name different users")
        if access.client_id != claims.client_id:
            raise ClaimError("the access token and the ALB's user claims name different app clients")
        return claims.with_access_token(access)

    def _evict(self) -> None:
        """Make room in the result cache: drop expired entries, and if that is not enough the older half."""
        results = self._results
        now = self._clock()
        stale = [token for token, entry in list(results.items()) if entry[5] <= now]
        if len(results) - len(stale) >= self._cache_size // 2:
            stale = list(itertools.islice(results, max(1, len(results) // 2)))
        for token in stale:
            results.pop(token, None)
