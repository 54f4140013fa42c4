"""The benchmark scripts keep running: a tiny run of each, as `make bench` would start them (figures not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_verify_benchmark_prints_every_python_path_with_its_ratio_and_verdict() -> None:
    out = run("verify.py", "--tokens", "20", "--rounds", "1", "--no-node")

    for label in (
        "floor: cryptography RSA PKCS1v15/SHA256 verify",
        "cognito_guard cold, verify_sync",
        "cognito_guard cold, await verify",
        "cognito_guard cold, verify_sync, cache_size=0",
        "cognito_guard warm, verify_sync",
        "cognito_guard warm, await verify",
        "jwt.decode + Cognito checks by hand",
    ):
        assert label in out
    assert out.count("<= 1.50x") == 2
    assert out.count("<= 0.20x") == 2
    assert "where a cold verify_sync spends its time" not in out


def test_verify_benchmark_breakdown_times_each_stage_in_turn_and_alone() -> None:
    out = run("verify.py", "--tokens", "20", "--rounds", "1", "--no-node", "--breakdown")

    table = out[out.index("where a cold verify_sync spends its time") :]
    for stage in (
        "split the token",
        "payload: base64 + JSON",
        "signature: base64",
        "signature check: RSA + SHA-256",
        "claims checks",
        "Claims object",
        "sum of the stages",
        "the rest: calls, result cache",
    ):
        assert stage in table
    rsa = next(line for line in table.splitlines() if line.startswith("signature check"))
    in_turn, alone = (float(value) for value in rsa.split()[-2:])
    assert in_turn > 0
    assert alone > 0


def test_asgi_benchmark_prints_what_each_guard_adds() -> None:
    out = run("asgi.py", "--requests", "50", "--rounds", "1")

    assert "added per request (target <= 10 us):" in out
    assert "FastAPI: Depends(CognitoAuth) - unguarded" in out
    assert "ASGI middleware: guarded - no middleware" in out
