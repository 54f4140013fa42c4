"""The Redis test harness itself (tests/redis_support.py and the fixtures in conftest.py): real servers come up, are
emptied between tests, survive kill and restart as documented, form a cluster, and leave no process behind."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from redis_support import RedisCluster, RedisHarnessError, RedisServer, require_redis

TESTS = Path(__file__).resolve().parent
LEFT_BEHIND_SCRIPT = "return 'left behind'"
LEFT_BEHIND_SHA = hashlib.sha1(LEFT_BEHIND_SCRIPT.encode(), usedforsecurity=False).hexdigest()


def test_server_answers_ping_and_set_get(redis_client: redis.Redis) -> None:
    assert redis_client.ping() is True
    redis_client.set("greeting", "hello")
    assert redis_client.get("greeting") == b"hello"


def test_server_url_names_its_loopback_port(redis_server: RedisServer) -> None:
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    with redis.Redis.from_url(redis_server.url) as client:
        assert client.ping() is True


@pytest.mark.parametrize("run", ["first", "second"])
def test_shared_server_is_empty_at_the_start_of_each_test(redis_client: redis.Redis, run: str) -> None:
    # Whichever run comes second fails if the first one's key or cached script were still there.
    assert redis_client.dbsize() == 0
    assert redis_client.script_exists(LEFT_BEHIND_SHA) == [False]
    redis_client.set("left-behind", run)
    assert redis_client.script_load(LEFT_BEHIND_SCRIPT) == LEFT_BEHIND_SHA


async def test_async_client_reaches_the_server(redis_server: RedisServer) -> None:
    client = redis_server.async_client()
    try:
        await client.set("key", "value")
        assert await client.get("key") == b"value"
    finally:
        await client.aclose()


def test_killed_server_restarts_empty_on_the_same_port(fresh_redis_server: RedisServer) -> None:
    with fresh_redis_server.client() as client:
        client.set("key", "value")
    port, pid = fresh_redis_server.port, fresh_redis_server.pid

    fresh_redis_server.kill()
    assert not fresh_redis_server.running
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()

    fresh_redis_server.restart()
    assert fresh_redis_server.port == port
    assert fresh_redis_server.pid != pid
    with fresh_redis_server.client() as client:
        assert client.get("key") is None


def test_persistent_server_keeps_its_data_across_a_kill() -> None:
    require_redis()
    with RedisServer(persistent=True) as server:
        with server.client() as client:
            client.set("key", "value")
        server.kill()
        server.restart()
        with server.client() as client:
            assert client.get("key") == b"value"


def test_stop_ends_the_process_and_removes_its_directory() -> None:
    require_redis()
    server = RedisServer().start()
    directory, pid = server.directory, server.pid
    assert directory is not None
    assert directory.is_dir()
    assert pid is not None

    server.stop()

    assert not server.running
    assert server.directory is None
    assert not directory.exists()
    assert not _process_exists(pid)


def test_a_server_that_cannot_come_up_raises_with_its_log(fresh_redis_server: RedisServer) -> None:
    fresh_redis_server.kill()
    with socket.socket() as squatter:  # takes the port the server must restart on
        squatter.bind(("127.0.0.1", fresh_redis_server.port))
        squatter.listen()
        with pytest.raises(RedisHarnessError, match=r"(?s)exited with 1 before answering PING.*Address already in use"):
            fresh_redis_server.restart()


def test_a_server_left_running_is_killed_when_the_interpreter_exits() -> None:
    require_redis()
    program = (
        "import sys; sys.path.insert(0, sys.argv[1]); from redis_support import RedisServer; "
        "server = RedisServer().start(); print(server.pid, server.directory)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program, str(TESTS)], capture_output=True, text=True, timeout=60, check=True
    )
    pid_text, directory = completed.stdout.split()
    pid = int(pid_text)
    try:
        assert not _process_exists(pid)
        assert not Path(directory).exists()
    finally:
        if _process_exists(pid):
            os.kill(pid, signal.SIGKILL)


def test_missing_redis_server_skips_saying_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("COGNITO_GUARD_REQUIRE_REDIS", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install redis-server"):
        require_redis()


def test_missing_redis_server_fails_when_redis_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("COGNITO_GUARD_REQUIRE_REDIS", "1")
    with pytest.raises(pytest.fail.Exception, match=r"COGNITO_GUARD_REQUIRE_REDIS=1.*apt-get install redis-server"):
        require_redis(cluster=True)


def test_cluster_is_ok_on_every_node(redis_cluster: RedisCluster) -> None:
    assert len(redis_cluster.urls) == 3
    assert redis_cluster.url == redis_cluster.urls[0]
    for node in redis_cluster.nodes:
        with node.client() as client:
            info = client.cluster("INFO")
        assert info["cluster_state"] == "ok"
        assert info["cluster_known_nodes"] == "3"


def test_hash_tagged_keys_land_on_one_node_and_the_cluster_client_routes_there(redis_cluster: RedisCluster) -> None:
    keys = ["{user:42}:session", "{user:42}:revoked"]
    with redis_cluster.client() as client:
        client.mset(dict.fromkeys(keys, "x"))  # a multi-key command: refused with CROSSSLOT unless one slot holds all
        owner = client.get_node_from_key(keys[0])
        assert client.mget(keys) == [b"x", b"x"]

    key_counts: dict[int, int] = {}
    for node in redis_cluster.nodes:
        with node.client() as direct:
            key_counts[node.port] = direct.dbsize()
    assert key_counts == {node.port: (2 if node.port == owner.port else 0) for node in redis_cluster.nodes}


@pytest.mark.parametrize("run", ["first", "second"])
def test_shared_cluster_is_empty_at_the_start_of_each_test(redis_cluster: RedisCluster, run: str) -> None:
    with redis_cluster.client() as client:
        assert client.dbsize(target_nodes=client.ALL_NODES) == 0
        client.set(f"{{left-behind}}:{run}", run)


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
