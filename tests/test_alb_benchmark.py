"""benchmarks/alb.py keeps running and keeps its method (issue 13: "benchmarks/ gains an ALB line"): a tiny run, as
``make bench`` would start it; the figures are not judged here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RATIO = re.compile(r" (-?\d+\.\d\d)x")  # a median per-round ratio, as the table prints it


def test_alb_benchmark_prints_the_cold_es256_line_against_the_bare_es256_floor_with_its_verdict() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "alb.py"), "--tokens", "20", "--rounds", "2"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    def ratio(label: str) -> float:
        line = next(line for line in lines if line.startswith(label))
        found = RATIO.search(line)
        assert found is not None, line
        return float(found.group(1))

    assert ratio("floor: cryptography ECDSA P-256/SHA256 verify") == 1.0
    for label in ("AlbVerifier cold, verify_sync", "AlbVerifier cold, await verify", "AlbVerifier warm, verify_sync"):
        assert ratio(label) > 0
    verdicts = [line for line in lines if re.search(r"<= 1\.50x (PASS|MISS)$", line)]
    assert [line.split("  ")[0] for line in verdicts] == [
        "AlbVerifier cold, verify_sync",
        "AlbVerifier cold, await verify",
    ]
    assert "median of the per-round ratios" in done.stdout
