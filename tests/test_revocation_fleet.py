"""A fleet: three workers of examples/fastapi_app.py, each a uvicorn process of its own on its own port, share one real
Redis through COGNITO_REDIS_URL (tokens from a test pool whose keys are in a JWKS file).

- A sign-out on one worker, or `cognito-guard revoke` run by an operator, reaches every worker within moments.
- Redis crashing does not stop the fleet: what the workers know stays enforced, everyone else is still served, and a
  sign-out taken meanwhile is refused at once by its worker (which answers 503 so the client retries).
- Once Redis is back (empty: no persistence), the workers resynchronise: new revocations reach them all again, and what
  a worker took while Redis was down is written back and reaches the others.

Propagation times (from the revocation's acknowledgement to each worker's first 401) are printed (``pytest -s``) and
recorded as test properties (``--junitxml``).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx
import jwt
import pytest
from cognito_env import use_offline_pool
from redis_support import RedisServer
from servers import free_port, serve_command

from cognito_guard.testing import LocalIssuer, SigningKeyPair

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 3
PROPAGATION_BOUND = 5.0  # seconds; measured figures are a few milliseconds, the bound only catches a broken path
# After Redis comes back a worker reconnects at the end of its current backoff (doubling from 0.1 s, at most 30 s):
# after the short outages here that is well under a second, but the bound allows for the longest backoff.
RESYNC_BOUND = 35.0

Record = Callable[[str, object], None]


class Fleet:
    """The workers' base URLs, and the calls the tests make to them (one kept-alive HTTP client per worker, so a
    measured time is the worker's, not a new connection's)."""

    def __init__(self, urls: list[str], clients: dict[str, httpx.Client]) -> None:
        self.urls = urls
        self._clients = clients

    def me(self, url: str, token: str) -> httpx.Response:
        return self._clients[url].get("/me", headers=bearer(token))

    def sign_out(self, url: str, token: str) -> httpx.Response:
        return self._clients[url].post("/sign-out", headers=bearer(token))

    def health(self) -> list[int]:
        return [self._clients[url].get("/health").status_code for url in self.urls]

    def statuses(self, token: str) -> list[int]:
        return [self.me(url, token).status_code for url in self.urls]

    def codes(self, token: str) -> list[str | None]:
        return [self.me(url, token).json().get("code") for url in self.urls]

    def propagation(self, token: str, since: float, *, within: float) -> list[float | None]:
        """Seconds from ``since`` (``time.monotonic()``) until each worker first refuses ``token`` as revoked, every
        worker polled at the same time by a thread of its own; None for a worker still accepting it after ``within``.

        Raises AssertionError if a worker answers anything but 200 or 401 ``token_revoked`` meanwhile."""
        deadline = since + within

        def first_refusal(url: str) -> float | None:
            pause = threading.Event()
            while True:
                response = self.me(url, token)
                if response.status_code == 401 and response.json().get("code") == "token_revoked":
                    return time.monotonic() - since
                assert response.status_code == 200, f"{url}: {response.status_code} {response.text}"
                if time.monotonic() > deadline:
                    return None
                pause.wait(0.002)  # polling another process until it changes its answer: there is nothing to wait on

        with ThreadPoolExecutor(len(self.urls)) as pool:
            return list(pool.map(first_refusal, self.urls))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def report(record_property: Record, name: str, seconds: list[float | None]) -> None:
    """Print the figures (``-s``) and record them in the test report."""
    shown = ", ".join("never" if value is None else f"{value * 1000:.1f} ms" for value in seconds)
    print(f"\n{name}: {shown}")
    for index, value in enumerate(seconds):
        record_property(f"{name}_worker_{index}_ms", None if value is None else round(value * 1000, 1))


def origin_jti(token: str) -> str:
    """What an operator reads from a token (or a log line) to revoke its sign-in."""
    value: str = jwt.decode(token, options={"verify_signature": False})["origin_jti"]
    return value


@pytest.fixture
def pool(session_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """The user pool the fleet trusts, on the real clock (the workers verify with time.time())."""
    access_key, id_key = session_keys
    return LocalIssuer(user_pool_id="eu-west-1_Fleet1", client_id="fleet-client", access_key=access_key, id_key=id_key)


@pytest.fixture
def start_fleet(pool: LocalIssuer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], Fleet]]:
    """Start the three workers against a Redis URL: `uvicorn examples.fastapi_app:app --port N`, N free ports."""
    use_offline_pool(monkeypatch, pool, tmp_path)
    uvicorn = str(Path(sys.executable).with_name("uvicorn"))
    with ExitStack() as workers:

        def start(redis_url: str) -> Fleet:
            monkeypatch.setenv("COGNITO_REDIS_URL", redis_url)
            urls = []
            for index in range(WORKERS):
                port = free_port()
                command = [uvicorn, "examples.fastapi_app:app", "--port", str(port)]
                log = tmp_path / f"worker-{index}.log"
                urls.append(workers.enter_context(serve_command(command, port=port, cwd=ROOT, log=log)))
            clients = {
                url: workers.enter_context(httpx.Client(base_url=url, timeout=30, trust_env=False)) for url in urls
            }
            return Fleet(urls, clients)

        yield start


# -- with Redis up ----------------------------------------------------------------------------------------------------


def test_sign_out_on_one_worker_reaches_every_worker_within_5_seconds(
    start_fleet: Callable[[str], Fleet], redis_url: str, pool: LocalIssuer, record_property: Record
) -> None:
    fleet = start_fleet(redis_url)
    token = pool.access_token()
    assert fleet.statuses(token) == [200] * WORKERS  # accepted (and cached) everywhere first

    assert fleet.sign_out(fleet.urls[0], token).status_code == 204
    seconds = fleet.propagation(token, time.monotonic(), within=PROPAGATION_BOUND)

    report(record_property, "sign_out_propagation", seconds)
    assert None not in seconds


def test_cognito_guard_revoke_reaches_every_worker_within_5_seconds(
    start_fleet: Callable[[str], Fleet], redis_url: str, pool: LocalIssuer, record_property: Record
) -> None:
    fleet = start_fleet(redis_url)
    token = pool.access_token()
    assert fleet.statuses(token) == [200] * WORKERS
    command = [str(Path(sys.executable).with_name("cognito-guard")), "revoke", "--origin-jti", origin_jti(token)]

    revoke = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)  # COGNITO_REDIS_URL
    seconds = fleet.propagation(token, time.monotonic(), within=PROPAGATION_BOUND)

    assert revoke.returncode == 0, revoke.stderr
    report(record_property, "cli_revoke_propagation", seconds)
    assert None not in seconds


# -- Redis crashes and comes back --------------------------------------------------------------------------------------


def test_while_redis_is_down_workers_keep_refusing_what_they_know_and_serve_everyone_else(
    start_fleet: Callable[[str], Fleet], fresh_redis_server: RedisServer, pool: LocalIssuer
) -> None:
    fleet = start_fleet(fresh_redis_server.url)
    revoked, other = pool.access_token(), pool.access_token()
    assert fleet.sign_out(fleet.urls[0], revoked).status_code == 204
    assert None not in fleet.propagation(revoked, time.monotonic(), within=PROPAGATION_BOUND)

    fresh_redis_server.kill()

    assert fleet.codes(revoked) == ["token_revoked"] * WORKERS
    assert fleet.statuses(other) == [200] * WORKERS
    assert fleet.health() == [200] * WORKERS


def test_after_redis_restarts_a_new_revocation_reaches_every_worker(
    start_fleet: Callable[[str], Fleet], fresh_redis_server: RedisServer, pool: LocalIssuer, record_property: Record
) -> None:
    fleet = start_fleet(fresh_redis_server.url)
    token = pool.access_token()
    assert fleet.statuses(token) == [200] * WORKERS
    fresh_redis_server.kill()
    fresh_redis_server.restart()  # empty: no persistence

    assert fleet.sign_out(fleet.urls[1], token).status_code == 204
    seconds = fleet.propagation(token, time.monotonic(), within=RESYNC_BOUND)

    report(record_property, "after_restart_propagation", seconds)
    assert None not in seconds


def test_a_sign_out_while_redis_is_down_answers_503_and_its_worker_refuses_the_token_at_once(
    start_fleet: Callable[[str], Fleet], fresh_redis_server: RedisServer, pool: LocalIssuer
) -> None:
    fleet = start_fleet(fresh_redis_server.url)
    token = pool.access_token()
    fresh_redis_server.kill()

    response = fleet.sign_out(fleet.urls[0], token)

    assert response.status_code == 503
    assert response.json()["code"] == "revocation_unavailable"
    assert response.headers["Retry-After"].isdigit()
    assert fleet.me(fleet.urls[0], token).json()["code"] == "token_revoked"


def test_a_sign_out_taken_while_redis_was_down_reaches_every_worker_once_it_is_back(
    start_fleet: Callable[[str], Fleet], fresh_redis_server: RedisServer, pool: LocalIssuer, record_property: Record
) -> None:
    fleet = start_fleet(fresh_redis_server.url)
    token = pool.access_token()
    fresh_redis_server.kill()
    assert fleet.sign_out(fleet.urls[0], token).status_code == 503
    assert fleet.statuses(token)[1:] == [200] * (WORKERS - 1)  # the others cannot know yet

    fresh_redis_server.restart()  # empty: worker 0 writes back what it took meanwhile
    seconds = fleet.propagation(token, time.monotonic(), within=RESYNC_BOUND)

    report(record_property, "write_back_propagation", seconds)
    assert None not in seconds
