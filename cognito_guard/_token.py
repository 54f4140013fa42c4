"""Parsing a compact JWS: strict shape checks while decoding, JSON objects after.

Nothing here trusts the token: it only takes it apart. Signature and claims are checked by the verifier. This is the
hot path of every cold verification, so it works on bytes and lets C code (``binascii``, ``json``) do the scanning.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
from collections.abc import Callable
from typing import Any, NamedTuple

from .errors import AlgorithmError, MalformedTokenError

__all__ = ["Header", "b64url_decode", "b64url_encode", "decode_json_object", "parse_header", "split"]

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# Value of each byte in the base64url alphabet; 0xFF marks a byte outside it.
_VALUE = bytes(_B64URL.index(byte) if byte in _B64URL else 0xFF for byte in range(256))
# Map base64url to standard base64 for binascii, and make the standard-only characters and '=' invalid, so that the
# strict decoder rejects anything that is not base64url.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_STANDARD_SEGMENT = re.compile(rb"[A-Za-z0-9+/]+={0,2}")
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = " \t\n\r"


class Header(NamedTuple):
    alg: str
    kid: str


def b64url_decode(segment: bytes) -> bytes:
    """Decode one unpadded base64url segment, strictly: any other character, a length that cannot be base64, or
    stray bits in the last character (another spelling of the same bytes) is a :class:`MalformedTokenError`."""
    remainder = len(segment) & 3
    padding = b""
    if remainder:
        if remainder == 1:
            raise MalformedTokenError("token segment is not valid base64url (impossible length)")
        if _VALUE[segment[-1]] & (0b1111 if remainder == 2 else 0b11):
            raise MalformedTokenError("token segment is not valid base64url (stray bits in its last character)")
        padding = b"==" if remainder == 2 else b"="
    elif not segment:
        raise MalformedTokenError("token has an empty segment")
    try:
        return _a2b_strict(segment.translate(_TO_STANDARD) + padding)
    except binascii.Error:
        raise MalformedTokenError("token segment is not valid base64url") from None


if sys.version_info >= (3, 11):

    def _a2b_strict(data: bytes) -> bytes:
        return binascii.a2b_base64(data, strict_mode=True)

else:  # pragma: no cover - Python 3.10 has no strict mode: check the alphabet first

    def _a2b_strict(data: bytes) -> bytes:
        if _STANDARD_SEGMENT.fullmatch(data) is None:
            raise binascii.Error("not base64")
        return binascii.a2b_base64(data)


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def split(token: object, max_length: int) -> tuple[bytes, bytes, bytes, bytes]:
    """Check the token's type and length (before any decoding) and split it.

    Returns ``(header, payload, signature, signing_input)`` as ASCII bytes; the segments are checked when decoded.
    """
    if not isinstance(token, str):
        raise MalformedTokenError(f"token must be a str, not {type(token).__name__}")
    if len(token) > max_length:
        raise MalformedTokenError(f"token is longer than {max_length} characters")
    if " " in token:
        raise MalformedTokenError("token contains a space (pass the bare token, without a 'Bearer ' prefix)")
    try:
        data = token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedTokenError("token contains non-ASCII characters") from None
    parts = data.split(b".")
    if len(parts) != 3:
        raise MalformedTokenError("token is not three base64url segments separated by dots")
    header, payload, signature = parts
    return header, payload, signature, data[: len(header) + 1 + len(payload)]


def decode_json_object(segment: bytes, what: str) -> dict[str, Any]:
    """Decode a base64url segment holding a JSON object; anything else is a :class:`MalformedTokenError`."""
    try:
        text = b64url_decode(segment).decode("utf-8")
        try:
            # The C scanner without json.loads' Python wrappers: a measurable share of a cold verification.
            value, end = _scan_json(text, 0)
        except StopIteration:  # leading whitespace or not JSON: let json.loads decide
            value, end = json.loads(text), len(text)
        if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
            raise ValueError("extra data")
    except (ValueError, RecursionError):
        raise MalformedTokenError(f"token {what} is not valid JSON") from None
    if type(value) is not dict:
        raise MalformedTokenError(f"token {what} is not a JSON object")
    return value


def parse_header(segment: bytes, algorithms: frozenset[str]) -> Header:
    """Decode and check the protected header: an allowed ``alg``, a string ``kid``, no ``crit``.

    ``jku``, ``x5u``, ``jwk`` and ``x5c`` are ignored on purpose: a token never gets to choose the key that checks it.
    """
    header = decode_json_object(segment, "header")
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise AlgorithmError(f"token algorithm is not allowed (allowed: {', '.join(sorted(algorithms))})")
    if "crit" in header:
        raise AlgorithmError("token header has a 'crit' parameter, which is not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedTokenError("token header has no string 'kid'")
    return Header(alg, kid)
