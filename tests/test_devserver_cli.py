"""``cognito-guard dev`` and ``dev token``: the stand-in's command line, and fresh tokens signed with the keys in --keys
(which ``dev`` creates when missing, and ``dev token`` needs to exist)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from cognito_guard import CognitoVerifier
from cognito_guard.cli import main
from cognito_guard.testing.devserver import PoolKeys

ISSUER = "http://127.0.0.1:9229/us-east-1_LocalDev"
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (only passed to a fake uvicorn)


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
        self.apps: list[Any] = []

    def run(self, app: object, **options: Any) -> None:
        self.runs.append(options)
        self.apps.append(app)

    async def issuer_served(self, host: str = "127.0.0.1:9229") -> str:
        """The issuer the app given to ``run`` publishes, asked under ``host``."""
        transport = httpx.ASGITransport(app=self.apps[-1])
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
            document = (await client.get("/us-east-1_LocalDev/.well-known/openid-configuration")).json()
        issuer: str = document["issuer"]
        return issuer


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


def test_dev_token_with_an_empty_keys_directory_exits_2_naming_the_missing_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev", "token", "--user", "alice", "--keys", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "missing access.pem, id.pem, kids.json" in captured.err


def test_dev_token_writes_no_keys_into_an_empty_directory(tmp_path: Path) -> None:
    main(["dev", "token", "--user", "alice", "--keys", str(tmp_path)])

    assert list(tmp_path.iterdir()) == []


def test_dev_token_with_a_public_url_signs_for_that_issuer(keys: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = "http://localhost:9229"
    assert main(["dev", "token", "--user", "alice", "--keys", str(keys), "--public-url", url]) == 0

    token = capsys.readouterr().out.strip()
    jwks = PoolKeys.load(keys).jwks
    verifier = CognitoVerifier(
        user_pool_id="us-east-1_LocalDev",
        client_id="local-client",
        token_use="access",
        issuer=f"{url}/us-east-1_LocalDev",
        jwks=jwks,
    )
    assert verifier.verify_sync(token).username == "alice"


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


async def test_dev_serves_the_issuer_of_its_host_and_port_whatever_host_a_request_names(
    fake_uvicorn: FakeUvicorn,
) -> None:
    main(["dev", "--port", "9300"])

    assert await fake_uvicorn.issuer_served(host="evil.example") == "http://127.0.0.1:9300/us-east-1_LocalDev"


async def test_dev_serves_the_issuer_of_the_public_url_given(fake_uvicorn: FakeUvicorn) -> None:
    main(["dev", "--public-url", "http://localhost:9229"])

    assert await fake_uvicorn.issuer_served() == "http://localhost:9229/us-east-1_LocalDev"


async def test_dev_on_every_interface_names_127_0_0_1_in_the_issuer(fake_uvicorn: FakeUvicorn) -> None:
    main(["dev", "--host", EVERY_INTERFACE])

    assert await fake_uvicorn.issuer_served() == "http://127.0.0.1:9229/us-east-1_LocalDev"


def test_dev_on_every_interface_says_which_issuer_it_uses_and_how_to_change_it(
    fake_uvicorn: FakeUvicorn, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["dev", "--host", EVERY_INTERFACE])

    error = capsys.readouterr().err
    assert "tokens name http://127.0.0.1:9229 in their issuer" in error
    assert "--public-url" in error


def test_dev_with_a_public_url_that_has_a_path_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--public-url", "http://127.0.0.1:9229/cognito"]) == 2
    assert "configuration_error: --public-url" in capsys.readouterr().err


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


# -- refresh-token rotation for the built-in pool -------------------------------------------------------------------


def built_in_local_client(*options: str) -> Any:
    from cognito_guard import cli

    pool = cli._dev_pool(cli._parser().parse_args(["dev", *options]), create_keys=False)
    return pool.config.clients["local-client"]


def test_dev_refresh_token_rotation_turns_it_on_for_local_client() -> None:
    client = built_in_local_client("--refresh-token-rotation", "--retry-grace-period", "30")
    assert (client.refresh_token_rotation, client.retry_grace_period_seconds) == (True, 30)


def test_dev_without_the_option_local_client_does_not_rotate() -> None:
    assert built_in_local_client().refresh_token_rotation is False


def test_dev_retry_grace_period_without_rotation_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dev", "--retry-grace-period", "30"]) == 2
    assert "--retry-grace-period goes with --refresh-token-rotation" in capsys.readouterr().err


def test_dev_refresh_token_rotation_with_a_config_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "pool.json"
    config.write_text('{"user_pool_id": "us-east-1_Mine"}')

    assert main(["dev", "--config", str(config), "--refresh-token-rotation"]) == 2
    assert "set them in your --config file" in capsys.readouterr().err
