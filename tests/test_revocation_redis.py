"""The revocation list shared through a real Redis (issue 11, "Real parts in the tests"): what one list records, every
other list on the same Redis enforces, whether it runs in this process, in other processes or in forked children.

Faults (Redis killed, unreachable, malformed or flooded) are in tests/test_revocation_faults.py, Redis Cluster in
tests/test_revocation_cluster.py. Those files take ``eventually``, ``Lists`` and ``WorkerProcess`` from here.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
import redis
from conftest import Clock
from redis.crc import key_slot

from cognito_guard import errors
from cognito_guard.revocation import RevocationList
from cognito_guard.testing import LocalIssuer

ROOT = Path(__file__).resolve().parent.parent
TAG = "{cognito_guard:revocations}"
ENTRIES, EXPIRY, LOG = f"{TAG}:entries", f"{TAG}:expiry", f"{TAG}:log"
SYNC_THREAD = "cognito-guard-revocations"
# Correctness, not speed: Redis carries a revocation in milliseconds; a loaded CI machine may stall for seconds.
DEADLINE = 5.0
# A list that lost Redis retries with a backoff that doubles up to 30 s: after a few seconds down, up to ~6 s more.
RECONNECT_DEADLINE = 20.0


def eventually(predicate: Callable[[], object], timeout: float = DEADLINE) -> bool:
    """Whether ``predicate`` turns true within ``timeout`` seconds, polled every 5 ms: for what travels through Redis
    or another process, never for the passing of time (tests move a clock for that)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        pause.wait(0.005)
    return True


def stored(client: Any, field: str) -> str | None:
    """What ``client`` (redis-py, plain or cluster, not decoding) holds for record ``field``: "<at> <expires_at>"."""
    value = client.hget(ENTRIES, field)
    return None if value is None else str(value.decode())


def family(name: str) -> dict[str, Any]:
    """The claims of a token of sign-in family ``name`` (for ``is_revoked``)."""
    return {"origin_jti": name, "jti": f"{name}-token", "sub": "someone", "iat": 0}


class Lists:
    """Makes revocation lists on one Redis (``redis_url`` may be overridden) and closes them all at the end."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._made: list[RevocationList] = []

    def __call__(self, **options: Any) -> RevocationList:
        options.setdefault("redis_url", self.url)
        revocations = RevocationList(**options)
        self._made.append(revocations)
        return revocations

    def from_env(self, environ: dict[str, str], **options: Any) -> RevocationList:
        revocations = RevocationList.from_env(environ, **options)
        self._made.append(revocations)
        return revocations

    def close(self) -> None:
        """Close every list, all at once: each close waits for its sync thread's read of Redis (up to a second)."""
        closing = [threading.Thread(target=revocations.close) for revocations in self._made]
        for thread in closing:
            thread.start()
        for thread in closing:
            thread.join()


@pytest.fixture
def lists(redis_url: str) -> Iterator[Lists]:
    made = Lists(redis_url)
    yield made
    made.close()


# A process of its own holding a revocation list: says "ready" once its first synchronisation is done, then one line
# "seen <family> <time.time()>" as each watched family becomes revoked (polled every 0.5 ms), in any order.
WORKER = """
import sys, threading, time
from cognito_guard.revocation import RevocationList

url, families = sys.argv[1], sys.argv[2:]
pause = threading.Event()
with RevocationList(redis_url=url) as revocations:
    print("ready", revocations.status().connected, flush=True)
    waiting = list(families)
    while waiting:
        for name in list(waiting):
            if revocations.is_revoked({"origin_jti": name, "sub": "someone", "iat": 0}):
                print("seen", name, repr(time.time()), flush=True)
                waiting.remove(name)
        pause.wait(0.0005)
"""


class WorkerProcess:
    """A Python process running ``WORKER`` on ``url``, watching ``families``; killed by :meth:`stop`."""

    def __init__(self, url: str, *families: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, url, *families],
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def line(self, timeout: float) -> str:
        """The next line it prints; AssertionError if none comes within ``timeout`` seconds."""
        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout)
        assert readable, f"the worker said nothing within {timeout} s"
        line = stdout.readline()
        assert line, f"the worker exited: {self.stderr()}"
        return line.strip()

    def seen(self, timeout: float = DEADLINE) -> tuple[str, float]:
        """The next family it reports revoked, and when (``time.time()`` in the worker)."""
        word, name, at = self.line(timeout).split(" ")
        assert word == "seen"
        return name, float(at)

    def stderr(self) -> str:
        self.stop()
        return self.process.stderr.read() if self.process.stderr else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def close(self) -> None:
        """Stop it and close its pipes."""
        self.stop()
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def workers() -> Iterator[list[WorkerProcess]]:
    """Worker processes a test starts; all killed after it."""
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.close()


# -- one list records, another on the same Redis enforces -----------------------------------------------------------


def test_a_family_revoked_in_one_list_is_refused_by_another_on_the_same_redis(lists: Lists) -> None:
    here, there = lists(), lists()
    here.revoke_family("family-1")
    assert eventually(lambda: there.is_revoked(family("family-1")))
    assert not there.is_revoked(family("family-2"))


def test_a_token_revoked_in_one_list_is_refused_by_another(lists: Lists) -> None:
    here, there = lists(), lists()
    here.revoke_token("token-1")
    assert eventually(lambda: there.is_revoked({"jti": "token-1", "sub": "someone", "iat": 0}))


def test_a_user_signed_out_in_one_list_is_signed_out_in_another(lists: Lists, clock: Clock) -> None:
    here, there = lists(clock=clock), lists(clock=clock)
    here.sign_out_user("user-1")
    assert eventually(lambda: there.is_revoked({"sub": "user-1", "iat": clock() - 60}))
    assert not there.is_revoked({"sub": "user-1", "iat": clock() + 2})


@pytest.mark.parametrize("way", ["verify", "verify_sync"])
async def test_a_verifier_on_another_list_refuses_its_cached_token_once_the_family_is_revoked(
    lists: Lists, issuer: LocalIssuer, clock: Clock, way: str
) -> None:
    here, there = lists(clock=clock), lists(clock=clock)
    verifier = issuer.verifier(token_use=None, revocations=there)
    token = issuer.access_token(claims={"origin_jti": "family-1"})
    verifier.verify_sync(token)  # accepted, and now in the verified-result cache

    here.revoke_family("family-1")

    def refused() -> bool:
        try:
            verifier.verify_sync(token)
        except errors.TokenRevokedError:
            return True
        return False

    assert eventually(refused)
    with pytest.raises(errors.TokenRevokedError):
        await verifier.verify(token) if way == "verify" else verifier.verify_sync(token)


def test_a_verifier_on_another_list_refuses_the_tokens_of_a_user_signed_out_elsewhere(
    lists: Lists, issuer: LocalIssuer, clock: Clock
) -> None:
    here, there = lists(clock=clock), lists(clock=clock)
    verifier = issuer.verifier(token_use=None, revocations=there)
    token = issuer.id_token(sub="user-1")
    clock.advance(10)

    here.sign_out_user("user-1")

    assert eventually(lambda: there.is_revoked({"sub": "user-1", "iat": clock() - 10}))
    with pytest.raises(errors.TokenRevokedError, match="signed out"):
        verifier.verify_sync(token)


def test_a_list_created_afterwards_loads_every_revocation_at_start(lists: Lists, clock: Clock) -> None:
    earlier = lists(clock=clock)
    earlier.revoke_family("family-1")
    earlier.revoke_token("token-1")
    earlier.sign_out_user("user-1")

    later = lists(clock=clock)  # no waiting: the constructor synchronises in full

    assert later.is_revoked(family("family-1"))
    assert later.is_revoked({"jti": "token-1", "sub": "someone", "iat": 0})
    assert later.is_revoked({"sub": "user-1", "iat": clock()})
    assert later.status().entries == 3


@pytest.mark.parametrize(
    ("way", "arguments", "claims"),
    [
        ("revoke_family", ("family-1",), family("family-1")),
        ("arevoke_family", ("family-1",), family("family-1")),
        ("revoke_token", ("token-1",), {"jti": "token-1", "sub": "someone", "iat": 0}),
        ("arevoke_token", ("token-1",), {"jti": "token-1", "sub": "someone", "iat": 0}),
        ("sign_out_user", ("user-1",), {"sub": "user-1", "iat": 0}),
        ("asign_out_user", ("user-1",), {"sub": "user-1", "iat": 0}),
        ("revoke_claims", ({"origin_jti": "family-1"},), family("family-1")),
        ("arevoke_claims", ({"jti": "token-1"},), {"jti": "token-1", "sub": "someone", "iat": 0}),
    ],
)
async def test_every_way_in_reaches_another_list(
    lists: Lists, way: str, arguments: tuple[Any, ...], claims: dict[str, Any]
) -> None:
    here, there = lists(), lists()
    result = getattr(here, way)(*arguments)
    if way.startswith("a"):
        await result
    assert eventually(lambda: there.is_revoked(claims))


def test_a_list_from_env_with_a_redis_url_shares_the_list(lists: Lists, redis_url: str) -> None:
    shared = lists.from_env({"COGNITO_REDIS_URL": redis_url})
    other = lists()
    shared.revoke_family("family-1")
    assert shared.status().backend == "redis"
    assert eventually(lambda: other.is_revoked(family("family-1")))


def test_status_shows_redis_connected_and_fresh(lists: Lists) -> None:
    revocations = lists()
    revocations.revoke_family("family-1")
    status = revocations.status()
    assert (status.backend, status.connected, status.entries, status.rejected) == ("redis", True, 1, 0)
    assert status.synced_at is not None
    assert 0 <= status.staleness < 3  # the sync thread hears from Redis at least once a second


def test_sync_now_loads_a_record_that_only_reached_the_hash(lists: Lists, redis_client: redis.Redis) -> None:
    revocations = lists()
    redis_client.hset(ENTRIES, "f:family-1", f"{time.time():.3f} {time.time() + 3600:.3f}")  # no stream entry
    revocations.sync_now()
    assert revocations.is_revoked(family("family-1"))


def test_a_record_redis_lost_is_written_back_by_a_list_that_holds_it(lists: Lists, redis_client: redis.Redis) -> None:
    holder = lists()
    holder.revoke_family("family-1")
    redis_client.flushall()  # as a restart without persistence would

    holder.sync_now()

    assert redis_client.hexists(ENTRIES, "f:family-1")
    assert lists().is_revoked(family("family-1"))


# -- what Redis holds ----------------------------------------------------------------------------------------------


def test_each_record_is_stored_in_the_hash_the_expiry_set_and_the_stream(
    lists: Lists, redis_client: redis.Redis, clock: Clock
) -> None:
    lists(clock=clock, max_token_lifetime=3600).revoke_family("family-1")

    at, expires = map(float, (stored(redis_client, "f:family-1") or "").split())
    assert (at, expires) == (clock(), clock() + 3600 + 600)  # a token lifetime plus the margin for skew and leeway
    assert redis_client.zscore(EXPIRY, "f:family-1") == expires
    [(_, fields)] = list(redis_client.xrange(LOG))  # type: ignore[arg-type]
    assert fields == {b"e": b"f:family-1", b"v": f"{at:.3f} {expires:.3f}".encode()}


def test_every_key_shares_one_hash_tag(lists: Lists, redis_client: redis.Redis) -> None:
    lists().revoke_family("family-1")
    keys: list[bytes] = sorted(redis_client.keys("*"))  # type: ignore[arg-type]
    assert keys == sorted(key.encode() for key in (ENTRIES, EXPIRY, LOG))
    assert len({key_slot(key) for key in keys}) == 1


def test_records_past_their_expiry_are_pruned_from_redis_by_later_writes(
    lists: Lists, redis_client: redis.Redis, clock: Clock
) -> None:
    revocations = lists(clock=clock)
    revocations.revoke_token("token-old", expires_at=clock() + 60)
    assert redis_client.hexists(ENTRIES, "t:token-old")
    clock.advance(3600)

    revocations.revoke_token("token-new")

    assert not redis_client.hexists(ENTRIES, "t:token-old")
    assert redis_client.zscore(EXPIRY, "t:token-old") is None
    assert redis_client.hexists(ENTRIES, "t:token-new")


def test_the_namespace_separates_two_lists(lists: Lists, redis_client: redis.Redis) -> None:
    app_a, app_b, app_a_again = lists(namespace="app-a"), lists(namespace="app-b"), lists(namespace="app-a")

    app_a.revoke_family("family-1")

    assert eventually(lambda: app_a_again.is_revoked(family("family-1")))
    assert not app_b.is_revoked(family("family-1"))
    assert not lists(namespace="app-b").is_revoked(family("family-1"))
    assert redis_client.hexists("{app-a:revocations}:entries", "f:family-1")


# -- the sync thread -------------------------------------------------------------------------------------------------


def test_close_stops_the_sync_thread(lists: Lists) -> None:
    before = set(threading.enumerate())
    revocations = lists()
    started = set(threading.enumerate()) - before
    assert [thread.name for thread in started] == [SYNC_THREAD]

    revocations.close()

    assert not [thread for thread in started if thread.is_alive()]
    assert SYNC_THREAD not in {thread.name for thread in set(threading.enumerate()) - before}


# -- several processes -----------------------------------------------------------------------------------------------


def test_a_family_revoked_here_reaches_three_worker_processes(
    lists: Lists, redis_url: str, workers: list[WorkerProcess]
) -> None:
    workers += [WorkerProcess(redis_url, "family-1") for _ in range(3)]
    for worker in workers:
        assert worker.line(timeout=30) == "ready True"
    revocations = lists()

    revoked_at = time.time()
    revocations.revoke_family("family-1")

    delays = []
    for worker in workers:
        name, seen_at = worker.seen()
        assert name == "family-1"
        delays.append(seen_at - revoked_at)
    print(f"propagation to 3 worker processes: {', '.join(f'{delay * 1000:.1f} ms' for delay in delays)}")
    assert max(delays) < DEADLINE


def _watch_in_child(revocations: RevocationList, write_end: int) -> NoReturn:
    """In a forked child: report "ready" once the child's own sync thread reached Redis, then "seen" or "missed"."""
    status = 1
    try:
        with os.fdopen(write_end, "w", buffering=1) as out:
            eventually(lambda: revocations.status().connected)
            threads = sorted(thread.name for thread in threading.enumerate())
            out.write(f"ready {','.join(threads)}\n")
            seen = eventually(lambda: revocations.is_revoked(family("after-fork")), timeout=DEADLINE * 2)
            out.write("seen\n" if seen else "missed\n")
        status = 0
    finally:
        os._exit(status)


def _read_line(read_end: int, timeout: float) -> str:
    readable, _, _ = select.select([read_end], [], [], timeout)
    assert readable, f"the child said nothing within {timeout} s"
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(read_end, 1)
        assert chunk, f"the child closed its pipe after {line!r}"
        line += chunk
    return line.decode().strip()


def test_forked_children_keep_receiving_revocations_made_after_the_fork(lists: Lists) -> None:
    parent = lists()  # made before the fork, as gunicorn --preload makes it in the master
    children: list[tuple[int, int]] = []
    try:
        for _ in range(2):
            read_end, write_end = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                _watch_in_child(parent, write_end)
            os.close(write_end)
            children.append((pid, read_end))
        for _, read_end in children:
            assert _read_line(read_end, timeout=30) == f"ready MainThread,{SYNC_THREAD}"

        parent.revoke_family("after-fork")

        assert [_read_line(read_end, timeout=DEADLINE * 3) for _, read_end in children] == ["seen", "seen"]
    finally:
        for pid, read_end in children:
            os.close(read_end)
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)


def test_a_closed_list_starts_no_thread_in_a_forked_child(lists: Lists) -> None:
    lists().close()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            names = [thread.name for thread in threading.enumerate()]
            os.write(write_end, f"{','.join(names)}\n".encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    try:
        assert _read_line(read_end, timeout=30) == "MainThread"
    finally:
        os.close(read_end)
        os.waitpid(pid, 0)
