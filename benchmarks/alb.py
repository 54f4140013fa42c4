"""How fast AlbVerifier verifies the ``x-amzn-oidc-data`` tokens an ALB signs, next to one bare ES256 check.

The method is verify.py's (``paired_rounds``): each round times the floor first (one ``cryptography`` ECDSA P-256 /
SHA-256 check per token, over pre-split signing input and a signature converted to DER beforehand: the cost no
verifier can go below) and then every AlbVerifier path on the same tokens; the table shows the median of the
per-round ratios. The target (issue 13): a cold verification (a token the verifier has not seen) within 1.5x the
floor.

Run ``.venv/bin/python benchmarks/alb.py [--tokens 2000] [--rounds 5]``. The exit code is 0 whether the target is met
or not (1 only if the verifier rejects a benchmark token, which would make the figures meaningless).
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Callable, Sequence

import cryptography
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from verify import Pass, Row, paired_rounds, table, timed  # benchmarks/ is on sys.path when a script in it runs

from cognito_guard import AlbVerifier, _token
from cognito_guard.testing import LocalAlb, LocalIssuer

ALB_ARN = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/orders-alb/50dc6c495c0c9188"
WARMUP_TOKENS = 200  # distinct tokens used only to warm the interpreter and the verifiers, never timed
COLD_TARGET = 1.5
COLD_LABEL = "AlbVerifier cold, verify_sync"
FLOOR_LABEL = "floor: cryptography ECDSA P-256/SHA256 verify"


def mint(alb: LocalAlb, count: int, prefix: str) -> list[str]:
    """``count`` distinct ALB tokens, padded and shaped as an ALB in front of Cognito writes them."""
    return [
        alb.data_token(username=f"{prefix}{i:05d}", email=f"{prefix}{i}@example.com", expires_in=3600)
        for i in range(count)
    ]


def floor_pass(alb: LocalAlb, tokens: Sequence[str]) -> Callable[[], None]:
    """One bare ES256 check per token; splitting, decoding and the R||S -> DER conversion happen beforehand."""
    public_key = alb.key.private_key.public_key()
    ecdsa = ec.ECDSA(hashes.SHA256())
    inputs: list[tuple[bytes, bytes]] = []
    for token in tokens:
        signing_input, _, signature = token.rpartition(".")
        raw = _token.b64url_decode(signature.rstrip("="))
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        inputs.append((der, signing_input.encode()))

    def run() -> None:
        verify = public_key.verify
        for signature, data in inputs:
            verify(signature, data, ecdsa)  # raises InvalidSignature on a bad one

    return run


def new_verifier(alb: LocalAlb, warmup: Sequence[str], cache_size: int = 10_000) -> AlbVerifier:
    """A verifier with the keys offline that has already verified the warm-up tokens, like a running service."""
    verifier = alb.verifier(cache_size=cache_size)
    for token in warmup:
        verifier.verify_sync(token)
    return verifier


def sync_pass(alb: LocalAlb, tokens: Sequence[str], warmup: Sequence[str], *, seen: bool, cache: int = 10_000) -> Pass:
    def run() -> float:
        verifier = new_verifier(alb, warmup, cache)
        verify = verifier.verify_sync
        if seen:
            for token in tokens:
                verify(token)

        def each() -> None:
            for token in tokens:
                verify(token)

        return timed(each, len(tokens))

    return run


def async_pass(alb: LocalAlb, tokens: Sequence[str], warmup: Sequence[str], loop: asyncio.AbstractEventLoop) -> Pass:
    def run() -> float:
        verifier = new_verifier(alb, warmup)

        async def each() -> float:
            verify = verifier.verify
            start = time.perf_counter()
            for token in tokens:
                await verify(token)
            return time.perf_counter() - start

        return loop.run_until_complete(each()) * 1e6 / len(tokens)

    return run


def measure(alb: LocalAlb, tokens: list[str], warmup: list[str], rounds: int) -> list[Row]:
    loop = asyncio.new_event_loop()
    try:
        for _ in range(2):  # warm the interpreter, and check every path accepts the tokens
            floor_pass(alb, warmup)()
            new_verifier(alb, warmup)
        floor = floor_pass(alb, tokens)
        paths: list[tuple[str, float | None, Pass]] = [
            (FLOOR_LABEL, None, lambda: timed(floor, len(tokens))),
            (COLD_LABEL, COLD_TARGET, sync_pass(alb, tokens, warmup, seen=False)),
            ("AlbVerifier cold, await verify", COLD_TARGET, async_pass(alb, tokens, warmup, loop)),
            ("AlbVerifier cold, verify_sync, cache_size=0", None, sync_pass(alb, tokens, warmup, seen=False, cache=0)),
            ("AlbVerifier warm, verify_sync", None, sync_pass(alb, tokens, warmup, seen=True)),
        ]
        timings = paired_rounds([run for _, _, run in paths], rounds)
        return [Row(label, timing, target) for (label, target, _), timing in zip(paths, timings, strict=True)]
    finally:
        loop.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per pass (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes of each path (default 5)")
    args = parser.parse_args(argv)
    if args.tokens < 1 or args.rounds < 1:
        parser.error("--tokens and --rounds must be at least 1")

    alb = LocalAlb(alb_arn=ALB_ARN, pool=LocalIssuer(user_pool_id="eu-west-1_Bench1234"))
    tokens, warmup = mint(alb, args.tokens, "user"), mint(alb, WARMUP_TOKENS, "warmup")
    try:
        rows = measure(alb, tokens, warmup, args.rounds)
    except Exception as error:  # a rejected token: the figures would mean nothing
        print(f"AlbVerifier rejected a benchmark token: {type(error).__name__}: {error}", file=sys.stderr)
        return 1

    print(
        f"{len(tokens)} distinct ES256 ALB tokens (x-amzn-oidc-data, padded), {args.rounds} rounds; each round times "
        "the floor, then every path on the same tokens"
    )
    print("median over the rounds of: microseconds per token, and the ratio to the floor of the same round (min-max)")
    print(f"Python {platform.python_version()}, cryptography {cryptography.__version__}")
    print()
    print("\n".join(table(rows, "AlbVerifier (ratios to the ES256 floor)")))
    print()
    print(f"target: AlbVerifier cold <= {COLD_TARGET}x floor (median of the per-round ratios)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
