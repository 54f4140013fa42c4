"""The cognito-guard command: decode (unverified) and verify (claims as JSON, or the error code; exit status)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cognito_guard.cli import main
from cognito_guard.testing import LocalIssuer


@pytest.fixture
def jwks_file(issuer: LocalIssuer, tmp_path: Path) -> Path:
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(issuer.jwks))
    return path


def verify_args(issuer: LocalIssuer, jwks_file: Path, *extra: str) -> list[str]:
    return [
        "verify",
        "--user-pool-id",
        issuer.user_pool_id,
        "--client-id",
        issuer.client_id,
        "--token-use",
        "access",
        "--jwks-file",
        str(jwks_file),
        *extra,
    ]


def test_verify_prints_the_claims_as_json_and_exits_0(
    issuer: LocalIssuer, jwks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer.clock = time.time  # the CLI uses the real clock

    status = main([*verify_args(issuer, jwks_file), issuer.access_token(username="alice")])

    assert status == 0
    assert json.loads(capsys.readouterr().out)["username"] == "alice"


def test_verify_reads_the_token_from_stdin(
    issuer: LocalIssuer, jwks_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer.clock = time.time
    monkeypatch.setattr(sys, "stdin", io.StringIO(issuer.access_token(username="bob") + "\n"))

    assert main(verify_args(issuer, jwks_file)) == 0
    assert json.loads(capsys.readouterr().out)["username"] == "bob"


def test_verify_prints_the_error_code_and_exits_1_for_a_bad_token(
    issuer: LocalIssuer, jwks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer.clock = time.time
    token = issuer.access_token(bad_signature=True)

    status = main([*verify_args(issuer, jwks_file), token])

    captured = capsys.readouterr()
    assert status == 1
    assert captured.out == ""
    assert captured.err.startswith("invalid_signature: ")
    assert token not in captured.err


def test_verify_enforces_required_scopes(
    issuer: LocalIssuer, jwks_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    issuer.clock = time.time

    status = main([*verify_args(issuer, jwks_file, "--scope", "orders/write"), issuer.access_token(scopes=["x"])])

    assert status == 1
    assert capsys.readouterr().err.startswith("missing_scope: ")


def test_verify_takes_its_settings_from_the_environment(
    issuer: LocalIssuer, jwks_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    issuer.clock = time.time
    monkeypatch.setenv("COGNITO_USER_POOL_ID", issuer.user_pool_id)
    monkeypatch.setenv("COGNITO_CLIENT_ID", f"other,{issuer.client_id}")
    monkeypatch.setenv("COGNITO_TOKEN_USE", "any")
    monkeypatch.setenv("COGNITO_JWKS_FILE", str(jwks_file))

    assert main(["verify", issuer.id_token(username="carol")]) == 0
    assert json.loads(capsys.readouterr().out)["cognito:username"] == "carol"


def test_verify_without_a_client_id_is_a_usage_error(
    issuer: LocalIssuer, jwks_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COGNITO_CLIENT_ID", raising=False)

    status = main(["verify", "--user-pool-id", issuer.user_pool_id, "--token-use", "access", "x.y.z"])

    assert status == 2
    assert "COGNITO_CLIENT_ID" in capsys.readouterr().err


def test_decode_prints_header_and_payload_and_warns_they_are_unverified(
    issuer: LocalIssuer, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["decode", issuer.access_token(username="dave", bad_signature=True)])

    captured = capsys.readouterr()
    assert status == 0
    assert json.loads(captured.out)["payload"]["username"] == "dave"
    assert "NOT verified" in captured.err


def test_decode_rejects_garbage_with_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "garbage"]) == 1
    assert capsys.readouterr().err.startswith("malformed_token: ")


def test_console_script_is_installed(issuer: LocalIssuer) -> None:
    script = Path(sys.executable).with_name("cognito-guard")

    result = subprocess.run([str(script), "decode", issuer.access_token()], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["header"]["alg"] == "RS256"
