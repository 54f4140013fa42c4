"""Point the COGNITO_* variables at a test pool, with its keys in a JWKS file: apps and programs then run offline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cognito_guard.testing import LocalIssuer


def use_offline_pool(monkeypatch: pytest.MonkeyPatch, pool: LocalIssuer, directory: Path) -> dict[str, str]:
    """Set COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, COGNITO_TOKEN_USE=access and COGNITO_JWKS_FILE for ``pool``
    (undoing every other COGNITO_* variable) and return what was set."""
    for name in [name for name in os.environ if name.startswith("COGNITO_")]:
        monkeypatch.delenv(name)
    jwks_file = directory / "jwks.json"
    jwks_file.write_text(json.dumps(pool.jwks), encoding="utf-8")
    values = {
        "COGNITO_USER_POOL_ID": pool.user_pool_id,
        "COGNITO_CLIENT_ID": pool.client_id,
        "COGNITO_TOKEN_USE": "access",
        "COGNITO_JWKS_FILE": str(jwks_file),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values
