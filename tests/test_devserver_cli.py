"""``cognito-guard dev token``: fresh tokens of the stand-in, signed with the keys in --keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from cognito_guard import CognitoVerifier
from cognito_guard.cli import main
from cognito_guard.testing.devserver import PoolKeys

ISSUER = "http://127.0.0.1:9229/us-east-1_LocalDev"


def verifier(keys: Path, client_id: str) -> CognitoVerifier:
    jwks = PoolKeys.load_or_create(keys).jwks
    return CognitoVerifier(
        user_pool_id="us-east-1_LocalDev", client_id=client_id, token_use="access", issuer=ISSUER, jwks=jwks
    )


def test_dev_token_for_a_user_prints_a_verifiable_access_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "token", "--user", "alice", "--keys", str(tmp_path / "keys")]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(tmp_path / "keys", "local-client").verify_sync(token).username == "alice"


def test_dev_token_for_a_client_prints_a_client_credentials_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "token", "--client", "local-m2m", "--keys", str(tmp_path / "keys")]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(tmp_path / "keys", "local-m2m").verify_sync(token).sub == "local-m2m"


def test_dev_token_without_keys_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "token", "--user", "alice"]) == 2
    assert "--keys" in capsys.readouterr().err


def test_dev_token_for_an_unknown_user_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "token", "--user", "mallory", "--keys", str(tmp_path / "keys")]) == 2
    assert "configuration_error" in capsys.readouterr().err


def test_dev_token_needs_exactly_one_of_user_or_client(tmp_path: Path) -> None:
    assert main(["dev", "token", "--keys", str(tmp_path / "keys")]) == 2


def test_dev_app_url_with_a_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pool.json"
    config.write_text('{"user_pool_id": "us-east-1_Mine"}')

    assert main(["dev", "--config", str(config), "--app-url", "http://localhost:5000"]) == 2
    assert "--app-url is for the built-in pool" in capsys.readouterr().err


def test_dev_unusable_app_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--app-url", "http://localhost:5000/app"]) == 2
    assert "configuration_error: app URL" in capsys.readouterr().err


def test_dev_options_given_before_token_are_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--keys", str(tmp_path / "keys"), "token", "--user", "alice"]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(tmp_path / "keys", "local-client").verify_sync(token).username == "alice"


def test_dev_options_given_after_token_win(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--port", "1", "token", "--port", "9229", "--keys", str(tmp_path / "k"), "--user", "bob"]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(tmp_path / "k", "local-client").verify_sync(token).username == "bob"
