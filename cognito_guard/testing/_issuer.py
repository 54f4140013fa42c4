"""LocalIssuer: a user pool's keys and Cognito-shaped token minting, for tests and local development."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

from .._token import b64url_encode
from ..verifier import CognitoVerifier, TokenUse

__all__ = ["LocalIssuer", "SigningKeyPair"]

_DELETE: Any = None  # in ``claims=`` overrides, None removes the claim


class SigningKeyPair:
    """An RSA-2048 private key with its ``kid``; ``public_jwk`` is what a JWKS publishes."""

    def __init__(self, kid: str | None = None, private_key: rsa.RSAPrivateKey | None = None) -> None:
        self.kid = kid or str(uuid.uuid4())
        self.private_key = private_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)

    @property
    def public_jwk(self) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return jwk

    def sign(self, signing_input: bytes) -> bytes:
        return self.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())


def sign_compact(header: Mapping[str, Any], payload: Mapping[str, Any] | str, key: SigningKeyPair) -> str:
    """Sign ``header``/``payload`` as a compact JWS with RS256, exactly as given (no claims or headers added).

    ``payload`` may be a raw string, for tests of payloads that are not JSON objects.
    """
    header_segment = b64url_encode(json.dumps(dict(header), separators=(",", ":")).encode())
    raw = payload if isinstance(payload, str) else json.dumps(dict(payload), separators=(",", ":"))
    payload_segment = b64url_encode(raw.encode())
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url_encode(key.sign(signing_input.encode()))}"


class LocalIssuer:
    """A stand-in Cognito user pool: two signing keys (access and ID, like Cognito), its JWKS, token minting.

    Tokens carry the claims Cognito puts in them. Every ``*_token`` method accepts ``claims=`` (added or replaced;
    a value of ``None`` removes the claim) and ``headers=`` (added or replaced), ``issued_at=`` (Unix seconds,
    default now), ``expires_in=`` seconds (negative for an already expired token) and ``bad_signature=True``
    (signed by a key that is not in the JWKS, under the right ``kid``).
    """

    def __init__(
        self,
        *,
        user_pool_id: str = "us-east-1_LocalTest",
        client_id: str = "local-test-client",
        issuer: str | None = None,
        clock: Callable[[], float] = time.time,
        access_key: SigningKeyPair | None = None,
        id_key: SigningKeyPair | None = None,
    ) -> None:
        self.user_pool_id = user_pool_id
        self.client_id = client_id
        self.region = user_pool_id.split("_", 1)[0]
        self.issuer = issuer or f"https://cognito-idp.{self.region}.amazonaws.com/{user_pool_id}"
        self.clock = clock
        self.access_key = access_key or SigningKeyPair()
        self.id_key = id_key or SigningKeyPair()
        self._extra_keys: list[SigningKeyPair] = []
        self._impostor: SigningKeyPair | None = None

    # -- keys --------------------------------------------------------------------------------------------------------
    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWKS, as Cognito serves it at ``jwks_uri``."""
        keys = [self.access_key, self.id_key, *self._extra_keys]
        return {"keys": [key.public_jwk for key in keys]}

    def rotate(self) -> SigningKeyPair:
        """Replace the access-token key by a new one (the old one leaves the JWKS); returns the new key."""
        self.access_key = SigningKeyPair()
        return self.access_key

    def add_key(self, key: SigningKeyPair | None = None) -> SigningKeyPair:
        """Publish one more key in the JWKS (e.g. to sign with ``key=``)."""
        key = key or SigningKeyPair()
        self._extra_keys.append(key)
        return key

    def verifier(self, *, token_use: TokenUse | None = "access", **options: Any) -> CognitoVerifier:
        """A :class:`CognitoVerifier` for this pool using the preloaded JWKS (no network)."""
        options.setdefault("client_id", self.client_id)
        options.setdefault("clock", self.clock)
        if "jwks_uri" not in options:
            options.setdefault("jwks", self.jwks)
        if self.issuer != f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}":
            options.setdefault("issuer", self.issuer)
        return CognitoVerifier(user_pool_id=self.user_pool_id, token_use=token_use, **options)

    # -- minting -----------------------------------------------------------------------------------------------------
    def sign(
        self,
        payload: Mapping[str, Any] | str,
        *,
        headers: Mapping[str, Any] | None = None,
        key: SigningKeyPair | Literal["access", "id"] = "access",
    ) -> str:
        """Sign exactly this payload (no claims added): header ``{"kid", "alg": "RS256"}`` plus ``headers``."""
        pair = self.access_key if key == "access" else self.id_key if key == "id" else key
        header: dict[str, Any] = {"kid": pair.kid, "alg": "RS256"}
        for name, value in (headers or {}).items():
            if value is None:
                header.pop(name, None)
            else:
                header[name] = value
        return sign_compact(header, payload, pair)

    def _mint(
        self,
        base: dict[str, Any],
        *,
        key: SigningKeyPair,
        claims: Mapping[str, Any] | None,
        headers: Mapping[str, Any] | None,
        issued_at: float | None,
        expires_in: float,
        bad_signature: bool,
    ) -> str:
        iat = int(self.clock() if issued_at is None else issued_at)
        payload = {**base, "iss": self.issuer, "iat": iat, "exp": int(iat + expires_in)}
        if "auth_time" in base:
            payload["auth_time"] = iat
        for name, value in (claims or {}).items():
            if value is _DELETE:
                payload.pop(name, None)
            else:
                payload[name] = value
        signer = key
        if bad_signature:
            if self._impostor is None:
                self._impostor = SigningKeyPair()
            signer = SigningKeyPair(kid=key.kid, private_key=self._impostor.private_key)
        return self.sign(payload, headers=headers, key=signer)

    def access_token(
        self,
        *,
        username: str = "alice",
        sub: str | None = None,
        scopes: Iterable[str] = ("aws.cognito.signin.user.admin",),
        groups: Iterable[str] | None = None,
        client_id: str | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        issued_at: float | None = None,
        expires_in: float = 3600,
        bad_signature: bool = False,
        key: SigningKeyPair | None = None,
    ) -> str:
        """An access token for a user, shaped like Cognito's."""
        base: dict[str, Any] = {
            "sub": sub or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}/{username}")),
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": 0,
            "client_id": client_id or self.client_id,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
            "username": username,
            "version": 2,
        }
        if groups is not None:
            base["cognito:groups"] = list(groups)
        return self._mint(
            base,
            key=key or self.access_key,
            claims=claims,
            headers=headers,
            issued_at=issued_at,
            expires_in=expires_in,
            bad_signature=bad_signature,
        )

    def id_token(
        self,
        *,
        username: str = "alice",
        sub: str | None = None,
        email: str | None = "alice@example.com",
        groups: Iterable[str] | None = None,
        roles: Iterable[str] | None = None,
        preferred_role: str | None = None,
        custom: Mapping[str, str] | None = None,
        nonce: str | None = None,
        client_id: str | None = None,
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        issued_at: float | None = None,
        expires_in: float = 3600,
        bad_signature: bool = False,
        key: SigningKeyPair | None = None,
    ) -> str:
        """An ID token shaped like Cognito's (``custom`` attributes are written ``custom:NAME``)."""
        base: dict[str, Any] = {
            "sub": sub or str(uuid.uuid5(uuid.NAMESPACE_URL, f"{self.issuer}/{username}")),
            "aud": client_id or self.client_id,
            "token_use": "id",
            "auth_time": 0,
            "cognito:username": username,
            "origin_jti": str(uuid.uuid4()),
            "event_id": str(uuid.uuid4()),
            "jti": str(uuid.uuid4()),
        }
        if email is not None:
            base.update({"email": email, "email_verified": True})
        if groups is not None:
            base["cognito:groups"] = list(groups)
        if roles is not None:
            base["cognito:roles"] = list(roles)
        if preferred_role is not None:
            base["cognito:preferred_role"] = preferred_role
        if nonce is not None:
            base["nonce"] = nonce
        for name, value in (custom or {}).items():
            base[f"custom:{name}"] = value
        return self._mint(
            base,
            key=key or self.id_key,
            claims=claims,
            headers=headers,
            issued_at=issued_at,
            expires_in=expires_in,
            bad_signature=bad_signature,
        )

    def client_credentials_token(
        self,
        *,
        client_id: str | None = None,
        scopes: Iterable[str] = ("orders/read",),
        claims: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        issued_at: float | None = None,
        expires_in: float = 3600,
        bad_signature: bool = False,
        key: SigningKeyPair | None = None,
    ) -> str:
        """A machine-to-machine access token: ``sub`` is the client id, no username, no groups."""
        client = client_id or self.client_id
        base: dict[str, Any] = {
            "sub": client,
            "token_use": "access",
            "scope": " ".join(scopes),
            "auth_time": 0,
            "client_id": client,
            "jti": str(uuid.uuid4()),
            "version": 2,
        }
        return self._mint(
            base,
            key=key or self.access_key,
            claims=claims,
            headers=headers,
            issued_at=issued_at,
            expires_in=expires_in,
            bad_signature=bad_signature,
        )
