"""ALB tokens keep their base64 ``=`` padding and the signature covers the padded text: padding is accepted exactly
as a padding encoder writes it, and nowhere else (issue 13: "padding variants").

Each segment may be unpadded or carry the ``=``\\s its length needs; too many, too few, padding inside a segment or on
a segment that needs none are malformed. Cognito tokens (``_token.split``) still refuse every ``=``.
"""

from __future__ import annotations

import base64
import json

import pytest

from cognito_guard import _token, errors
from cognito_guard.testing import LocalAlb, LocalIssuer

ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"


@pytest.fixture
def alb(issuer: LocalIssuer) -> LocalAlb:
    return LocalAlb(alb_arn=ARN, pool=issuer)


def padded_token_with_every_segment_padded(alb: LocalAlb) -> str:
    """A token whose three segments all carry padding (the header and payload lengths are nudged until they do)."""
    for extra in range(12):
        token = alb.data_token(claims={"x": "a" * extra}, headers={"typ": "J" * (extra % 3 + 1)})
        if all(part.endswith("=") for part in token.split(".")):
            return token
    raise AssertionError("no fully padded token found")


def with_segment(token: str, index: int, segment: str) -> str:
    parts = token.split(".")
    parts[index] = segment
    return ".".join(parts)


# -- what an ALB sends -------------------------------------------------------------------------------------------------


def test_local_alb_pads_every_segment_as_the_alb_does(alb: LocalAlb) -> None:
    token = padded_token_with_every_segment_padded(alb)

    assert all(len(part) % 4 == 0 for part in token.split("."))
    assert token.split(".")[2].endswith("==")  # 64 signature bytes: 86 characters and two '='


def test_token_with_every_segment_padded_is_accepted(alb: LocalAlb) -> None:
    claims = alb.verifier().verify_sync(padded_token_with_every_segment_padded(alb))

    assert claims.username == "alice"


def test_token_without_any_padding_is_accepted_too(alb: LocalAlb) -> None:
    token = alb.data_token(padded=False)

    assert "=" not in token
    assert alb.verifier().verify_sync(token).username == "alice"


def test_padding_stripped_from_a_padded_token_breaks_its_signature(alb: LocalAlb) -> None:
    token = padded_token_with_every_segment_padded(alb)
    header, payload, signature = token.split(".")
    stripped = f"{header.rstrip('=')}.{payload.rstrip('=')}.{signature}"

    with pytest.raises(errors.SignatureError):
        alb.verifier().verify_sync(stripped)


def test_padding_added_to_an_unpadded_token_breaks_its_signature(alb: LocalAlb) -> None:
    unpadded = alb.data_token(padded=False)
    header, payload, signature = unpadded.split(".")
    padded = ".".join(part + "=" * (-len(part) % 4) for part in (header, payload)) + f".{signature}"
    assert padded != unpadded

    with pytest.raises(errors.SignatureError):
        alb.verifier().verify_sync(padded)


def test_padding_stripped_from_the_signature_alone_is_still_the_same_signature(alb: LocalAlb) -> None:
    header, payload, signature = padded_token_with_every_segment_padded(alb).split(".")

    assert alb.verifier().verify_sync(f"{header}.{payload}.{signature.rstrip('=')}").username == "alice"


# -- what no encoder writes --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1, 2])
def test_one_padding_character_too_many_is_malformed(alb: LocalAlb, index: int) -> None:
    token = padded_token_with_every_segment_padded(alb)

    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(with_segment(token, index, token.split(".")[index] + "="))


def test_one_padding_character_too_few_is_malformed(alb: LocalAlb) -> None:
    header, payload, signature = padded_token_with_every_segment_padded(alb).split(".")
    assert signature.endswith("==")

    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(f"{header}.{payload}.{signature[:-1]}")


@pytest.mark.parametrize("index", [0, 1, 2])
def test_padding_on_a_segment_that_needs_none_is_malformed(alb: LocalAlb, index: int) -> None:
    token = alb.data_token(padded=False)
    segment = token.split(".")[index]
    segment = segment + "A" * (-len(segment) % 4)  # now a multiple of 4 long: no padding is right for it

    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(with_segment(token, index, segment + "=="))


def test_padding_inside_a_segment_is_malformed(alb: LocalAlb) -> None:
    header, payload, signature = alb.data_token(padded=False).split(".")

    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(f"{header}.{payload[:8]}=={payload[8:]}.{signature}")


@pytest.mark.parametrize("segment", ["=", "==", "===", "===="])
def test_segment_of_padding_only_is_malformed(alb: LocalAlb, segment: str) -> None:
    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(with_segment(alb.data_token(), 1, segment))


def test_standard_base64_characters_are_malformed(alb: LocalAlb) -> None:
    header, payload, signature = alb.data_token().split(".")
    standard = signature.replace("-", "+").replace("_", "/")
    if standard == signature:
        standard = "+" + signature[1:]

    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(f"{header}.{payload}.{standard}")


def test_stray_bits_before_the_padding_are_malformed(alb: LocalAlb) -> None:
    header, payload, signature = padded_token_with_every_segment_padded(alb).split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = signature[-3]  # the character before "==": only its top 2 bits count
    spelled = signature[:-3] + alphabet[alphabet.index(last) | 1] + "=="

    with pytest.raises(errors.MalformedTokenError):
        alb.verifier().verify_sync(f"{header}.{payload}.{spelled}")


# -- the parser itself -------------------------------------------------------------------------------------------------


def test_split_padded_keeps_the_padded_text_as_the_signing_input() -> None:
    header = base64.urlsafe_b64encode(json.dumps({"alg": "ES256"}).encode()).decode()
    payload = base64.urlsafe_b64encode(b'{"a":1}').decode()
    token = f"{header}.{payload}.AAAA"

    *_, signing_input = _token.split_padded(token, 1000)

    assert signing_input == f"{header}.{payload}".encode()
    assert payload.endswith("=")


def test_split_padded_hands_decode_the_segments_without_padding() -> None:
    payload = base64.urlsafe_b64encode(b'{"a":1}').decode()

    _, segment, *_ = _token.split_padded(f"e30.{payload}.AAAA", 1000)

    assert _token.decode_json_object(segment, "payload") == {"a": 1}


def test_cognito_tokens_still_refuse_any_padding(issuer: LocalIssuer) -> None:
    header, payload, signature = issuer.access_token().split(".")
    padded = ".".join(part + "=" * (-len(part) % 4) for part in (header, payload, signature))
    assert padded.count("=")

    with pytest.raises(errors.MalformedTokenError):
        issuer.verifier().verify_sync(padded)
