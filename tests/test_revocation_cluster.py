"""The revocation list on a Redis Cluster (issue 11): given the URL of any one node, a list finds the cluster, its
script runs there (every key of the list in one hash slot), and other lists follow its stream."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.cluster
from redis.crc import key_slot
from redis_support import RedisCluster, require_redis
from test_revocation_redis import ENTRIES, EXPIRY, LOG, Lists, eventually, family

from cognito_guard import errors


@pytest.fixture
def lists(redis_cluster: RedisCluster) -> Iterator[Lists]:
    made = Lists(redis_cluster.url)
    yield made
    made.close()


@pytest.fixture
def cluster_client(redis_cluster: RedisCluster) -> Iterator[redis.cluster.RedisCluster]:
    with redis_cluster.client() as client:
        yield client


def test_the_keys_of_a_list_fall_in_one_hash_slot() -> None:
    assert len({key_slot(key.encode()) for key in (ENTRIES, EXPIRY, LOG)}) == 1


def test_a_revocation_on_the_cluster_is_stored_by_the_script_in_all_three_keys(
    lists: Lists, cluster_client: redis.cluster.RedisCluster
) -> None:
    lists().revoke_family("family-1")

    assert cluster_client.hexists(ENTRIES, "f:family-1")
    assert cluster_client.zscore(EXPIRY, "f:family-1") is not None
    assert cluster_client.xlen(LOG) == 1


def test_lists_on_every_node_follow_a_revocation_made_through_any_node(
    redis_cluster: RedisCluster, lists: Lists
) -> None:
    # Two of the three nodes do not hold the list's slot: only a cluster client can use their URLs.
    followers = [lists(redis_url=url) for url in redis_cluster.urls]

    lists(redis_url=redis_cluster.urls[-1]).revoke_family("family-1")

    for follower in followers:
        assert eventually(lambda: follower.is_revoked(family("family-1")))  # noqa: B023 (called before the next turn)
        assert follower.status().connected


def test_a_list_created_afterwards_on_the_cluster_loads_every_revocation_at_start(
    redis_cluster: RedisCluster, lists: Lists
) -> None:
    earlier = lists()
    earlier.revoke_family("family-1")
    earlier.revoke_token("token-1")
    earlier.sign_out_user("user-1")

    later = lists(redis_url=redis_cluster.urls[1])

    assert later.is_revoked(family("family-1"))
    assert later.is_revoked({"jti": "token-1", "sub": "someone", "iat": 0})
    assert later.status().entries == 3


def test_a_revocation_while_the_whole_cluster_is_down_raises_unavailable_but_is_enforced_here() -> None:
    require_redis(cluster=True)
    with RedisCluster() as cluster:  # of its own: this test kills it
        lists = Lists(cluster.url)
        try:
            revocations = lists()
            for node in cluster.nodes:
                node.kill()

            with pytest.raises(errors.RevocationUnavailableError):
                revocations.revoke_family("family-1")  # the cluster client finds no node, not a RedisError

            assert revocations.is_revoked(family("family-1"))
            with pytest.raises(errors.RevocationUnavailableError):
                revocations.sync_now()
        finally:
            lists.close()
