"""The benchmark scripts keep running and keep their method: a tiny run of each, as `make bench` would start them
(figures not judged), and the per-round helper they share, on made-up timings."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from redis_support import require_redis

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r" (-?\d+\.\d\d)x")  # a median per-round ratio, as the tables print it


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


def line_of(out: str, label: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(label))


def ratio_of(line: str) -> float:
    found = RATIO.search(line)
    assert found is not None, f"no ratio in {line!r}"
    return float(found.group(1))


def load_verify_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmark_verify", ROOT / "benchmarks" / "verify.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_paired_rounds_divides_each_pass_by_the_baseline_of_the_same_round() -> None:
    verify = load_verify_script()
    calls: list[str] = []
    baseline_us, contender_us = iter([10.0, 20.0, 40.0]), iter([15.0, 40.0, 44.0])

    def baseline() -> float:
        calls.append("baseline")
        return next(baseline_us)

    def contender() -> float:
        calls.append("contender")
        return next(contender_us)

    floor, other = verify.paired_rounds([baseline, contender], 3)

    assert calls == ["baseline", "contender"] * 3
    assert floor.ratios == (1.0, 1.0, 1.0)
    assert other.us == (15.0, 40.0, 44.0)
    assert other.ratios == (1.5, 2.0, 1.1)
    assert other.median_ratio == 1.5  # the median of the ratios, not 40.0 / 20.0 (the ratio of the medians)
    assert other.median_us == 40.0


def test_verify_benchmark_prints_every_python_path_with_its_per_round_ratio_and_verdict() -> None:
    out = run("verify.py", "--tokens", "20", "--rounds", "2", "--no-node")

    assert "ratio to the floor of the same round" in out
    assert ratio_of(line_of(out, "floor: cryptography RSA PKCS1v15/SHA256 verify")) == 1.0
    for label in (
        "cognito_guard cold, verify_sync",
        "cognito_guard cold, await verify",
        "cognito_guard cold, verify_sync, cache_size=0",
        "cognito_guard warm, verify_sync",
        "cognito_guard warm, await verify",
        "PyJWT",
    ):
        assert ratio_of(line_of(out, label)) > 0
    verdicts = [line for line in out.splitlines() if re.search(r"<= \d\.\d\dx (PASS|MISS)$", line)]
    assert sum("<= 1.50x" in line for line in verdicts) == 2
    assert sum("<= 0.20x" in line for line in verdicts) == 2
    assert "median of the per-round ratios" in out
    assert "where a cold verify_sync spends its time" not in out


def test_verify_benchmark_breakdown_times_each_stage_in_turn_and_alone() -> None:
    out = run("verify.py", "--tokens", "20", "--rounds", "1", "--no-node", "--breakdown")

    table = out[out.index("where a cold verify_sync spends its time") :]
    for stage in (  # each with its median ratio to the floor; "the rest" may come out below zero in so short a run
        "split the token",
        "payload: base64 + JSON",
        "signature: base64",
        "claims checks",
        "Claims object",
        "sum of the stages",
        "the rest: calls, result cache",
        "cold verify_sync, timed in the same rounds",
    ):
        ratio_of(line_of(table, stage))
    rsa = line_of(table, "signature check: RSA + SHA-256")
    in_turn, ratio, alone = rsa.split()[-3:]
    assert float(in_turn) > 0
    assert float(ratio.removesuffix("x")) > 0
    assert float(alone) > 0


def test_asgi_benchmark_prints_each_guard_against_the_unguarded_app_and_what_it_adds() -> None:
    out = run("asgi.py", "--requests", "50", "--rounds", "2")

    assert "ratio to the unguarded app of the same round" in out
    assert ratio_of(line_of(out, "FastAPI, unguarded route")) == 1.0
    assert ratio_of(line_of(out, "Starlette, no middleware")) == 1.0
    for label in (
        "FastAPI, do-nothing dependency",
        "FastAPI, Depends(CognitoAuth)",
        "Starlette + CognitoAuthMiddleware, path it skips",
        "Starlette + CognitoAuthMiddleware, guarded path",
    ):
        assert ratio_of(line_of(out, label)) > 0
    added = out[out.index("added per request (target <= 10 us)") :]
    for label in (
        "FastAPI: Depends(CognitoAuth) - unguarded",
        "FastAPI: Depends(CognitoAuth) - do-nothing dependency",
        "ASGI middleware: guarded - no middleware",
    ):
        assert re.search(r" -?\d+\.\d us +\d+\.\d\dx  (PASS|MISS)$", line_of(added, label))


def test_revocation_benchmark_prints_its_four_figures() -> None:
    require_redis()
    out = run("revocation.py", "--tokens", "20", "--rounds", "2", "--records", "1000", "--revocations", "5")
    assert all(label in out for label in ("(a) warm", "(b) cold", "(c) RevocationList.check", "(d) "))


def test_sessions_benchmark_prints_the_added_time_per_store_and_one_redis_command_per_view() -> None:
    require_redis()
    out = run("sessions.py", "--quick")
    assert ratio_of(line_of(out, "RedisSessionStore (loopback)")) > 0
    assert "Redis commands per page view: 1.00" in out
    assert "3 workers, Redis store" in out


def test_alb_benchmark_prints_the_cold_ratio_to_the_es256_floor() -> None:
    out = run("alb.py", "--tokens", "20", "--rounds", "2")
    assert ratio_of(line_of(out, "AlbVerifier cold, verify_sync ")) > 0
    assert ratio_of(line_of(out, "AlbVerifier warm, verify_sync")) > 0
