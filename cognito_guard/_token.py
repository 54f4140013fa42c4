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
from typing import Any, NamedTuple, NoReturn

from .errors import AlgorithmError, MalformedTokenError

__all__ = [
    "Header",
    "b64url_decode",
    "b64url_encode",
    "check_header",
    "decode",
    "decode_json_object",
    "parse_header",
    "split",
    "split_padded",
]

_B64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
# The token is translated once from base64url to standard base64 (what binascii decodes), with the characters that
# are standard-only ('+', '/') or padding ('=') made invalid ('!'), so the strict decoder refuses all non-base64url.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
# The same for tokens whose segments may end in '=' padding (ALB): '=' is kept, for split_padded to check and remove.
_TO_STANDARD_PADDED = bytes.maketrans(b"-_+/", b"+/!!")
# Value of each byte of the standard alphabet; 0xFF marks a byte outside it.
_VALUE = bytes(_B64.index(byte) if byte in _B64 else 0xFF for byte in range(256))
# By segment length modulo 4: the padding that completes it, and the low bits its last character must leave zero.
# A length of 1 modulo 4 is impossible: every bit counts as stray (0xFF also catches bytes outside the alphabet).
_PADDING = (b"", b"", b"==", b"=")
# By the length modulo 4 of a segment without its padding: how many '=' a padded encoder appends (-1: impossible).
_PADDING_LENGTH = (0, -1, 2, 1)
_STRAY_BITS = (0, 0xFF, 0b1111, 0b11)
_SEGMENT = re.compile(rb"[A-Za-z0-9+/]+")
_scan_json: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
_JSON_WHITESPACE = " \t\n\r"


class Header(NamedTuple):
    alg: str
    kid: str


def _refuse_spelling(segment: bytes) -> NoReturn:
    if not segment:
        raise MalformedTokenError("token has an empty segment")
    if len(segment) & 3 == 1:
        raise MalformedTokenError("token segment is not valid base64url (impossible length)")
    raise MalformedTokenError("token segment is not valid base64url (stray bits in its last character)")


def _decode_strict(segment: bytes) -> bytes:
    """Decode one segment from :func:`split`, strictly: a character outside base64url, a length no encoder produces,
    or stray bits in the last character (another spelling of the same bytes) is malformed. Python 3.11+."""
    remainder = len(segment) & 3
    if (_VALUE[segment[-1]] & _STRAY_BITS[remainder]) if segment else True:
        _refuse_spelling(segment)
    try:
        return binascii.a2b_base64(segment + _PADDING[remainder], strict_mode=True)  # type: ignore[call-arg,unused-ignore]
    except binascii.Error:  # e.g. a length of 1 modulo 4 ending in "A" (no stray bits to see)
        raise MalformedTokenError("token segment is not valid base64url") from None


def _decode_checked(segment: bytes) -> bytes:
    """:func:`_decode_strict` for Python 3.10, which has no strict mode: the alphabet is checked first."""
    remainder = len(segment) & 3
    if (_VALUE[segment[-1]] & _STRAY_BITS[remainder]) if segment else True:
        _refuse_spelling(segment)
    if _SEGMENT.fullmatch(segment) is None:
        raise MalformedTokenError("token segment is not valid base64url")
    try:
        return binascii.a2b_base64(segment + _PADDING[remainder])
    except binascii.Error:  # e.g. a length of 1 modulo 4 ending in "A" (no stray bits to see)
        raise MalformedTokenError("token segment is not valid base64url") from None


decode: Callable[[bytes], bytes] = _decode_strict if sys.version_info >= (3, 11) else _decode_checked


def b64url_decode(segment: str) -> bytes:
    """Decode one unpadded base64url segment strictly (convenience for tools and tests; not the hot path)."""
    return decode(segment.encode("ascii", "replace").translate(_TO_STANDARD))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _ascii(token: object, max_length: int) -> bytes:
    """The token as ASCII bytes, after checking its type and length (before any decoding)."""
    if not isinstance(token, str):
        raise MalformedTokenError(f"token must be a str, not {type(token).__name__}")
    if len(token) > max_length:
        raise MalformedTokenError(f"token is longer than {max_length} characters")
    try:
        return token.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedTokenError("token contains non-ASCII characters") from None


def split(token: object, max_length: int) -> tuple[bytes, bytes, bytes, bytes]:
    """Check the token's type and length (before any decoding) and take it apart.

    Returns ``(header, payload, signature, signing_input)``: the three segments translated to standard base64 for
    :func:`decode` (which checks them), and the exact bytes the signature covers. Raises :class:`MalformedTokenError`.
    """
    data = _ascii(token, max_length)
    parts = data.translate(_TO_STANDARD).split(b".")
    if len(parts) != 3:
        raise MalformedTokenError("token is not three base64url segments separated by dots")
    header, payload, signature = parts
    return header, payload, signature, data[: len(header) + 1 + len(payload)]


def _unpad(segment: bytes) -> bytes:
    """``segment`` without its '=' padding, which must be exactly what a padding encoder appends."""
    bare = segment.rstrip(b"=")
    padding = len(segment) - len(bare)
    if padding and padding != _PADDING_LENGTH[len(bare) & 3]:
        raise MalformedTokenError("token segment has the wrong '=' padding for its length")
    if b"=" in bare:
        raise MalformedTokenError("token segment has '=' before its end")
    return bare


def split_padded(token: object, max_length: int) -> tuple[bytes, bytes, bytes, bytes]:
    """:func:`split` for tokens whose segments may keep their base64 '=' padding, as an ALB writes them.

    Each segment is either unpadded or padded exactly as base64 pads its length (``==`` or ``=``, never more, never
    inside); the padding is removed for :func:`decode`, and ``signing_input`` keeps it: the signature covers the text
    as sent. Raises :class:`MalformedTokenError`.
    """
    data = _ascii(token, max_length)
    parts = data.translate(_TO_STANDARD_PADDED).split(b".")
    if len(parts) != 3:
        raise MalformedTokenError("token is not three base64url segments separated by dots")
    header, payload, signature = parts
    signing_input = data[: len(header) + 1 + len(payload)]
    return _unpad(header), _unpad(payload), _unpad(signature), signing_input


def decode_json_object(segment: bytes, what: str) -> dict[str, Any]:
    """Decode a segment from :func:`split` holding a JSON object; anything else is a :class:`MalformedTokenError`."""
    try:
        text = decode(segment).decode("utf-8")
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
    if b" " in segment:
        raise MalformedTokenError("token contains a space (pass the bare token, without a 'Bearer ' prefix)")
    return check_header(decode_json_object(segment, "header"), algorithms)


def check_header(header: dict[str, Any], algorithms: frozenset[str]) -> Header:
    """Check a decoded protected header (see :func:`parse_header`) and return its ``alg`` and ``kid``."""
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in algorithms:
        raise AlgorithmError(f"token algorithm is not allowed (allowed: {', '.join(sorted(algorithms))})")
    if "crit" in header:
        raise AlgorithmError("token header has a 'crit' parameter, which is not supported")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise MalformedTokenError("token header has no string 'kid'")
    return Header(alg, kid)
