"""`cognito-guard revoke --redis-url URL (--origin-jti ID | --jti ID | --user SUB)` against a real Redis (issue 11,
item 2): exit 0 and a one-line confirmation; exit 1 and the error's code on failure. Workers following the same Redis
see the revocation."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from servers import free_port

from cognito_guard.cli import main
from cognito_guard.revocation import RevocationList

EXECUTABLE = Path(sys.executable).with_name("cognito-guard")


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes (propagation through a real Redis takes a moment)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            return False
        pause.wait(0.005)
    return True


@pytest.fixture
def worker_list(redis_url: str) -> Iterator[RevocationList]:
    """A worker's list on the same Redis, started before the revocation."""
    with RevocationList(redis_url=redis_url) as revocations:
        yield revocations


def test_revoking_a_family_prints_one_line_and_exits_0(
    redis_url: str, worker_list: RevocationList, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["revoke", "--redis-url", redis_url, "--origin-jti", "family-1"])

    out = capsys.readouterr().out
    assert code == 0
    assert out.count("\n") == 1
    assert "family-1" in out
    assert eventually(lambda: worker_list.is_revoked({"origin_jti": "family-1", "sub": "s", "iat": 0}))


def test_revoking_a_token_reaches_the_workers(redis_url: str, worker_list: RevocationList) -> None:
    assert main(["revoke", "--redis-url", redis_url, "--jti", "token-1"]) == 0
    assert eventually(lambda: worker_list.is_revoked({"jti": "token-1", "sub": "s", "iat": 0}))


def test_signing_out_a_user_refuses_tokens_signed_in_until_now(redis_url: str, worker_list: RevocationList) -> None:
    assert main(["revoke", "--redis-url", redis_url, "--user", "user-1"]) == 0
    assert eventually(lambda: worker_list.is_revoked({"sub": "user-1", "iat": time.time() - 60}))
    assert not worker_list.is_revoked({"sub": "user-1", "iat": time.time() + 60})


def test_the_redis_url_defaults_to_cognito_redis_url(
    redis_url: str, worker_list: RevocationList, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COGNITO_REDIS_URL", redis_url)
    assert main(["revoke", "--origin-jti", "family-2"]) == 0
    assert eventually(lambda: worker_list.is_revoked({"origin_jti": "family-2", "sub": "s", "iat": 0}))


def test_without_a_redis_url_it_exits_1_with_the_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("COGNITO_REDIS_URL", raising=False)
    assert main(["revoke", "--origin-jti", "family-1"]) == 1
    assert capsys.readouterr().err.startswith("configuration_error: ")


def test_an_unreachable_redis_exits_1_with_revocation_unavailable(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    assert main(["revoke", "--redis-url", url, "--origin-jti", "family-1"]) == 1
    assert capsys.readouterr().err.startswith("revocation_unavailable: ")


def test_an_empty_id_exits_1_with_invalid_revocation(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revoke", "--redis-url", redis_url, "--jti", ""]) == 1
    assert capsys.readouterr().err.startswith("invalid_revocation: ")


def test_a_url_that_is_not_redis_is_refused_without_being_echoed(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://user:secret-password@example.com/"
    assert main(["revoke", "--redis-url", url, "--jti", "token-1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("configuration_error: ")
    assert "secret-password" not in err


def test_at_without_user_exits_1(redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["revoke", "--redis-url", redis_url, "--jti", "token-1", "--at", "5"]) == 1
    assert "--at" in capsys.readouterr().err


def test_exactly_one_of_the_three_is_required() -> None:
    with pytest.raises(SystemExit) as raised:
        main(["revoke", "--redis-url", "redis://127.0.0.1:1/0", "--jti", "a", "--user", "b"])
    assert raised.value.code == 2


def test_the_console_script_revokes_for_an_operator(redis_url: str, worker_list: RevocationList) -> None:
    environment = {**os.environ, "COGNITO_REDIS_URL": redis_url}
    done = subprocess.run(
        [str(EXECUTABLE), "revoke", "--origin-jti", "family-3"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "revoked sign-in family origin_jti=family-3"
    assert eventually(lambda: worker_list.is_revoked({"origin_jti": "family-3", "sub": "s", "iat": 0}))


def test_signing_out_a_user_at_a_given_time_says_that_time(
    redis_url: str, worker_list: RevocationList, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["revoke", "--redis-url", redis_url, "--user", "user-1", "--at", "1800000000"]) == 0
    assert "signed in until 1800000000 (Unix seconds) are refused" in capsys.readouterr().out
