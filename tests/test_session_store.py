"""The SessionStore protocol (issue 12, item 1), the same specification for MemorySessionStore and RedisSessionStore
(a real redis-server on loopback, and a 3-master cluster): versions, compare-and-set, single-use pop, TTLs, groups
kept in one cluster slot, and a clear 503 when Redis is out of reach."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from conftest import Clock
from redis_support import RedisCluster, RedisServer
from servers import free_port

from cognito_guard.errors import SessionStoreUnavailableError
from cognito_guard.hosted_ui import MemorySessionStore, RedisSessionStore, SessionStore


@pytest.fixture(params=["memory", "redis"])
def store(request: pytest.FixtureRequest, clock: Clock) -> Iterator[SessionStore]:
    if request.param == "memory":
        yield MemorySessionStore(clock=clock)
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()  # requested dynamically, so the harness's automatic emptying does not see it
    redis_store = RedisSessionStore(server.url)
    yield redis_store
    redis_store.close()


def test_an_entry_reads_back_as_written(store: SessionStore) -> None:
    store.set("session:a", {"tokens": {"id": "x"}, "n": 1}, ttl=60)
    assert store.get("session:a") == {"tokens": {"id": "x"}, "n": 1}


def test_a_missing_entry_is_none(store: SessionStore) -> None:
    assert store.get("session:none") is None
    assert store.get_versioned("session:none") is None


def test_a_new_entry_has_version_1_and_each_write_adds_one(store: SessionStore) -> None:
    store.set("session:a", {"n": 1}, ttl=60)
    store.set("session:a", {"n": 2}, ttl=60)
    assert store.get_versioned("session:a") == ({"n": 2}, 2)


def test_compare_and_set_with_version_0_creates_only_when_absent(store: SessionStore) -> None:
    assert store.compare_and_set("lock:a", {"holder": 1}, ttl=60, version=0) == 1
    assert store.compare_and_set("lock:a", {"holder": 2}, ttl=60, version=0) is None
    assert store.get("lock:a") == {"holder": 1}


def test_compare_and_set_with_the_read_version_writes(store: SessionStore) -> None:
    store.set("session:a", {"n": 1}, ttl=60)
    assert store.compare_and_set("session:a", {"n": 2}, ttl=60, version=1) == 2
    assert store.get("session:a") == {"n": 2}


def test_compare_and_set_after_someone_else_wrote_fails_and_changes_nothing(store: SessionStore) -> None:
    store.set("session:a", {"n": 1}, ttl=60)
    store.set("session:a", {"by": "another worker"}, ttl=60)
    assert store.compare_and_set("session:a", {"n": 2}, ttl=60, version=1) is None
    assert store.get("session:a") == {"by": "another worker"}


def test_compare_and_set_of_a_deleted_entry_fails(store: SessionStore) -> None:
    store.set("session:a", {"n": 1}, ttl=60)
    store.delete("session:a")
    assert store.compare_and_set("session:a", {"n": 2}, ttl=60, version=1) is None
    assert store.get("session:a") is None


def test_delete_if_deletes_only_the_version_it_names(store: SessionStore) -> None:
    store.set("lock:a", {}, ttl=60)
    store.set("lock:a", {}, ttl=60)
    assert store.delete_if("lock:a", version=1) is False
    assert store.delete_if("lock:a", version=2) is True
    assert store.get("lock:a") is None


def test_pop_gives_the_entry_once(store: SessionStore) -> None:
    store.set("pending:a", {"state": "s"}, ttl=60)
    assert store.pop("pending:a") == {"state": "s"}
    assert store.pop("pending:a") is None


def test_of_twenty_threads_popping_one_entry_exactly_one_gets_it(store: SessionStore) -> None:
    store.set("pending:a", {"state": "s"}, ttl=60)
    start = threading.Barrier(20)

    def take(_: int) -> dict[str, Any] | None:
        start.wait()
        return store.pop("pending:a")

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(take, range(20)))

    assert sum(result is not None for result in results) == 1


def test_of_twenty_threads_racing_to_create_one_entry_exactly_one_wins(store: SessionStore) -> None:
    start = threading.Barrier(20)

    def create(index: int) -> int | None:
        start.wait()
        return store.compare_and_set("lock:a", {"holder": index}, ttl=60, version=0)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(create, range(20)))

    assert results.count(1) == 1
    assert results.count(None) == 19


def test_a_ttl_that_is_not_positive_is_refused(store: SessionStore) -> None:
    with pytest.raises(ValueError, match="ttl"):
        store.set("session:a", {}, ttl=0)


# -- memory specifics --------------------------------------------------------------------------------------------------


def test_a_memory_entry_expires_after_its_ttl(clock: Clock) -> None:
    store = MemorySessionStore(clock=clock)
    store.set("session:a", {}, ttl=60)
    clock.advance(60)
    assert store.get("session:a") is None
    assert store.compare_and_set("session:a", {}, ttl=60, version=0) == 1


def test_a_memory_store_is_called_inline_and_redis_from_a_thread() -> None:
    assert MemorySessionStore.blocking is False
    assert RedisSessionStore.blocking is True


# -- redis specifics --------------------------------------------------------------------------------------------------


def test_a_redis_entry_carries_its_ttl(redis_server: RedisServer) -> None:
    store = RedisSessionStore(redis_server.url)
    store.set("session:a", {}, ttl=60)
    client = redis_server.client()
    try:
        (key,) = client.keys("*")
        assert 59_000 < client.pttl(key) <= 60_000
    finally:
        client.close()
        store.close()


def test_a_session_and_its_lock_share_one_hash_tag(redis_server: RedisServer) -> None:
    store = RedisSessionStore(redis_server.url, namespace="app1")
    store.set("session:abc", {}, ttl=60)
    store.set("session:abc#refresh", {}, ttl=60)
    client = redis_server.client()
    try:
        keys = sorted(key.decode() if isinstance(key, bytes) else key for key in client.keys("*"))
    finally:
        client.close()
        store.close()
    assert keys == ["{app1:hosted_ui:session:abc}", "{app1:hosted_ui:session:abc}#refresh"]


def test_two_namespaces_on_one_redis_do_not_see_each_other(redis_server: RedisServer) -> None:
    first, second = (
        RedisSessionStore(redis_server.url, namespace="a"),
        RedisSessionStore(redis_server.url, namespace="b"),
    )
    try:
        first.set("session:x", {"app": "a"}, ttl=60)
        assert second.get("session:x") is None
    finally:
        first.close()
        second.close()


def test_an_unreadable_entry_in_redis_reads_as_absent(redis_server: RedisServer) -> None:
    store = RedisSessionStore(redis_server.url)
    client = redis_server.client()
    try:
        client.set("{cognito_guard:hosted_ui:session:a}", "not a version\n{]")
        assert store.get("session:a") is None
    finally:
        client.close()
        store.close()


def test_two_workers_share_entries_through_redis(redis_server: RedisServer) -> None:
    worker_a, worker_b = RedisSessionStore(redis_server.url), RedisSessionStore(redis_server.url)
    try:
        worker_a.set("session:a", {"n": 1}, ttl=60)
        assert worker_b.compare_and_set("session:a", {"n": 2}, ttl=60, version=1) == 2
        assert worker_a.compare_and_set("session:a", {"n": 3}, ttl=60, version=1) is None
        assert worker_a.get("session:a") == {"n": 2}
    finally:
        worker_a.close()
        worker_b.close()


@pytest.mark.parametrize("call", ["get", "set", "compare_and_set", "pop", "delete", "delete_if"])
def test_redis_out_of_reach_is_a_503_error(call: str) -> None:
    store = RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    arguments: dict[str, tuple[Any, dict[str, Any]]] = {
        "get": (("session:a",), {}),
        "set": (("session:a", {}), {"ttl": 60}),
        "compare_and_set": (("session:a", {}), {"ttl": 60, "version": 0}),
        "pop": (("session:a",), {}),
        "delete": (("session:a",), {}),
        "delete_if": (("session:a",), {"version": 1}),
    }
    args, kwargs = arguments[call]
    with pytest.raises(SessionStoreUnavailableError) as raised:
        getattr(store, call)(*args, **kwargs)
    assert raised.value.status_code == 503
    store.close()


def test_a_url_that_is_not_redis_is_a_configuration_error() -> None:
    from cognito_guard import ConfigurationError

    with pytest.raises(ConfigurationError):
        RedisSessionStore("http://cache:6379")


def test_from_env_needs_cognito_redis_url() -> None:
    from cognito_guard import ConfigurationError

    with pytest.raises(ConfigurationError, match="COGNITO_REDIS_URL"):
        RedisSessionStore.from_env({})


def test_the_store_works_on_a_redis_cluster(redis_cluster: RedisCluster) -> None:
    worker_a, worker_b = RedisSessionStore(redis_cluster.url), RedisSessionStore(redis_cluster.url)
    try:
        worker_a.set("session:abc", {"n": 1}, ttl=60)
        assert worker_b.compare_and_set("session:abc#refresh", {}, ttl=60, version=0) == 1
        assert worker_b.compare_and_set("session:abc", {"n": 2}, ttl=60, version=1) == 2
        assert worker_a.pop("session:abc") == {"n": 2}
        assert worker_a.delete_if("session:abc#refresh", version=1) is True
    finally:
        worker_a.close()
        worker_b.close()


def test_a_cluster_with_every_node_down_is_a_503_error_not_a_cluster_exception() -> None:
    from redis_support import require_redis

    require_redis(cluster=True)
    with RedisCluster() as cluster:  # of its own: this test kills it
        store = RedisSessionStore(cluster.url)
        store.set("session:abc", {}, ttl=60)
        for node in cluster.nodes:
            node.kill()
        try:
            with pytest.raises(SessionStoreUnavailableError):
                store.get("session:abc")
        finally:
            store.close()
