"""Sealer: authenticated encryption (AES-256-GCM, keys from HKDF-SHA256) of the small JSON documents that session and
sign-in cookies carry, with a purpose bound into each seal, an expiry inside it, and key rotation by listing secrets;
``unseal`` answers ``None`` for anything that is not a valid, unexpired seal of ours, since its input comes straight
from a browser."""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ..errors import ConfigurationError

__all__ = ["Sealer", "_TooLargeError"]

_VERSION = 1
_NONCE_SIZE = 12
_TAG_SIZE = 16
_MAX_SEALED_CHARS = 64 * 1024
_MIN_SECRET_LENGTH = 16
_HKDF_SALT = b"cognito_guard sealer salt"
_HKDF_INFO = b"cognito_guard sealer AES-256-GCM key v1"

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


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
