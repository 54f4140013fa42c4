"""Signing keys: parse a JWKS, fetch it (sync and async), cache it per URI, survive outages and rotation.

A key set answers one question on the hot path, ``lookup(kid, now)``: a plain dict lookup while the set is fresh.
Everything else (refresh on a TTL, refetch on an unknown ``kid``, backoff after failures, stale-if-error) happens only
when that lookup misses.
"""

from ._keys import (
    JWKSError,
    KeySet,
    SigningKey,
    StaticKeySet,
    check_key_url,
    is_loopback_url,
    load_jwks_file,
    parse_jwks,
    parse_key,
    parse_pem_key,
)
from ._remote_keys import FetchOptions, JWKSCache, RemoteKeySet

__all__ = [
    "FetchOptions",
    "JWKSCache",
    "JWKSError",
    "KeySet",
    "RemoteKeySet",
    "SigningKey",
    "StaticKeySet",
    "check_key_url",
    "is_loopback_url",
    "load_jwks_file",
    "parse_jwks",
    "parse_key",
    "parse_pem_key",
]
