"""Review of the ALB verifier and the Lambda adapters (issue 13): defects found, each pinned by a test."""

from __future__ import annotations

import base64
from typing import Literal

import pytest
from conftest import Clock
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from cognito_guard import AlbClaims, AlbVerifier, JWKSCache
from cognito_guard.errors import MalformedTokenError, SignatureError
from cognito_guard.testing import LocalAlb

How = Literal["verify", "verify_sync"]


async def check(verifier: AlbVerifier, token: str, how: How) -> AlbClaims:
    if how == "verify":
        return await verifier.verify(token)
    return verifier.verify_sync(token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def _unusable_signatures(alb: LocalAlb, signing_input: str) -> dict[str, str]:
    der = alb.key.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    return {"empty": "", "three bytes": _b64(b"abc"), "DER": _b64(der), "not base64url": "!!!!"}


@pytest.mark.parametrize("how", ["verify", "verify_sync"])
@pytest.mark.parametrize("kind", ["empty", "three bytes", "DER", "not base64url"])
async def test_a_token_without_a_usable_es256_signature_never_makes_us_fetch_a_key(
    clock: Clock, how: How, kind: str
) -> None:
    alb = LocalAlb()
    header, payload, _ = alb.data_token().split(".")
    token = f"{header}.{payload}.{_unusable_signatures(alb, f'{header}.{payload}')[kind]}"
    with alb.serve_keys() as keys:
        verifier = alb.verifier(key_url=keys.key_url, jwks_cache=JWKSCache(clock=clock), clock=clock)
        with pytest.raises((MalformedTokenError, SignatureError)):
            await check(verifier, token, how)
        await verifier.aclose()

    assert keys.paths == []
