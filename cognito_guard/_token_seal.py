"""Sealing what a client-credentials token source puts in a shared cache.

A cached access token is a bearer credential: whoever reads it can call the API as the app client until it expires. So
entries are encrypted and authenticated (AES-256-GCM) with a key derived from the client secret, and bound to their
entry name and slot. A leaked cache (a Redis snapshot, ``MONITOR`` output, a neighbour with read access) hands out no
usable token; an entry written by someone without the secret is not accepted; and a process holding another secret
(during a rotation) has entries of its own instead of fighting over one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import os
from collections.abc import Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["Vault"]

_VERSION = "v1."
_NONCE_BYTES = 12


def _derive(secret: str, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"cognito_guard client credentials: " + purpose)
    return hkdf.derive(secret.encode("utf-8", "surrogatepass"))


class Vault:
    """The sealing key and entry name of one token source (token URL, app client, scopes, secret)."""

    def __init__(self, *, token_url: str, client_id: str, scopes: Sequence[str] | None, secret: str) -> None:
        self._aead = AESGCM(_derive(secret, b"cache key"))
        identity = json.dumps([token_url, client_id, sorted(scopes) if scopes is not None else None])
        # The secret's share of the name is a derived value: the name reveals nothing a ciphertext does not already.
        digest = hashlib.sha256(identity.encode("utf-8", "surrogatepass") + _derive(secret, b"cache name"))
        self.name = digest.hexdigest()[:32]

    def seal(self, slot: str, document: dict[str, Any]) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        plain = json.dumps(document, separators=(",", ":")).encode()
        sealed = self._aead.encrypt(nonce, plain, f"{self.name}:{slot}".encode())
        return _VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def open(self, slot: str, value: str | None) -> dict[str, Any] | None:
        """The document sealed in ``value`` for ``slot``, or None for anything else (absent, forged, another key)."""
        if not value or not value.startswith(_VERSION):
            return None
        try:
            raw = base64.urlsafe_b64decode(value[len(_VERSION) :].encode("ascii"))
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], f"{self.name}:{slot}".encode())
            document = json.loads(plain)
        except (InvalidTag, ValueError, binascii.Error, UnicodeError):
            return None
        return document if isinstance(document, dict) else None


def number(document: dict[str, Any], field: str) -> float | None:
    """A finite number from an opened document, or None."""
    value = document.get(field)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)
