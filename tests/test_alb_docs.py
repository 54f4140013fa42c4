"""docs/alb.md's runnable example runs and prints what its comments say (issue 13: docs with runnable examples)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_runnable_example_of_the_alb_docs_prints_what_it_promises(tmp_path: Path) -> None:
    text = (ROOT / "docs" / "alb.md").read_text()
    found = re.search(r"<!-- runnable -->\n```python\n(.*?)```", text, re.S)
    assert found is not None
    script = tmp_path / "alb_example.py"
    script.write_text(found.group(1))

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["{'user': 'alice', 'verified': 'True'}", "invalid_signer", "401"]
