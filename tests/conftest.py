"""Shared fixtures: one set of RSA keys per test session (key generation is the slow part)."""

from __future__ import annotations

import pytest

from cognito_guard.testing import LocalIssuer, SigningKeyPair


@pytest.fixture(scope="session")
def session_keys() -> tuple[SigningKeyPair, SigningKeyPair]:
    return SigningKeyPair(kid="access-key-1"), SigningKeyPair(kid="id-key-1")


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def issuer(session_keys: tuple[SigningKeyPair, SigningKeyPair], clock: Clock) -> LocalIssuer:
    access_key, id_key = session_keys
    return LocalIssuer(
        user_pool_id="eu-west-1_TestPool1",
        client_id="client-a",
        clock=clock,
        access_key=access_key,
        id_key=id_key,
    )


# A real Redis and a real Redis Cluster (tests/redis_support.py). Without redis-server on PATH the tests that use these
# fixtures skip and say how to enable them; with COGNITO_GUARD_REQUIRE_REDIS=1 (CI) they fail instead.
from collections.abc import Iterator  # noqa: E402

import redis  # noqa: E402
from redis_support import RedisCluster, RedisServer, require_redis  # noqa: E402


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One redis-server for the session, empty at the start of every test that uses it (see ``_empty_shared_redis``).

    A test that kills, restarts or reconfigures the server takes ``fresh_redis_server`` instead.
    """
    require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """``redis://127.0.0.1:PORT/0`` of the session's server, emptied for this test."""
    return redis_server.url


@pytest.fixture
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A redis-py client of the session's server, emptied for this test; closed after it."""
    with redis_server.client() as client:
        yield client


@pytest.fixture
def fresh_redis_server() -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to kill and restart; stopped (directory removed) after the test."""
    require_redis()
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A three-master Redis Cluster for the session, empty at the start of every test that uses it."""
    require_redis(cluster=True)
    with RedisCluster() as cluster:
        yield cluster


@pytest.fixture(autouse=True)
def _empty_shared_redis(request: pytest.FixtureRequest) -> None:
    """Keeps tests independent: the session's Redis server and cluster are emptied before each test that uses them
    (directly or through another fixture). A shared server some test left dead is started again."""
    if "redis_server" in request.fixturenames:
        server: RedisServer = request.getfixturevalue("redis_server")
        if not server.running:
            server.restart()
        server.flush()
    if "redis_cluster" in request.fixturenames:
        cluster: RedisCluster = request.getfixturevalue("redis_cluster")
        cluster.flush()
