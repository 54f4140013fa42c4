"""Signing keys: parse a JWKS into keys that verify, and the key sets the verifier asks for a ``kid``.

Public through :mod:`cognito_guard.jwks`.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt import PyJWK
from jwt.algorithms import Algorithm, get_default_algorithms
from jwt.exceptions import PyJWTError

from .errors import ConfigurationError, KeyNotFoundError

logger = logging.getLogger("cognito_guard.jwks")

_ALGORITHMS: dict[str, Algorithm] = get_default_algorithms()
# Which JWS algorithms each key type can serve; a token's ``alg`` must fit the key that checks it.
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
_MIN_RSA_BITS = 2048
_PKCS1V15 = PKCS1v15()
# DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017, section 9.2, note 1).
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


class JWKSError(ValueError):
    """A document or key that cannot be used as a JSON Web Key Set."""


@dataclass(frozen=True, eq=False)
class SigningKey:
    """One public signing key from a JWKS, parsed once and reused for every token it signed."""

    kid: str
    public_key: Any
    algorithms: frozenset[str]
    jwk: Mapping[str, Any] = field(repr=False)
    # The length of every RS256 signature by this key: that of the modulus in bytes (RFC 8017, section 8.2.2).
    _rsa_signature_length: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        length = (self.public_key.key_size + 7) // 8 if "RS256" in self.algorithms else -1
        object.__setattr__(self, "_rsa_signature_length", length)

    def verify(self, alg: str, signing_input: bytes, signature: bytes) -> bool:
        """True when ``signature`` is this key's ``alg`` signature over ``signing_input``."""
        if alg == "RS256":
            # Cognito's algorithm, on every cold verification. OpenSSL undoes the RSA operation and checks the PKCS#1
            # v1.5 type-1 padding; we then compare the whole remaining block with the DigestInfo we expect, byte for
            # byte (the RFC 8017 way: encode and compare, never parse). The length check comes first: OpenSSL also
            # takes a signature missing its leading zero bytes, a second token string for one signature, which
            # RSAPublicKey.verify and PyJWT refuse. With it, the same answer as RSAPublicKey.verify, ~2 us less.
            if len(signature) != self._rsa_signature_length:
                return False
            try:
                recovered = self.public_key.recover_data_from_signature(signature, _PKCS1V15, None)
            except (InvalidSignature, ValueError):
                return False
            return bool(recovered == _SHA256_DIGEST_INFO + hashlib.sha256(signing_input).digest())
        return bool(_ALGORITHMS[alg].verify(signing_input, self.public_key, signature))


def _algorithms_for(jwk: Mapping[str, Any]) -> frozenset[str]:
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if kty == "RSA":
        fitting = _RSA_ALGORITHMS
    elif kty == "EC" and isinstance(crv, str) and crv in _EC_ALGORITHMS:
        fitting = frozenset({_EC_ALGORITHMS[crv]})
    elif kty == "OKP" and crv == "Ed25519":
        fitting = frozenset({"EdDSA"})
    else:
        raise JWKSError("unsupported key type (only public RSA, EC and Ed25519 signing keys are used)")
    declared = jwk.get("alg")
    if declared is None:
        return fitting
    if not isinstance(declared, str) or declared not in fitting:
        raise JWKSError("the key's 'alg' does not fit its key type")
    return frozenset({declared})


def parse_key(jwk: object) -> SigningKey:
    """Parse one JWK into a :class:`SigningKey`; raises :class:`JWKSError` if it cannot sign-verify."""
    if not isinstance(jwk, dict):
        raise JWKSError("key is not a JSON object")
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JWKSError("key has no string 'kid'")
    if jwk.get("use", "sig") != "sig":
        raise JWKSError("key is not a signing key ('use' is not 'sig')")
    algorithms = _algorithms_for(jwk)
    try:
        public_key = PyJWK(jwk, algorithm=next(iter(sorted(algorithms)))).key
    except (PyJWTError, ValueError, TypeError, KeyError) as error:
        raise JWKSError(f"key cannot be loaded: {type(error).__name__}") from None
    if hasattr(public_key, "public_key"):  # a private JWK was published: use only its public half
        public_key = public_key.public_key()
    if jwk.get("kty") == "RSA" and public_key.key_size < _MIN_RSA_BITS:
        raise JWKSError(f"RSA key is shorter than {_MIN_RSA_BITS} bits")
    return SigningKey(kid=kid, public_key=public_key, algorithms=algorithms, jwk=dict(jwk))


def parse_pem_key(kid: str, pem: bytes) -> SigningKey:
    """Parse one PEM public key (as an ALB key server publishes it, one per ``kid``) into an ES256
    :class:`SigningKey`; raises :class:`JWKSError` unless it is a P-256 public key."""
    try:
        public_key = load_pem_public_key(pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise JWKSError("not a PEM public key") from None
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(public_key.curve, ec.SECP256R1):
        raise JWKSError("not a P-256 (ES256) public key")
    numbers = public_key.public_numbers()
    # The JWK form of the key: what SigningKey compares to tell an unchanged key from a new one.
    jwk = {"kid": kid, "kty": "EC", "crv": "P-256", "x": numbers.x, "y": numbers.y}
    return SigningKey(kid=kid, public_key=public_key, algorithms=frozenset({"ES256"}), jwk=jwk)


def parse_jwks(document: object, *, source: str = "JWKS") -> dict[str, SigningKey]:
    """Parse a JWKS document into signing keys by ``kid``.

    Single malformed, unsupported or non-signing keys are skipped (and logged); a document that is not a JWKS, or
    holds no usable signing key, raises :class:`JWKSError`.
    """
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSError("document is not a JWKS (a JSON object with a 'keys' array)")
    keys: dict[str, SigningKey] = {}
    for index, jwk in enumerate(document["keys"]):
        try:
            key = parse_key(jwk)
        except JWKSError as error:
            logger.warning("skipping key #%d of %s: %s", index, source, error)
            continue
        if key.kid in keys:
            logger.warning("skipping key #%d of %s: duplicate kid", index, source)
            continue
        keys[key.kid] = key
    if not keys:
        raise JWKSError("JWKS holds no usable signing key")
    return keys


def load_jwks_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a JWKS JSON file (for offline verification); raises :class:`ConfigurationError` if unusable."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"cannot read JWKS file {os.fspath(path)!r}: {error}") from None
    if not isinstance(document, dict):
        raise ConfigurationError(f"JWKS file {os.fspath(path)!r} is not a JSON object")
    return document


def is_loopback_url(url: str) -> bool:
    """True for URLs to localhost or a loopback IP address (never for names that merely start with "127.")."""
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_key_url(url: str, what: str) -> None:
    """Raise :class:`ConfigurationError` unless ``url`` is https, or http to a loopback host."""
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port  # .port raises ValueError outside 0-65535
        # As httpx reads it to build a request: a host its IDNA codec refuses (https://xn--a.com) fails here, at
        # construction, not on every fetch.
        httpx.URL(url).host  # noqa: B018
    except (ValueError, TypeError, AttributeError, httpx.InvalidURL):
        raise ConfigurationError(f"{what} is not a valid URL: {url!r}") from None
    if parts.scheme == "https" and host:
        return
    if parts.scheme == "http" and is_loopback_url(url):
        return
    raise ConfigurationError(f"{what} must be an https:// URL (http:// only for localhost): {url!r}")


class KeySet(Protocol):
    """What the verifier needs from a key set."""

    def lookup(self, kid: str, now: float) -> SigningKey | None:
        """The key if it is usable right now without I/O, else None (then call ``get_key``)."""

    async def get_key(self, kid: str) -> SigningKey:
        """The key for ``kid``, fetching if needed; raises KeyNotFoundError or KeysUnavailableError."""

    def get_key_sync(self, kid: str) -> SigningKey:
        """Like ``get_key`` for synchronous callers; never needs an event loop."""

    async def warm_up(self) -> None:
        """Load the keys now (application start); raises KeysUnavailableError if none can be had."""

    def warm_up_sync(self) -> None:
        """Synchronous ``warm_up``."""


class StaticKeySet:
    """Preloaded keys (offline verification): never touches the network."""

    def __init__(self, jwks: Mapping[str, Any], *, source: str = "preloaded JWKS") -> None:
        try:
            self._keys = parse_jwks(dict(jwks), source=source)
        except JWKSError as error:
            raise ConfigurationError(f"{source} is unusable: {error}") from None

    @classmethod
    def of(cls, keys: Mapping[str, SigningKey]) -> StaticKeySet:
        """A static set of already parsed keys (e.g. PEM keys by ``kid``)."""
        self = cls.__new__(cls)
        self._keys = dict(keys)
        return self

    @property
    def kids(self) -> frozenset[str]:
        return frozenset(self._keys)

    def lookup(self, kid: str, now: float) -> SigningKey | None:
        return self._keys.get(kid)

    async def get_key(self, kid: str) -> SigningKey:
        return self.get_key_sync(kid)

    async def warm_up(self) -> None:
        """Nothing to load: the keys were given."""

    def warm_up_sync(self) -> None:
        """Nothing to load: the keys were given."""

    def get_key_sync(self, kid: str) -> SigningKey:
        key = self._keys.get(kid)
        if key is None:
            raise KeyNotFoundError("token was signed by a key that is not in the preloaded key set")
        return key
