"""What a shared session store costs a guarded page: the session check with a live session, per store, and requests per
second of the web app example as 3 workers sharing one Redis.

(a) In one process, the same session check (``WebSignIn.check_sync``: read the session, a cached ID-token check)
    with a ``MemorySessionStore`` (the baseline), cookie-held sessions and a ``RedisSessionStore`` on a local
    redis-server, timed back to back in each round; the table shows the median of the per-round ratios and the added
    microseconds per page view (``paired_rounds`` from benchmarks/verify.py). Also counted: Redis commands per page view
    (1: a GET), the "no more than one round trip when nothing needs saving" rule.
(b) ``uvicorn examples.webapp:app --workers 3`` with ``COGNITO_REDIS_URL``, behind the local stand-in; an asyncio load
    of ``--concurrency`` keep-alive clients asks for ``/profile`` with one signed-in session for ``--seconds``; the same
    with 1 worker and no Redis (cookie sessions) for comparison. On a 2-core machine the load generator shares the cores
    with the workers, so read the figures as a floor.

Run ``.venv/bin/python benchmarks/sessions.py`` (``--quick`` for a smoke run). Needs redis-server on PATH (as the
tests do); figures only, the exit code is 0 whether they please or not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from verify import Row, paired_rounds, table  # benchmarks/ is on sys.path when a script in it runs

from cognito_guard.hosted_ui import MemorySessionStore, RedisSessionStore, SessionStore, TokenSet, WebRequest
from cognito_guard.hosted_ui._client import HostedUIClient
from cognito_guard.hosted_ui._web import WebSignIn
from cognito_guard.testing.devserver import LocalUserPool
from cognito_guard.testing.devserver.serve import serve_pool_in_thread

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
APP = "http://localhost:8000"
SECRET = "benchmark-secret-0123456789abcdef"
POOL_ID = "us-east-1_LocalDev"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client(base_url: str) -> HostedUIClient:
    return HostedUIClient(
        domain=base_url,
        user_pool_id=POOL_ID,
        issuer=f"{base_url}/{POOL_ID}",
        client_id="local-client",
        redirect_uri=f"{APP}/auth/callback",
    )


def signed_in(web: WebSignIn, pool: LocalUserPool, base_url: str) -> WebRequest:
    """A browser request carrying a live session of alice's, stored the way ``web`` stores sessions."""
    answer = pool.sign_in("alice", base_url=base_url, client_id="local-client")
    tokens = TokenSet(answer.access_token, answer.id_token, answer.refresh_token, time.time() + 3600)
    set_cookies = web.sessions.save({"tokens": tokens.to_dict()}, request_cookies={}, request_url=APP, renew=True)
    pairs = [header.split(";")[0] for header in set_cookies]
    return WebRequest.from_raw(url=f"{APP}/", path="/", query_string=b"", cookie_headers=["; ".join(pairs)])


def check_pass(web: WebSignIn, request: WebRequest, views: int) -> Any:
    def run() -> float:
        start = time.perf_counter()
        for _ in range(views):
            if web.check_sync(request).user is None:
                raise SystemExit("the session did not check out: the figures would mean nothing")
        return (time.perf_counter() - start) / views * 1e6

    return run


def measure_checks(redis_url: str, views: int, rounds: int) -> tuple[list[Row], float]:
    pool = LocalUserPool()
    with serve_pool_in_thread(pool) as server:
        stores: list[tuple[str, SessionStore | None]] = [
            ("MemorySessionStore (baseline)", MemorySessionStore()),
            ("cookie sessions", None),
            ("RedisSessionStore (loopback)", RedisSessionStore(redis_url)),
        ]
        webs = [
            (label, WebSignIn.build(client(server.base_url), secret_key=SECRET, store=store)) for label, store in stores
        ]
        requests = [signed_in(web, pool, server.base_url) for _, web in webs]
        for (_, web), request in zip(webs, requests, strict=True):
            check_pass(web, request, 50)()  # keys fetched, ID tokens verified and cached
        redis_web, redis_request = webs[2][1], requests[2]  # the Redis row
        counter = __import__("redis").Redis.from_url(redis_url)
        before = sum(entry["calls"] for entry in counter.info("commandstats").values())
        check_pass(redis_web, redis_request, 100)()
        after = sum(entry["calls"] for entry in counter.info("commandstats").values())
        counter.close()
        commands_per_view = (after - before - 1) / 100
        timings = paired_rounds(
            [check_pass(web, request, views) for (_, web), request in zip(webs, requests, strict=True)], rounds
        )
        for _, web in webs:
            web.client.close()
    return [Row(label, timing) for (label, _), timing in zip(webs, timings, strict=True)], commands_per_view


@contextmanager
def process(command: list[str], env: dict[str, str], url: str) -> Iterator[None]:
    running = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if running.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"{command[0]} did not start") from None
                time.sleep(0.05)  # polling a child process's port: nothing else to wait on
        yield
    finally:
        running.send_signal(signal.SIGTERM)
        try:
            running.wait(10)
        except subprocess.TimeoutExpired:
            running.kill()
            running.wait()


async def load(url: str, cookies: dict[str, str], concurrency: int, seconds: float) -> tuple[float, int]:
    """Requests per second (and non-200 answers) for ``concurrency`` keep-alive clients asking for ``url``."""
    deadline = time.perf_counter() + seconds
    done, failed = 0, 0

    async def one_client() -> None:
        nonlocal done, failed
        async with httpx.AsyncClient(cookies=cookies, headers={"Accept": "text/html"}, timeout=30) as http:
            while time.perf_counter() < deadline:
                answer = await http.get(url)
                done += 1
                failed += answer.status_code != 200

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return done / (time.perf_counter() - start), failed


def measure_workers(redis_url: str | None, workers: int, concurrency: int, seconds: float) -> tuple[float, int]:
    pool = LocalUserPool()
    with serve_pool_in_thread(pool) as server:
        port = free_port()
        env = {
            **os.environ,
            "COGNITO_DOMAIN": server.base_url,
            "COGNITO_USER_POOL_ID": POOL_ID,
            "COGNITO_CLIENT_ID": "local-client",
            "COGNITO_ISSUER": f"{server.base_url}/{POOL_ID}",
            "COGNITO_REDIRECT_URI": f"{APP}/auth/callback",
            "APP_SECRET_KEY": SECRET,
        }
        env.pop("COGNITO_REDIS_URL", None)
        if redis_url is not None:
            env["COGNITO_REDIS_URL"] = redis_url
        command = [str(BIN / "uvicorn"), "examples.webapp:app", "--port", str(port), "--workers", str(workers)]
        command += ["--log-level", "warning"]
        base = f"http://127.0.0.1:{port}"
        with process(command, env, f"{base}/"):
            # One session, made the way the app makes it: the same store, secret and cookie as the workers use.
            store = RedisSessionStore(redis_url) if redis_url is not None else None
            if store is None:
                web = WebSignIn.build(client(server.base_url), secret_key=SECRET)
            else:
                web = WebSignIn.build(client(server.base_url), secret_key=SECRET, store=store)
            request = signed_in(web, pool, server.base_url)
            web.client.close()
            result = asyncio.run(load(f"{base}/profile", dict(request.cookies), concurrency, seconds))
            if store is not None:
                store.close()
            return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--views", type=int, default=2000, help="page views per pass (a)")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=5.0, help="load duration (b)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="a smoke run: tiny counts")
    args = parser.parse_args(argv)
    if args.quick:
        args.views, args.rounds, args.seconds, args.concurrency = 20, 2, 0.5, 4
    sys.path.insert(0, str(ROOT / "tests"))
    from redis_support import RedisServer  # the test harness: a redis-server on a free loopback port

    with RedisServer() as redis_server:
        rows, commands = measure_checks(redis_server.url, args.views, args.rounds)
        print("\n".join(table(rows, "(a) session check with a live session, per store", "memory store")))
        baseline = rows[0].timing.median_us
        for row in rows[1:]:
            print(f"  {row.label}: {row.timing.median_us - baseline:+.1f} us per page view over the memory store")
        print(f"  Redis commands per page view: {commands:.2f} (target: 1)")
        memory_rps, memory_failed = measure_workers(None, 1, args.concurrency, args.seconds)
        redis_rps, redis_failed = measure_workers(redis_server.url, 3, args.concurrency, args.seconds)
    print("\n(b) examples/webapp.py, GET /profile with a live session")
    print(f"  1 worker, cookie sessions: {memory_rps:8.0f} requests/s ({memory_failed} not 200)")
    print(f"  3 workers, Redis store   : {redis_rps:8.0f} requests/s ({redis_failed} not 200)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
