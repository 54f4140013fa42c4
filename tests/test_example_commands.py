"""The README's start commands for the ASGI examples work as written, from the repository root."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest
from cognito_env import use_offline_pool
from servers import free_port, serve_command

from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("module", ["examples.fastapi_app", "examples.starlette_app"])
def test_uvicorn_command_serves_the_example(
    module: str,
    session_keys: tuple[SigningKeyPair, SigningKeyPair],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    access_key, id_key = session_keys
    pool = LocalIssuer(user_pool_id="eu-west-1_Command1", client_id="cmd-client", access_key=access_key, id_key=id_key)
    use_offline_pool(monkeypatch, pool, tmp_path)
    uvicorn = Path(sys.executable).with_name("uvicorn")
    port = free_port()

    with serve_command(
        [str(uvicorn), f"{module}:app", "--port", str(port)], port=port, cwd=ROOT, log=tmp_path / "uvicorn.log"
    ) as url:
        token = pool.access_token(username="dana", scopes=["orders/read"])
        me = httpx.get(f"{url}/me", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        admin = httpx.get(f"{url}/admin", headers={"Authorization": f"Bearer {token}"}, timeout=10)

    assert me.status_code == 200
    assert me.json()["username"] == "dana"
    assert admin.status_code == 403
