"""The examples are real programs: run them as a user would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_accepts_the_good_tokens_and_rejects_each_bad_one_with_its_code() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")], capture_output=True, text=True, check=False
    )

    assert result.returncode == 0, result.stderr
    out = result.stdout
    for code in (
        "token_expired",
        "invalid_token_use",
        "client_not_allowed",
        "invalid_issuer",
        "invalid_signature",
        "missing_scope",
        "malformed_token",
    ):
        assert f" {code}: " in out
    assert out.count("ACCEPT") == 3
