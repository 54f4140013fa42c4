"""What the revocation list costs a verification, and how fast a revocation reaches other processes (issue 11).

(a) warm: a verified-result cache hit that asks a list of ``--records`` revoked sign-ins (100 000), next to the RSA
    floor (one bare ``cryptography`` PKCS1v15/SHA256 check of the same token); target <= 0.05x.
(b) cold: a first verification with the list on, next to the floor; target <= 1.5x.
    Both are timed as benchmarks/verify.py times everything: rounds of [floor, paths...] on the same tokens, each
    path divided by the floor of its own round, the median of those ratios judged (``paired_rounds``, imported).
(c) a bare ``RevocationList.check`` of a token that is not on the list, in nanoseconds.
(d) propagation: ``revoke_family`` here, then the time until each of ``--workers`` other processes (each with its own
    list on the same redis-server, started here as the tests start theirs) refuses the family; p50/p99 over
    ``--revocations`` revocations, one after the other; target p99 <= 1 s (aim 100 ms).

(a)-(c) use a list in memory: a Redis-backed list answers from the same in-memory mirror. Run
``.venv/bin/python benchmarks/revocation.py`` (add ``--no-redis`` to skip (d)). The targets are informative: the exit
code is 0 whether they are met or not.
"""

from __future__ import annotations

import argparse
import gc
import platform
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import cryptography
from verify import (  # benchmarks/ is on sys.path when a script in it runs
    CLIENT_ID,
    USER_POOL_ID,
    WARMUP_TOKENS,
    Pass,
    Row,
    floor_pass,
    fresh_verifier_pass,
    mint,
    paired_rounds,
    table,
    time_sync,
    timed,
)

from cognito_guard import CognitoVerifier
from cognito_guard.revocation import RevocationList
from cognito_guard.testing import LocalIssuer

ROOT = Path(__file__).resolve().parent.parent
WARM_TARGET = 0.05
COLD_TARGET = 1.5
PROPAGATION_TARGET = 1.0  # seconds, p99
PROPAGATION_AIM = 0.1
WAIT_FOR_WORKER = 10.0  # seconds before a worker that has not seen a revocation counts as failed

# A process with a list of its own: "ready" once synchronised, then for each family in turn, "seen <time.time()>" as
# soon as a check of a token of that family raises TokenRevokedError (polled every 0.5 ms, as requests would ask).
WORKER = """
import sys, threading, time
from cognito_guard.errors import TokenRevokedError
from cognito_guard.revocation import RevocationList

url, count = sys.argv[1], int(sys.argv[2])
pause = threading.Event()
with RevocationList(redis_url=url) as revocations:
    print("ready", revocations.status().connected, flush=True)
    for index in range(count):
        family = f"bench-{index}"
        while True:
            try:
                revocations.check(family, None, "someone", 0)
            except TokenRevokedError:
                print("seen", repr(time.time()), flush=True)
                break
            pause.wait(0.0005)
"""


# -- (a), (b): verification with a large list --------------------------------------------------------------------------
def large_list(records: int) -> RevocationList:
    """A list in memory holding ``records`` revoked sign-ins (none of them the measured tokens')."""
    revocations = RevocationList()
    for index in range(records):
        revocations.revoke_family(f"revoked-{index}")
    return revocations


def verifier_with(issuer: LocalIssuer, revocations: RevocationList | None) -> CognitoVerifier:
    return CognitoVerifier(
        user_pool_id=issuer.user_pool_id,
        client_id=issuer.client_id,
        token_use="access",
        jwks=issuer.jwks,
        revocations=revocations,
    )


def measure_verification(
    issuer: LocalIssuer, tokens: list[str], warmup: list[str], revocations: RevocationList, rounds: int
) -> list[Row]:
    floor = floor_pass(issuer, tokens)
    for _ in range(2):  # warm the interpreter, and check that every path accepts the tokens
        floor_pass(issuer, warmup)()
        time_sync(verifier_with(issuer, revocations), warmup)

    def fresh(listed: RevocationList | None, *, seen: bool) -> Pass:
        return fresh_verifier_pass(lambda: verifier_with(issuer, listed), time_sync, tokens, warmup, seen=seen)

    count = spaced(revocations.status().entries)
    paths: list[tuple[str, float | None, Pass]] = [
        ("floor: cryptography RSA PKCS1v15/SHA256 verify", None, lambda: timed(floor, len(tokens))),
        (f"(a) warm, verify_sync, list of {count}", WARM_TARGET, fresh(revocations, seen=True)),
        ("    warm, verify_sync, no list", None, fresh(None, seen=True)),
        (f"(b) cold, verify_sync, list of {count}", COLD_TARGET, fresh(revocations, seen=False)),
        ("    cold, verify_sync, no list", None, fresh(None, seen=False)),
    ]
    timings = paired_rounds([run for _, _, run in paths], rounds)
    return [Row(label, timing, target) for (label, target, _), timing in zip(paths, timings, strict=True)]


# -- (c): a bare lookup ------------------------------------------------------------------------------------------------
def measure_lookup(revocations: RevocationList, rounds: int, lookups: int = 200_000) -> list[float]:
    """Nanoseconds per ``check`` of an id that is not on the list, one figure per round."""
    absent = [f"absent-{index}" for index in range(lookups)]
    check = revocations.check
    figures = []
    for _ in range(rounds):
        gc.collect()
        started = time.perf_counter()
        for origin_jti in absent:
            check(origin_jti, origin_jti, "someone", 0.0)
        figures.append((time.perf_counter() - started) * 1e9 / lookups)
    return figures


# -- (d): propagation through a real Redis -----------------------------------------------------------------------------
class Worker:
    def __init__(self, url: str, count: int) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(count)],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            text=True,
        )

    def line(self, timeout: float) -> str:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not readable:
            raise TimeoutError(f"a worker said nothing within {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"a worker exited with {self.process.wait()}")
        return line.strip()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def measure_propagation(workers: int, count: int) -> list[float]:
    """Seconds from the call of ``revoke_family`` here to each worker's refusal, for ``count`` revocations in turn."""
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_support import RedisServer  # the test harness: a redis-server on a free loopback port

    delays: list[float] = []
    with RedisServer() as server:
        started = [Worker(server.url, count) for _ in range(workers)]
        try:
            for worker in started:
                if worker.line(timeout=60) != "ready True":
                    raise RuntimeError("a worker could not reach Redis")
            with RevocationList(redis_url=server.url) as revocations:
                for index in range(count):
                    revoked_at = time.time()
                    revocations.revoke_family(f"bench-{index}")
                    for worker in started:
                        word, seen_at = worker.line(timeout=WAIT_FOR_WORKER).split(" ")
                        assert word == "seen"
                        delays.append(float(seen_at) - revoked_at)
        finally:
            for worker in started:
                worker.stop()
    return delays


def spaced(number: int) -> str:
    return f"{number:,}".replace(",", " ")


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tokens", type=int, default=2000, help="distinct tokens per pass (default 2000)")
    parser.add_argument("--rounds", type=int, default=5, help="timed passes of each path (default 5)")
    parser.add_argument("--records", type=int, default=100_000, help="revoked sign-ins on the list (default 100000)")
    parser.add_argument("--revocations", type=int, default=200, help="revocations timed in (d) (default 200)")
    parser.add_argument("--workers", type=int, default=3, help="processes that must refuse each one (default 3)")
    parser.add_argument("--no-redis", action="store_true", help="skip (d), which starts a redis-server")
    args = parser.parse_args(argv)
    if min(args.tokens, args.rounds, args.records, args.revocations, args.workers) < 1:
        parser.error("every count must be at least 1")

    issuer = LocalIssuer(user_pool_id=USER_POOL_ID, client_id=CLIENT_ID)
    tokens, warmup = mint(issuer, args.tokens, "user"), mint(issuer, WARMUP_TOKENS, "warmup")
    revocations = large_list(args.records)

    print(
        f"{len(tokens)} distinct RS256-2048 Cognito access tokens, {args.rounds} rounds; each round times the floor, "
        "then every path on the same tokens"
    )
    print(f"Python {platform.python_version()}, cryptography {cryptography.__version__}")
    print()
    rows = measure_verification(issuer, tokens, warmup, revocations, args.rounds)
    print("\n".join(table(rows, "verification with a revocation list (ratios to the floor)")))
    print()
    lookup = measure_lookup(revocations, args.rounds)
    print(
        f"(c) RevocationList.check, a token not on a list of {spaced(args.records)}: "
        f"{statistics.median(lookup):.0f} ns (median of {args.rounds} rounds, {min(lookup):.0f}-{max(lookup):.0f})"
    )
    if args.no_redis:
        print("(d) propagation: skipped (--no-redis)")
        return 0
    delays = measure_propagation(args.workers, args.revocations)
    p50, p99, worst = percentile(delays, 0.5), percentile(delays, 0.99), max(delays)
    verdict = "PASS" if p99 <= PROPAGATION_TARGET else "MISS"
    print(
        f"(d) revoke_family here -> refused in {args.workers} other processes through Redis, "
        f"{args.revocations} revocations: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, max {worst * 1000:.1f} ms"
        f"  p99 <= {PROPAGATION_TARGET:.0f} s {verdict} (aim {PROPAGATION_AIM * 1000:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
