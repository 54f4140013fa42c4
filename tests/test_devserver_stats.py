"""The stand-in counts its token-endpoint requests, exactly: by grant type (``requests_by_grant``), failed ones
(``errors_by_grant``) and successful refreshes per family (``refreshes_by_family``, keyed by ``origin_jti``), on
``LocalUserPool.stats`` and, for a separate ``cognito-guard dev`` process, at ``GET /_dev/stats``."""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Clock
from devserver_support import (
    M2M_AUTH,
    Dev,
    builtin_pool_file,
    code_for,
    exchange,
    http_signed_in_tokens,
    refresh_answer,
    running,
    signed_in_tokens,
    unverified_claims,
)
from servers import free_port, serve_command

from cognito_guard.testing import SigningKeyPair
from cognito_guard.testing.devserver import LocalUserPool, PoolKeys
from cognito_guard.testing.devserver.serve import serve_pool_in_thread

NOTHING = {"authorization_code": 0, "refresh_token": 0, "client_credentials": 0}


@pytest.fixture
def dev(clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[Dev]:
    with running(clock, session_keys) as server:
        yield server


def client_credentials(dev: Dev) -> httpx.Response:
    return dev.http.post("/oauth2/token", data={"grant_type": "client_credentials"}, auth=M2M_AUTH)


def test_counts_start_at_zero_for_every_grant_type(dev: Dev) -> None:
    assert dev.pool.stats.to_json() == {
        "requests_by_grant": NOTHING,
        "errors_by_grant": NOTHING,
        "refreshes_by_family": {},
    }


def test_each_token_request_is_counted_under_its_grant_type(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    refresh_answer(dev, tokens["refresh_token"])
    refresh_answer(dev, tokens["refresh_token"])
    client_credentials(dev)

    assert dev.pool.stats.requests_by_grant == {"authorization_code": 1, "refresh_token": 2, "client_credentials": 1}


def test_a_failed_request_counts_as_a_request_and_an_error(dev: Dev) -> None:
    exchange(dev, code_for(dev), client_id="nobody")  # invalid_client
    refresh_answer(dev, "not-a-refresh-token")  # invalid_grant

    assert dev.pool.stats.requests_by_grant == {"authorization_code": 1, "refresh_token": 1, "client_credentials": 0}
    assert dev.pool.stats.errors_by_grant == {"authorization_code": 1, "refresh_token": 1, "client_credentials": 0}
    assert dev.pool.stats.refreshes_by_family == {}


def test_successful_refreshes_are_counted_per_family_by_origin_jti(dev: Dev) -> None:
    first = signed_in_tokens(dev)
    second = signed_in_tokens(dev)
    refresh_answer(dev, first["refresh_token"])
    refresh_answer(dev, first["refresh_token"])
    refresh_answer(dev, second["refresh_token"])

    assert dev.pool.stats.refreshes_by_family == {
        unverified_claims(first["access_token"])["origin_jti"]: 2,
        unverified_claims(second["access_token"])["origin_jti"]: 1,
    }


def test_refreshes_of_one_family_are_read_by_its_origin_jti(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    refresh_answer(dev, tokens["refresh_token"])

    origin_jti = unverified_claims(tokens["id_token"])["origin_jti"]
    assert (dev.pool.stats.refreshes(origin_jti), dev.pool.stats.refreshes("another-family")) == (1, 0)


def test_requests_without_a_supported_grant_type_are_not_counted(dev: Dev) -> None:
    dev.http.post("/oauth2/token", data={"grant_type": "password", "client_id": "local-client"})
    dev.http.post("/oauth2/token", data={"client_id": "local-client"})

    assert dev.pool.stats.requests_by_grant == NOTHING


def test_tokens_from_the_test_shortcuts_are_not_counted(dev: Dev) -> None:
    dev.pool.sign_in("alice", base_url=dev.base_url)
    dev.pool.client_credentials("local-m2m", base_url=dev.base_url)

    assert dev.pool.stats.requests_by_grant == NOTHING


def test_reset_counts_from_zero_again(dev: Dev) -> None:
    refresh_answer(dev, signed_in_tokens(dev)["refresh_token"])

    dev.pool.stats.reset()

    assert dev.pool.stats.to_json() == {
        "requests_by_grant": NOTHING,
        "errors_by_grant": NOTHING,
        "refreshes_by_family": {},
    }


def test_counts_are_exact_under_twenty_concurrent_refresh_requests(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    start = threading.Barrier(20)
    statuses: list[int] = []

    def refresh() -> None:
        with httpx.Client(base_url=dev.base_url) as http:
            start.wait()
            form = {
                "grant_type": "refresh_token",
                "client_id": "local-client",
                "refresh_token": tokens["refresh_token"],
            }
            statuses.append(http.post("/oauth2/token", data=form).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [200] * 20
    assert dev.pool.stats.requests_by_grant["refresh_token"] == 20
    assert dev.pool.stats.refreshes_by_family == {unverified_claims(tokens["access_token"])["origin_jti"]: 20}


def test_counts_are_exact_when_twenty_threads_call_the_pool_at_once(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    pool = LocalUserPool(keys=PoolKeys(*session_keys), clock=clock)
    signed = pool.sign_in("alice", base_url="http://127.0.0.1:9229")
    form = {"grant_type": "refresh_token", "client_id": "local-client", "refresh_token": signed.refresh_token or ""}
    start = threading.Barrier(20)

    def refresh_five_times() -> None:
        start.wait()
        for _ in range(5):
            pool.token(form, None, "http://127.0.0.1:9229")

    threads = [threading.Thread(target=refresh_five_times) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert pool.stats.requests_by_grant["refresh_token"] == 100
    assert pool.stats.refreshes(unverified_claims(signed.access_token)["origin_jti"]) == 100


def test_stats_endpoint_answers_the_counts_as_json(dev: Dev) -> None:
    tokens = signed_in_tokens(dev)
    refresh_answer(dev, tokens["refresh_token"])

    response = dev.http.get("/_dev/stats")

    assert (response.status_code, response.headers["cache-control"]) == (200, "no-store")
    assert response.json() == {
        "requests_by_grant": {"authorization_code": 1, "refresh_token": 1, "client_credentials": 0},
        "errors_by_grant": NOTHING,
        "refreshes_by_family": {unverified_claims(tokens["access_token"])["origin_jti"]: 1},
    }


def test_delete_on_the_stats_endpoint_resets_the_counts(dev: Dev) -> None:
    signed_in_tokens(dev)

    response = dev.http.delete("/_dev/stats")

    assert response.status_code == 204
    assert dev.http.get("/_dev/stats").json()["requests_by_grant"] == NOTHING


def test_the_dev_server_handle_reads_its_pools_counts(
    clock: Clock, session_keys: tuple[SigningKeyPair, SigningKeyPair]
) -> None:
    pool = LocalUserPool(keys=PoolKeys(*session_keys), clock=clock)
    with serve_pool_in_thread(pool) as server:
        httpx.post(f"{server.base_url}/oauth2/token", data={"grant_type": "client_credentials"}, auth=M2M_AUTH)

        assert server.stats.requests_by_grant["client_credentials"] == 1


@pytest.fixture
def dev_process(tmp_path: Path, session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> Iterator[httpx.Client]:
    """``cognito-guard dev`` in its own process, with the built-in pool from a file (rotation on, 10 s of grace)."""
    PoolKeys(*session_keys).save(tmp_path / "keys")
    config = builtin_pool_file(tmp_path, refresh_token_rotation=True, retry_grace_period_seconds=10)
    port = free_port()
    command = [str(Path(sys.executable).parent / "cognito-guard"), "dev", "--port", str(port)]
    command += ["--config", str(config), "--keys", str(tmp_path / "keys")]
    log = tmp_path / "dev.log"
    with serve_command(command, port=port, cwd=tmp_path, log=log) as url, httpx.Client(base_url=url) as http:
        yield http


def test_a_separate_dev_process_answers_its_counts_at_dev_stats(dev_process: httpx.Client) -> None:
    tokens = http_signed_in_tokens(dev_process)
    form = {"grant_type": "refresh_token", "client_id": "local-client", "refresh_token": tokens["refresh_token"]}
    dev_process.post("/oauth2/token", data=form)

    stats = dev_process.get("/_dev/stats").json()

    assert stats["requests_by_grant"] == {"authorization_code": 1, "refresh_token": 1, "client_credentials": 0}
    assert stats["refreshes_by_family"] == {unverified_claims(tokens["access_token"])["origin_jti"]: 1}


def test_dev_command_with_the_built_in_pool_file_rotates_refresh_tokens(dev_process: httpx.Client) -> None:
    old = http_signed_in_tokens(dev_process)["refresh_token"]
    form = {"grant_type": "refresh_token", "client_id": "local-client", "refresh_token": old}

    answer = dev_process.post("/oauth2/token", data=form).json()

    assert answer["refresh_token"] != old


def test_the_stats_example_in_the_docs_runs_as_written(dev: Dev) -> None:
    refresh_answer(dev, signed_in_tokens(dev)["refresh_token"])
    text = (Path(__file__).resolve().parent.parent / "docs" / "devserver.md").read_text(encoding="utf-8")
    [source] = [block for block in re.findall(r"```python\n(.*?)```", text, re.DOTALL) if "/_dev/stats" in block]

    exec(source.replace("http://127.0.0.1:9229", dev.base_url), {})  # noqa: S102 (our own documentation)
