"""Both base64url segment decoders, whichever Python runs them: the one for Python 3.11+ (binascii's strict mode)
and the one for Python 3.10 (the alphabet checked first). They must agree on every segment."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from cognito_guard import _token
from cognito_guard.errors import MalformedTokenError

DECODERS = [
    pytest.param(_token._decode_checked, id="python-3.10"),
    pytest.param(
        _token._decode_strict,
        id="python-3.11+",
        marks=pytest.mark.skipif(sys.version_info < (3, 11), reason="binascii has no strict mode before 3.11"),
    ),
]


def segment(text: str) -> bytes:
    """A segment as split() hands it over: base64url translated to standard base64."""
    return text.encode("ascii").translate(_token._TO_STANDARD)


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(("text", "data"), [("YWJj", b"abc"), ("YWI", b"ab"), ("YQ", b"a"), ("-_-_", b"\xfb\xff\xbf")])
def test_canonical_segments_decode(decode: Callable[[bytes], bytes], text: str, data: bytes) -> None:
    assert decode(segment(text)) == data


@pytest.mark.parametrize("decode", DECODERS)
@pytest.mark.parametrize(
    "text",
    [
        "YWJjA",  # a length of 1 modulo 4 that ends in "A": no stray bits to see, still no encoder's output
        "YWJjZ",
        "YR",  # stray bits in the last character
        "YWJ=",
        "YW+j",
        "YW/j",
        "YW j",
        "",
    ],
)
def test_malformed_segments_are_refused_with_the_librarys_error(decode: Callable[[bytes], bytes], text: str) -> None:
    with pytest.raises(MalformedTokenError):
        decode(segment(text))
