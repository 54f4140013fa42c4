"""A fleet sharing one token through a real Redis (tests/redis_support.py): one token request for several processes,
the lock (a bounded wait, a TTL for a holder that dies), shared failures, sealed entries, and Redis out of reach."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import Clock
from redis_support import RedisCluster, RedisServer
from test_client_credentials_standin import M2M_ID, M2M_SECRET, TokenEndpoint
from test_client_credentials_standin import stand_in as stand_in  # a fixture, used by name

from cognito_guard.client import ClientCredentials, RedisTokenCache
from cognito_guard.errors import InvalidClientError, TokenEndpointUnavailableError

ROOT = Path(__file__).resolve().parent.parent
Make = Callable[..., ClientCredentials]

# One process of the fleet: says "ready", waits for "go", says "asking", gets a token, prints its digest and count.
WORKER = """
import hashlib, sys
from cognito_guard.client import ClientCredentials, RedisTokenCache
credentials = ClientCredentials(
    token_url=sys.argv[1], client_id=sys.argv[3], client_secret=sys.argv[4], cache=RedisTokenCache(sys.argv[2])
)
print("ready", flush=True)
sys.stdin.readline()
print("asking", flush=True)
token = credentials.token()
print(hashlib.sha256(token.encode()).hexdigest(), credentials.metrics.tokens_fetched, flush=True)
"""


@pytest.fixture
def make(stand_in: TokenEndpoint, clock: Clock, redis_url: str) -> Iterator[Make]:
    """ClientCredentials for the stand-in's machine client sharing the test's Redis (options override)."""
    made: list[ClientCredentials] = []
    caches: list[RedisTokenCache] = []

    def build(**options: Any) -> ClientCredentials:
        if "cache" not in options:
            caches.append(RedisTokenCache(redis_url))
            options["cache"] = caches[-1]
        settings: dict[str, Any] = {"token_url": stand_in.token_url, "client_id": M2M_ID, "client_secret": M2M_SECRET}
        made.append(ClientCredentials(**{**settings, "clock": clock, **options}))
        return made[-1]

    yield build
    for credentials in made:
        credentials.close()
    for cache in caches:
        cache.close()


def lock_key(client: redis.Redis) -> str:
    keys = [key for key in client.scan_iter("{cognito_guard:m2m:*}:lock")]
    assert len(keys) <= 1
    return str(keys[0]) if keys else ""


def entry_keys(redis_url: str) -> list[str]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        return sorted(client.scan_iter("*"))


# -- a fleet, one token ------------------------------------------------------------------------------------------------


def test_four_processes_sharing_redis_make_one_token_request(stand_in: TokenEndpoint, redis_url: str) -> None:
    command = [sys.executable, "-c", WORKER, stand_in.token_url, redis_url, M2M_ID, M2M_SECRET]
    processes = [
        subprocess.Popen(command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(4)
    ]
    stand_in.gate = threading.Event()
    try:
        for process in processes:  # a barrier: every process is ready before any asks
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "asking"
        assert stand_in.arrived.wait(30)
        stand_in.gate.set()  # every process is asking while the first request is held
        answers = [process.communicate(timeout=60)[0].split() for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert len({digest for digest, _ in answers}) == 1
    assert sorted(fetched for _, fetched in answers) == ["0", "0", "0", "1"]
    assert stand_in.requests == 1


def test_two_sources_sharing_redis_make_one_token_request(make: Make, stand_in: TokenEndpoint) -> None:
    first, second = make(), make()

    assert first.token() == second.token()
    assert stand_in.requests == 1
    assert second.metrics.shared_cache_hits == 1


async def test_async_callers_share_the_redis_token(make: Make, stand_in: TokenEndpoint) -> None:
    first, second = make(), make()

    tokens = await asyncio.gather(*(source.atoken() for source in (first, second) for _ in range(50)))

    assert len(set(tokens)) == 1
    assert stand_in.requests == 1
    await first.aclose()
    await second.aclose()


def test_a_renewal_by_one_process_serves_the_others(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    first, second = make(), make()
    second.token()
    clock.advance(2700)

    renewed = first.token()

    assert second.token() == renewed
    assert stand_in.requests == 2


def test_a_waiting_source_takes_the_token_the_lock_holder_stores(make: Make, stand_in: TokenEndpoint) -> None:
    holder, waiter = make(), make()
    stand_in.gate = threading.Event()
    got: list[str] = []
    holding = threading.Thread(target=lambda: got.append(holder.token()))
    holding.start()
    assert stand_in.arrived.wait(30)
    waiting = threading.Thread(target=lambda: got.append(waiter.token()))
    waiting.start()

    stand_in.gate.set()
    holding.join(30)
    waiting.join(30)

    assert len(got) == 2
    assert got[0] == got[1]
    assert stand_in.requests == 1
    assert waiter.metrics.shared_cache_hits == 1


# -- the lock ----------------------------------------------------------------------------------------------------------


def test_the_lock_is_held_with_a_ttl_while_asking(make: Make, stand_in: TokenEndpoint, redis_url: str) -> None:
    credentials = make(lock_ttl=7)
    stand_in.gate = threading.Event()
    asking = threading.Thread(target=credentials.token)
    asking.start()
    assert stand_in.arrived.wait(30)

    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        ttl_ms = client.pttl(lock_key(client))
    stand_in.gate.set()
    asking.join(30)

    assert 0 < ttl_ms <= 7000


def test_the_lock_is_released_after_the_request(make: Make, redis_url: str) -> None:
    make().token()

    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        assert lock_key(client) == ""


def test_a_lock_left_by_a_dead_holder_lapses_and_the_next_caller_takes_it(
    make: Make, stand_in: TokenEndpoint, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = make()
    name = credentials.cache_name
    with redis.Redis.from_url(redis_url) as client:
        client.set(f"{{cognito_guard:m2m:{name}}}:lock", "a dead process", px=300)

    assert credentials.token()
    assert stand_in.requests == 1
    assert "without the lock" not in caplog.text  # it waited for the lock to lapse, then took it


def test_a_caller_waits_for_another_holder_at_most_lock_wait(
    make: Make, stand_in: TokenEndpoint, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = make(lock_wait=0.2)
    with redis.Redis.from_url(redis_url) as client:
        client.set(f"{{cognito_guard:m2m:{credentials.cache_name}}}:lock", "a stuck process", px=60_000)

    assert credentials.token()
    assert stand_in.requests == 1
    assert "asking Cognito without the lock" in caplog.text


# -- failures and refusals shared --------------------------------------------------------------------------------------


def test_a_failure_is_shared_so_other_processes_do_not_ask(make: Make, stand_in: TokenEndpoint) -> None:
    first, second = make(), make()
    stand_in.down_with = 503
    with pytest.raises(TokenEndpointUnavailableError):
        first.token()

    with pytest.raises(TokenEndpointUnavailableError, match="HTTP 503"):
        second.token()
    assert stand_in.requests == 1


def test_the_shared_backoff_doubles_across_processes(make: Make, stand_in: TokenEndpoint, clock: Clock) -> None:
    first, second = make(), make()
    stand_in.down_with = 503
    with pytest.raises(TokenEndpointUnavailableError):
        first.token()
    clock.advance(1)

    with pytest.raises(TokenEndpointUnavailableError) as caught:
        second.token()

    assert caught.value.retry_after == 2
    assert stand_in.requests == 2


def test_a_token_refused_by_the_api_is_replaced_once_for_the_fleet(
    make: Make, stand_in: TokenEndpoint, clock: Clock
) -> None:
    first, second = make(), make()
    old = first.token()
    second.token()
    clock.advance(60)

    assert first.invalidate(old)
    new = first.token()
    assert second.invalidate(old)

    assert second.token() == new
    assert stand_in.requests == 2


# -- what Redis holds --------------------------------------------------------------------------------------------------


def test_redis_holds_the_token_sealed(make: Make, redis_url: str) -> None:
    token = make().token()

    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        values = [client.get(key) or "" for key in client.scan_iter("*")]

    assert values
    assert not any(token in value or token.split(".")[1] in value for value in values)
    assert not any(M2M_SECRET in key for key in entry_keys(redis_url))


def test_a_source_with_a_wrong_secret_never_gets_the_cached_token(make: Make) -> None:
    make().token()

    with pytest.raises(InvalidClientError):
        make(client_secret="another-secret").token()


def test_a_forged_entry_is_ignored(make: Make, stand_in: TokenEndpoint, redis_url: str) -> None:
    credentials = make()
    with redis.Redis.from_url(redis_url) as client:
        client.set(f"{{cognito_guard:m2m:{credentials.cache_name}}}:token", "v1.forged", px=60_000)

    token = credentials.token()

    assert token != "forged"
    assert stand_in.requests == 1


def test_entries_share_one_hash_tag_for_a_cluster(make: Make, redis_url: str) -> None:
    credentials = make()
    credentials.token()

    tags = {key.split("}")[0] for key in entry_keys(redis_url)}

    assert tags == {f"{{cognito_guard:m2m:{credentials.cache_name}"}


def test_two_sources_share_one_token_through_a_redis_cluster(
    make: Make, stand_in: TokenEndpoint, redis_cluster: RedisCluster
) -> None:
    first = make(cache=RedisTokenCache(redis_cluster.url))
    second = make(cache=RedisTokenCache(redis_cluster.url))

    assert first.token() == second.token()
    assert stand_in.requests == 1


# -- Redis out of reach ------------------------------------------------------------------------------------------------


def test_with_redis_out_of_reach_the_process_still_asks_once(
    stand_in: TokenEndpoint, clock: Clock, fresh_redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    cache = RedisTokenCache(fresh_redis_server.url)
    fresh_redis_server.stop()
    credentials = ClientCredentials(
        token_url=stand_in.token_url, client_id=M2M_ID, client_secret=M2M_SECRET, cache=cache, clock=clock
    )

    tokens = {credentials.token() for _ in range(5)}

    assert len(tokens) == 1
    assert stand_in.requests == 1
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "token cache is out of reach" in warnings[0].getMessage()
    credentials.close()
