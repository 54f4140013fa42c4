"""How fast cognito_guard verifies Cognito access tokens, next to the RSA floor, PyJWT and aws-jwt-verify.

The method: ratios per round, not ratios of bests. On a shared machine the floor (one bare RSA check with
``cryptography``, the lower bound of any verifier) and the verifiers drift together from one round to the next, so the
best (or median) of one divided by the best (or median) of the other mixes rounds and measures the drift as much as the
code. Each round therefore times the floor first and then every contender, back to back on the same tokens; each
contender's time is divided by the floor's of the same round, and the table shows the median of those per-round ratios
(the targets are judged on it), their spread, and the median microseconds per token. ``paired_rounds`` is that loop:
a new contender (say, verification against a large revocation list) is one more pass in its list.

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
from dataclasses import dataclass
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


# -- the method: rounds of [baseline, contenders...], each divided by the baseline of its own round --------------------
Pass = Callable[[], float]
"""One timed pass: any untimed setup first, then the timed part; returns microseconds per item (token, request)."""


@dataclass(frozen=True)
class Timing:
    """One path over the rounds: microseconds per item, and its ratio to the baseline of the same round, per round."""

    us: tuple[float, ...]
    ratios: tuple[float, ...]

    @property
    def median_us(self) -> float:
        return statistics.median(self.us)

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.ratios)


def against_baseline(rounds: Sequence[Sequence[float]]) -> list[Timing]:
    """Each path's Timing from per-round figures: ``rounds[r][i]`` is path ``i`` in round ``r``, path 0 the baseline."""
    return [Timing(tuple(r[i] for r in rounds), tuple(r[i] / r[0] for r in rounds)) for i in range(len(rounds[0]))]


def paired_rounds(passes: Sequence[Pass], rounds: int) -> list[Timing]:
    """Run ``rounds`` rounds of ``passes`` in order, the baseline ``passes[0]`` first, and return one Timing per pass
    (the baseline's ratios are all 1.0). Every pass must work on the same inputs, or the ratios compare nothing."""
    return against_baseline([[run() for run in passes] for _ in range(rounds)])


@dataclass
class Row:
    """One line of a table: a path's Timing against the table's first row, and the target it is held to (if any)."""

    label: str
    timing: Timing
    target: float | None = None


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


def time_sync(verifier: CognitoVerifier, tokens: Sequence[str]) -> float:
    """Microseconds per token of one ``verify_sync`` pass."""
    return timed(sync_pass(verifier, tokens), len(tokens))


def time_async(loop: asyncio.AbstractEventLoop) -> Callable[[CognitoVerifier, Sequence[str]], float]:
    """Like ``time_sync``, through ``await verify`` in ``loop``."""
    return lambda verifier, tokens: timed_async(loop, async_pass(verifier, tokens), len(tokens))


def fresh_verifier_pass(
    make: Callable[[], CognitoVerifier],
    time_pass: Callable[[CognitoVerifier, Sequence[str]], float],
    tokens: Sequence[str],
    warmup: Sequence[str],
    *,
    seen: bool,
) -> Pass:
    """A new verifier from ``make`` that has served the warm-up tokens (keys loaded, code paths hot, like a running
    service), and the measured tokens once more if ``seen``; then one timed pass over them: cold when they are new to
    it, warm (answered from its result cache) when seen. A new verifier every round, so no round inherits a cache."""

    def run() -> float:
        verifier = make()
        time_pass(verifier, warmup)
        if seen:
            time_pass(verifier, tokens)
        return time_pass(verifier, tokens)

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
    """Every Python path in rounds of [floor, paths...] over the same tokens (see the module docstring)."""
    n = len(tokens)
    loop = asyncio.new_event_loop()
    try:
        # Warm the interpreter (and check every path accepts the tokens) on tokens that are never timed.
        for _ in range(2):
            floor_pass(issuer, warmup)()
            pyjwt_pass(issuer, warmup)()
            sync_pass(new_verifier(issuer), warmup)()
            loop.run_until_complete(async_pass(new_verifier(issuer), warmup)())

        floor, pyjwt_run, in_loop = floor_pass(issuer, tokens), pyjwt_pass(issuer, tokens), time_async(loop)

        def fresh(
            time_pass: Callable[[CognitoVerifier, Sequence[str]], float], *, seen: bool, cache: int = 10_000
        ) -> Pass:
            return fresh_verifier_pass(lambda: new_verifier(issuer, cache), time_pass, tokens, warmup, seen=seen)

        paths: list[tuple[str, float | None, Pass]] = [
            ("floor: cryptography RSA PKCS1v15/SHA256 verify", None, lambda: timed(floor, n)),
            (COLD_LABEL, COLD_TARGET, fresh(time_sync, seen=False)),
            ("cognito_guard cold, await verify", COLD_TARGET, fresh(in_loop, seen=False)),
            # What keeping results costs a first verification (storing the entry, holding its memory).
            ("cognito_guard cold, verify_sync, cache_size=0", None, fresh(time_sync, seen=False, cache=0)),
            ("cognito_guard warm, verify_sync", WARM_TARGET, fresh(time_sync, seen=True)),
            ("cognito_guard warm, await verify", WARM_TARGET, fresh(in_loop, seen=True)),
            (f"PyJWT {jwt.__version__} jwt.decode + Cognito checks by hand", None, lambda: timed(pyjwt_run, n)),
        ]
        timings = paired_rounds([run for _, _, run in paths], rounds)
        return [Row(label, timing, target) for (label, target, _), timing in zip(paths, timings, strict=True)]
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


IN_TURN_TOTALS = (
    "sum of the stages",
    "the rest: calls, result cache (cold line minus the sum)",
    "cold verify_sync, timed in the same rounds",
)


def measure_stages(
    issuer: LocalIssuer, tokens: list[str], warmup: list[str], rounds: int
) -> tuple[list[Timing], list[Timing]]:
    """Each stage's microseconds per token and ratio to the floor, per round: timed in turn for each token (as
    verify_sync runs them, a signature check between one token's parsing and the next), and alone (one stage over all
    tokens). Each round times the floor and a cold verify_sync pass too, so the in-turn list ends with the sum of the
    stages, the rest (cold minus the sum, in the same round) and cold itself; the alone list ends with its sum."""
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

    floor = floor_pass(issuer, tokens)
    cold = fresh_verifier_pass(lambda: new_verifier(issuer), time_sync, tokens, warmup, seen=False)
    per_round: list[list[float]] = []
    for _ in range(rounds):
        floor_us, cold_us = timed(floor, n), cold()
        gc.collect()
        stages_in_turn, stages_alone = in_turn(), alone()
        spent = sum(stages_in_turn)
        per_round.append([floor_us, *stages_in_turn, spent, cold_us - spent, cold_us, *stages_alone, sum(stages_alone)])
    timings = against_baseline(per_round)[1:]  # the floor is only the divisor
    split_at = len(STAGES) + len(IN_TURN_TOTALS)
    return timings[:split_at], timings[split_at:]


def breakdown_table(in_turn: list[Timing], alone: list[Timing], rounds: int) -> list[str]:
    title = f"where a cold verify_sync spends its time, median of {rounds}"
    lines = [f"{title:<56} {'in turn us':>10} {'x floor':>8} {'alone us':>9}"]
    alone_column = [f"{timing.median_us:>9.1f}" for timing in alone] + [""] * (len(in_turn) - len(alone))
    for label, timing, by_itself in zip((*STAGES, *IN_TURN_TOTALS), in_turn, alone_column, strict=True):
        lines.append(f"{label:<56} {timing.median_us:>10.1f} {timing.median_ratio:>7.2f}x {by_itself}".rstrip())
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
    # aws_jwt_verify.mjs times floor, cold and warm back to back in each round, on the same tokens: pair them up here.
    floor, cold, warm = against_baseline(list(zip(result["floor"], result["cold"], result["warm"], strict=True)))
    return [
        Row("node floor: crypto.verify RSA-SHA256", floor),
        Row(f"aws-jwt-verify {version} cold, verifySync", cold),
        Row(f"aws-jwt-verify {version} warm, verifySync", warm),
    ], None


def node_version(node: str) -> str:
    try:
        return subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


# -- the table ---------------------------------------------------------------------------------------------------------
def table(rows: list[Row], title: str, baseline: str = "floor") -> list[str]:
    """Rows timed in the same rounds as the first, the baseline every ratio divides by (the floor of their process)."""
    head = f"x {baseline}"
    width = max(len(head), 8)
    targets = "  target" if any(row.target is not None for row in rows) else ""
    lines = [f"{title:<54} {'median us':>10} {head:>{width}} {'min-max':>11}{targets}"]
    for index, row in enumerate(rows):
        timing = row.timing
        spread = "" if index == 0 else f"{min(timing.ratios):.2f}-{max(timing.ratios):.2f}"
        line = f"{row.label:<54} {timing.median_us:>10.1f} {timing.median_ratio:>{width - 1}.2f}x {spread:>11}"
        if row.target is not None:
            verdict = "PASS" if timing.median_ratio <= row.target else "MISS"
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
        f"{len(tokens)} distinct RS256-2048 Cognito access tokens, {args.rounds} rounds; each round times the floor, "
        "then every path on the same tokens"
    )
    print("median over the rounds of: microseconds per token, and the ratio to the floor of the same round (min-max)")
    print(f"{versions}; {node_note}")
    print()
    print("\n".join(table(python_rows, "Python (ratios to the Python floor)")))
    if args.breakdown:
        in_turn, alone = measure_stages(issuer, tokens, warmup, args.rounds)
        print()
        print("\n".join(breakdown_table(in_turn, alone, args.rounds)))
    if node_rows:
        print()
        print("\n".join(table(node_rows, "node (ratios to node's own floor)")))
    print()
    print(
        f"targets: cognito_guard cold <= {COLD_TARGET}x floor, warm <= {WARM_TARGET}x floor "
        "(median of the per-round ratios)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
