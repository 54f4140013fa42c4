"""``cognito-guard dev`` and ``dev token``: the stand-in's command line, and fresh tokens signed with the keys in --keys
(which ``dev`` creates when missing, and ``dev token`` needs to exist)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

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


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A keys directory as a running ``cognito-guard dev --keys DIR`` leaves it."""
    directory = tmp_path / "keys"
    PoolKeys.generate().save(directory)
    return directory


class FakeUvicorn:
    """Stands for uvicorn: records the ``run`` call instead of serving."""

    def __init__(self) -> None:
        self.runs: list[dict[str, Any]] = []

    def run(self, app: object, **options: Any) -> None:
        self.runs.append(options)


@pytest.fixture
def fake_uvicorn(monkeypatch: pytest.MonkeyPatch) -> FakeUvicorn:
    fake = FakeUvicorn()
    monkeypatch.setitem(sys.modules, "uvicorn", SimpleNamespace(run=fake.run))
    return fake


def test_dev_token_for_a_user_prints_a_verifiable_access_token(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "token", "--user", "alice", "--keys", str(keys)]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(keys, "local-client").verify_sync(token).username == "alice"


def test_dev_token_for_a_client_prints_a_client_credentials_token(
    keys: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "token", "--client", "local-m2m", "--keys", str(keys)]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(keys, "local-m2m").verify_sync(token).sub == "local-m2m"


def test_dev_token_without_keys_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "token", "--user", "alice"]) == 2
    assert "--keys" in capsys.readouterr().err


def test_dev_token_with_a_keys_directory_that_does_not_exist_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-keys"

    assert main(["dev", "token", "--user", "alice", "--keys", str(missing)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no keys directory {missing}" in captured.err


def test_dev_token_never_creates_a_keys_directory(tmp_path: Path) -> None:
    main(["dev", "token", "--user", "alice", "--keys", str(tmp_path / "no-such-keys")])

    assert not (tmp_path / "no-such-keys").exists()


def test_dev_token_for_an_unknown_user_exits_2(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "token", "--user", "mallory", "--keys", str(keys)]) == 2
    assert "configuration_error" in capsys.readouterr().err


def test_dev_token_needs_exactly_one_of_user_or_client(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "token", "--keys", str(keys)]) == 2
    assert "exactly one of --user NAME or --client CLIENT_ID" in capsys.readouterr().err


def test_dev_app_url_with_a_config_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "pool.json"
    config.write_text('{"user_pool_id": "us-east-1_Mine"}')

    assert main(["dev", "--config", str(config), "--app-url", "http://localhost:5000"]) == 2
    assert "--app-url is for the built-in pool" in capsys.readouterr().err


def test_dev_unusable_app_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--app-url", "http://localhost:5000/app"]) == 2
    assert "configuration_error: app URL" in capsys.readouterr().err


def test_dev_options_given_before_token_are_kept(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--keys", str(keys), "token", "--user", "alice"]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(keys, "local-client").verify_sync(token).username == "alice"


def test_dev_options_given_after_token_win(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--port", "1", "token", "--port", "9229", "--keys", str(keys), "--user", "bob"]) == 0

    token = capsys.readouterr().out.strip()
    assert verifier(keys, "local-client").verify_sync(token).username == "bob"


# -- cognito-guard dev ----------------------------------------------------------------------------------------------


def test_dev_with_a_keys_directory_that_does_not_exist_creates_the_keys(
    tmp_path: Path, fake_uvicorn: FakeUvicorn
) -> None:
    assert main(["dev", "--keys", str(tmp_path / "new-keys")]) == 0

    assert fake_uvicorn.runs == [{"host": "127.0.0.1", "port": 9229, "log_level": "info"}]
    assert PoolKeys.load_or_create(tmp_path / "new-keys").jwks["keys"]


def test_dev_token_signs_with_the_keys_dev_created(
    tmp_path: Path, fake_uvicorn: FakeUvicorn, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["dev", "--keys", str(tmp_path / "new-keys")])
    capsys.readouterr()

    assert main(["dev", "token", "--user", "alice", "--keys", str(tmp_path / "new-keys")]) == 0
    token = capsys.readouterr().out.strip()
    assert verifier(tmp_path / "new-keys", "local-client").verify_sync(token).username == "alice"


def test_dev_without_uvicorn_exits_2_with_an_install_hint_on_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # makes `import uvicorn` raise ImportError

    assert main(["dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "pip install cognito-guard[dev-server]" in captured.err


def test_dev_without_starlette_exits_2_with_an_install_hint_on_stderr(
    fake_uvicorn: FakeUvicorn, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cognito_guard.testing.devserver.app", None)

    assert main(["dev"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "pip install cognito-guard[dev-server]" in captured.err


def test_dev_without_uvicorn_creates_no_keys_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)

    main(["dev", "--keys", str(tmp_path / "new-keys")])

    assert not (tmp_path / "new-keys").exists()
