"""How fast cognito_guard verifies Cognito access tokens, next to the RSA floor, PyJWT and aws-jwt-verify.

Run ``make bench`` (or ``.venv/bin/python benchmarks/verify.py --tokens 2000 --rounds 5 [--no-node]``); see
benchmarks/README.md for what each line means. The targets are informative: the exit code is 0 whether they are met
or not (it is 1 only if a Python verifier rejects a token, which would make the figures meaningless).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cryptography
import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from cognito_guard import CognitoVerifier, _token
from cognito_guard.claims import Claims
from cognito_guard.jwks import SigningKey
from cognito_guard.testing import LocalIssuer

HERE = Path(__file__).resolve().parent
NODE_DIR = HERE / ".node"  # git-ignored; the script installs aws-jwt-verify here when missing
NODE_SCRIPT = HERE / "aws_jwt_verify.mjs"
AWS_JWT_VERIFY = NODE_DIR / "node_modules" / "aws-jwt-verify" / "package.json"

USER_POOL_ID = "eu-west-1_Bench1234"
CLIENT_ID = "3n4b5urk1ft4fl3mg5e62d9ado"
SCOPES = ("orders/read", "orders/write")
GROUP_SETS = (("staff",), ("staff", "admins"), ("customers",), ("customers", "beta-testers"))
WARMUP_TOKENS = 200  # distinct tokens used only to warm interpreters and verifiers, never timed

COLD_TARGET = 1.5
COLD_LABEL = "cognito_guard cold, verify_sync"
WARM_TARGET = 0.2


@dataclass
class Row:
    """One line of the table: per-round microseconds per token, and the target it is held to (if any)."""

    label: str
    rounds: list[float] = field(default_factory=list)
    target: float | None = None

    @property
    def best(self) -> float:
        return min(self.rounds)

    @property
    def median(self) -> float:
        return statistics.median(self.rounds)


# -- the tokens --------------------------------------------------------------------------------------------------------
def mint(issuer: LocalIssuer, count: int, prefix: str) -> list[str]:
    """``count`` distinct access tokens shaped like Cognito's: two scopes, one or two groups, an hour to live."""
    return [
        issuer.access_token(username=f"{prefix}{i:05d}", scopes=SCOPES, groups=GROUP_SETS[i % len(GROUP_SETS)])
        for i in range(count)
    ]


# -- what is measured --------------------------------------------------------------------------------------------------
def floor_pass(issuer: LocalIssuer, tokens: Sequence[str]) -> Callable[[], None]:
    """One ``cryptography`` RSA check per token over pre-split input; the cost no verifier can go below."""
    public_key = issuer.access_key.private_key.public_key()
    pkcs1v15, sha256 = padding.PKCS1v15(), hashes.SHA256()
    inputs: list[tuple[bytes, bytes]] = []
    for token in tokens:
        signing_input, _, signature = token.rpartition(".")
        inputs.append((base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)), signing_input.encode()))

    def run() -> None:
        verify = public_key.verify
        for signature, data in inputs:
            verify(signature, data, pkcs1v15, sha256)  # raises InvalidSignature on a bad one

    return run


def new_verifier(issuer: LocalIssuer, cache_size: int = 10_000) -> CognitoVerifier:
    return CognitoVerifier(
        user_pool_id=issuer.user_pool_id,
        client_id=issuer.client_id,
        token_use="access",
        jwks=issuer.jwks,
        cache_size=cache_size,
    )


def sync_pass(verifier: CognitoVerifier, tokens: Sequence[str]) -> Callable[[], None]:
    def run() -> None:
        verify = verifier.verify_sync
        for token in tokens:
            verify(token)

    return run


def async_pass(verifier: CognitoVerifier, tokens: Sequence[str]) -> Callable[[], Awaitable[float]]:
    """A coroutine that awaits ``verify`` on every token in turn and returns the seconds it took (timed inside)."""

    async def run() -> float:
        verify = verifier.verify
        start = time.perf_counter()
        for token in tokens:
            await verify(token)
        return time.perf_counter() - start

    return run


def pyjwt_pass(issuer: LocalIssuer, tokens: Sequence[str]) -> Callable[[], None]:
    """What users write today: PyJWT with a kid -> PyJWK dict, then the Cognito checks by hand."""
    keys = {jwk["kid"]: jwt.PyJWK(jwk) for jwk in issuer.jwks["keys"]}
    expected_issuer = issuer.issuer
    allowed_clients = {issuer.client_id}

    def verify(token: str) -> dict[str, Any]:
        key = keys.get(jwt.get_unverified_header(token).get("kid"))
        if key is None:
            raise jwt.InvalidTokenError("unknown signing key")
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=expected_issuer,
            options={"require": ["exp", "iat", "iss", "sub"]},
        )
        if claims.get("token_use") != "access":
            raise jwt.InvalidTokenError("not an access token")
        if claims.get("client_id") not in allowed_clients:
            raise jwt.InvalidTokenError("wrong app client")
        return claims

    def run() -> None:
        for token in tokens:
            verify(token)

    return run


def timed(run: Callable[[], object], count: int) -> float:
    """Microseconds per token of one pass."""
    gc.collect()
    start = time.perf_counter()
    run()
    return (time.perf_counter() - start) * 1e6 / count


def timed_async(loop: asyncio.AbstractEventLoop, run: Callable[[], Awaitable[float]], count: int) -> float:
    gc.collect()
    return loop.run_until_complete(run()) * 1e6 / count


# -- Python ------------------------------------------------------------------------------------------------------------
def measure_python(issuer: LocalIssuer, tokens: list[str], warmup: list[str], rounds: int) -> list[Row]:
    """Every Python path, interleaved round by round so that load on the machine hits them alike."""
    n = len(tokens)
    loop = asyncio.new_event_loop()
    try:
        floor = floor_pass(issuer, tokens)
        pyjwt_run = pyjwt_pass(issuer, tokens)
        # Warm the interpreter (and check every path accepts the tokens) on tokens that are never timed.
        for _ in range(2):
            floor_pass(issuer, warmup)()
            pyjwt_pass(issuer, warmup)()
            warm_verifier = new_verifier(issuer)
            sync_pass(warm_verifier, warmup)()
            loop.run_until_complete(async_pass(new_verifier(issuer), warmup)())

        rows = {
            "floor": Row("floor: cryptography RSA PKCS1v15/SHA256 verify"),
            "cold": Row(COLD_LABEL, target=COLD_TARGET),
            "cold_async": Row("cognito_guard cold, await verify", target=COLD_TARGET),
            "cold_uncached": Row("cognito_guard cold, verify_sync, cache_size=0"),
            "warm": Row("cognito_guard warm, verify_sync", target=WARM_TARGET),
            "warm_async": Row("cognito_guard warm, await verify", target=WARM_TARGET),
            "pyjwt": Row(f"PyJWT {jwt.__version__} jwt.decode + Cognito checks by hand"),
        }
        for _ in range(rounds):
            rows["floor"].rounds.append(timed(floor, n))

            # A fresh verifier that has already served other tokens (keys loaded, code paths hot): the measured
            # tokens are new to it, so each one is verified from scratch.
            verifier = new_verifier(issuer)
            sync_pass(verifier, warmup)()
            rows["cold"].rounds.append(timed(sync_pass(verifier, tokens), n))
            rows["warm"].rounds.append(timed(sync_pass(verifier, tokens), n))

            verifier = new_verifier(issuer)
            loop.run_until_complete(async_pass(verifier, warmup)())
            rows["cold_async"].rounds.append(timed_async(loop, async_pass(verifier, tokens), n))
            rows["warm_async"].rounds.append(timed_async(loop, async_pass(verifier, tokens), n))

            # What keeping results costs a first verification (storing the entry, holding its memory).
            verifier = new_verifier(issuer, cache_size=0)
            sync_pass(verifier, warmup)()
            rows["cold_uncached"].rounds.append(timed(sync_pass(verifier, tokens), n))

            rows["pyjwt"].rounds.append(timed(pyjwt_run, n))
        return list(rows.values())
    finally:
        loop.close()


# -- where a cold verification spends its time (--breakdown) -----------------------------------------------------------
# The stages of CognitoVerifier.verify_sync on a token it has not seen, calling the same private functions it calls
# (verifier.py: _parse, then _check). Benchmark-only access to internals: the figures must follow the real code.
STAGES = (
    "split the token",
    "payload: base64 + JSON",
    "signature: base64",
    "signature check: RSA + SHA-256",
    "claims checks",
    "Claims object",
)


def measure_stages(
    issuer: LocalIssuer, tokens: list[str], warmup: list[str], rounds: int
) -> tuple[list[float], list[float]]:
    """Each stage's microseconds per token, best of ``rounds``: timed in turn for each token (as verify_sync runs
    them, a signature check between one token's parsing and the next), and alone (one stage over all tokens)."""
    n = len(tokens)
    verifier = new_verifier(issuer)
    sync_pass(verifier, warmup)()
    pool = next(iter(verifier._pools.values()))
    max_length = verifier._max_token_length
    now = time.time()
    check_claims, split, decode, decode_payload = (
        verifier._check_claims,
        _token.split,
        _token.decode,
        _token.decode_json_object,
    )
    splits = [split(token, max_length) for token in tokens]
    signatures = [decode(parts[2]) for parts in splits]
    keys: list[SigningKey] = []
    for parts in splits:
        key = pool.key_set.lookup(_token.parse_header(parts[0], frozenset({"RS256"})).kid, now)
        if key is None:
            raise RuntimeError("a benchmark token's key is not in the verifier's key set")
        keys.append(key)
    clock = time.perf_counter_ns

    def in_turn() -> list[float]:
        spent = [0] * len(STAGES)
        for token, key in zip(tokens, keys, strict=True):
            t0 = clock()
            _, payload_segment, signature_segment, signing_input = split(token, max_length)
            t1 = clock()
            payload = decode_payload(payload_segment, "payload")
            t2 = clock()
            signature = decode(signature_segment)
            t3 = clock()
            verified = key.verify("RS256", signing_input, signature)
            t4 = clock()
            if not verified:
                raise RuntimeError("a benchmark token's signature did not verify")
            check_claims(payload, pool, now)
            t5 = clock()
            Claims.from_frozen(payload)
            t6 = clock()
            spent[0] += t1 - t0
            spent[1] += t2 - t1
            spent[2] += t3 - t2
            spent[3] += t4 - t3
            spent[4] += t5 - t4
            spent[5] += t6 - t5
        start = clock()  # what a clock() pair costs, taken off every stage
        for _ in tokens:
            clock()
        overhead = (clock() - start) / n
        return [(total / n - overhead) / 1000 for total in spent]

    def alone() -> list[float]:
        payloads = [decode_payload(parts[1], "payload") for parts in splits]  # the claims checks change them: fresh
        consume = collections.deque[object](maxlen=0).extend  # runs a generator through, keeps nothing
        passes: list[Callable[[], object]] = [
            lambda: consume(split(token, max_length) for token in tokens),
            lambda: consume(decode_payload(parts[1], "payload") for parts in splits),
            lambda: consume(decode(parts[2]) for parts in splits),
            lambda: consume(
                key.verify("RS256", parts[3], sig) for key, parts, sig in zip(keys, splits, signatures, strict=True)
            ),
            lambda: consume(check_claims(payload, pool, now) for payload in payloads),
            lambda: consume(Claims.from_frozen(payload) for payload in payloads),
        ]
        return [timed(run, n) for run in passes]

    best_in_turn = [float("inf")] * len(STAGES)
    best_alone = [float("inf")] * len(STAGES)
    for _ in range(rounds):
        gc.collect()
        best_in_turn = list(map(min, best_in_turn, in_turn()))
        best_alone = list(map(min, best_alone, alone()))
    return best_in_turn, best_alone


def breakdown_table(in_turn: list[float], alone: list[float], cold: float) -> list[str]:
    lines = [f"{'where a cold verify_sync spends its time':<54} {'in turn us':>10} {'alone us':>9}"]
    lines += [f"{stage:<54} {a:>10.1f} {b:>9.1f}" for stage, a, b in zip(STAGES, in_turn, alone, strict=True)]
    lines.append(f"{'sum of the stages':<54} {sum(in_turn):>10.1f} {sum(alone):>9.1f}")
    lines.append(f"{'the rest: calls, result cache (cold line minus the sum)':<54} {cold - sum(in_turn):>10.1f}")
    return lines


# -- node and aws-jwt-verify -------------------------------------------------------------------------------------------
def install_aws_jwt_verify(npm: str | None) -> str | None:
    """Install aws-jwt-verify into benchmarks/.node/ unless it is there; returns why it cannot be used, or None."""
    if AWS_JWT_VERIFY.exists():
        return None
    if npm is None:
        return "npm is not on PATH"
    print(f"installing aws-jwt-verify into {NODE_DIR} ...", file=sys.stderr)
    NODE_DIR.mkdir(exist_ok=True)
    try:
        done = subprocess.run(
            [npm, "install", "--prefix", str(NODE_DIR), "--no-audit", "--no-fund", "aws-jwt-verify"],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"npm install aws-jwt-verify failed: {error}"
    if done.returncode != 0 or not AWS_JWT_VERIFY.exists():
        # npm's first lines say what went wrong (code, errno, message); the stack trace after them does not.
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = [line for line in lines if not line.split("npm error", 1)[-1].lstrip().startswith("at ")][:4]
        return f"npm install aws-jwt-verify failed (exit {done.returncode}): " + " | ".join(reason)
    return None


def measure_node(
    node: str, issuer: LocalIssuer, tokens: list[str], warmup: list[str], rounds: int
) -> tuple[list[Row], str | None]:
    """aws-jwt-verify cold and warm next to node's own RSA floor, timed inside node; or the reason it was skipped."""
    problem = install_aws_jwt_verify(shutil.which("npm"))
    if problem is not None:
        return [], problem
    data = {
        "userPoolId": issuer.user_pool_id,
        "clientId": issuer.client_id,
        "jwks": issuer.jwks,
        "tokens": tokens,
        "warmupTokens": warmup,
        "rounds": rounds,
    }
    with tempfile.TemporaryDirectory(prefix="cognito-guard-bench-") as folder:
        path = os.path.join(folder, "input.json")
        with open(path, "w") as file:
            json.dump(data, file)
        try:
            done = subprocess.run(
                [node, str(NODE_SCRIPT), str(NODE_DIR), path],
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return [], f"node run failed: {error}"
    if done.returncode != 0:
        return [], f"node run failed (exit {done.returncode}): {done.stderr.strip()[-800:]}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    version = result["version"]
    if result["rejected"]:
        return [], (
            f"aws-jwt-verify {version} REJECTED {result['rejected']} of {result['rejected'] + result['accepted']} "
            f"tokens; first error: {result['firstError']}"
        )
    return [
        Row("node floor: crypto.verify RSA-SHA256", result["floor"]),
        Row(f"aws-jwt-verify {version} cold, verifySync", result["cold"]),
        Row(f"aws-jwt-verify {version} warm, verifySync", result["warm"]),
    ], None


def node_version(node: str) -> str:
    try:
        return subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


# -- the table ---------------------------------------------------------------------------------------------------------
def table(rows: list[Row], title: str) -> list[str]:
    """Rows measured in one process; the first is that process's floor, which every ratio divides by."""
    floor = rows[0]
    lines = [f"{title:<54} {'best us':>9} {'median us':>10} {'x floor':>8}  {'x floor(med)':>12}  target"]
    for row in rows:
        ratio = row.best / floor.best
        line = (
            f"{row.label:<54} {row.best:>9.1f} {row.median:>10.1f} {ratio:>7.2f}x {row.median / floor.median:>12.2f}x"
        )
        if row.target is not None:
            verdict = "PASS" if ratio <= row.target else "MISS"
            line += f"  <= {row.target:.2f}x {verdict}"
        lines.append(line.rstrip())
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per pass (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes of each path (default 5)")
    parser.add_argument("--no-node", action="store_true", help="skip aws-jwt-verify even when node is on PATH")
    parser.add_argument(
        "--breakdown", action="store_true", help="also time each stage of a cold verify_sync, in turn and alone"
    )
    args = parser.parse_args(argv)
    if args.tokens < 1 or args.rounds < 1:
        parser.error("--tokens and --rounds must be at least 1")

    issuer = LocalIssuer(user_pool_id=USER_POOL_ID, client_id=CLIENT_ID)
    started = time.perf_counter()
    tokens = mint(issuer, args.tokens, "user")
    warmup = mint(issuer, WARMUP_TOKENS, "warmup")
    print(
        f"minted {len(tokens)} + {len(warmup)} warm-up tokens in {time.perf_counter() - started:.1f}s", file=sys.stderr
    )

    try:
        python_rows = measure_python(issuer, tokens, warmup, args.rounds)
    except Exception as error:  # a rejected token: the figures would mean nothing
        print(f"a Python verifier rejected a benchmark token: {type(error).__name__}: {error}", file=sys.stderr)
        return 1

    node = None if args.no_node else shutil.which("node")
    node_rows: list[Row] = []
    node_note = "skipped (--no-node)" if args.no_node else "skipped (node is not on PATH)"
    if node is not None:
        node_rows, problem = measure_node(node, issuer, tokens, warmup, args.rounds)
        node_note = f"node {node_version(node)}" if problem is None else f"skipped: {problem}"

    versions = f"Python {platform.python_version()}, cryptography {cryptography.__version__}, PyJWT {jwt.__version__}"
    print(
        f"{len(tokens)} distinct RS256-2048 Cognito access tokens; best and median of {args.rounds} rounds, "
        "microseconds per token"
    )
    print(f"{versions}; {node_note}")
    print()
    print("\n".join(table(python_rows, "Python (ratios to the Python floor)")))
    if args.breakdown:
        in_turn, alone = measure_stages(issuer, tokens, warmup, args.rounds)
        print()
        cold = next(row for row in python_rows if row.label == COLD_LABEL)
        print("\n".join(breakdown_table(in_turn, alone, cold.best)))
    if node_rows:
        print()
        print("\n".join(table(node_rows, "node (ratios to node's own floor)")))
    print()
    print(f"targets: cognito_guard cold <= {COLD_TARGET}x floor, warm <= {WARM_TARGET}x floor (best-of-rounds ratio)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
