"""Per-request overhead of the guards, in-process, with warm key and result caches.

Each app is called directly through ASGI (no server, no sockets) with the same bearer-token request; the guarded
figure minus the unguarded one is what cognito_guard adds. For FastAPI a do-nothing dependency with the same shape is
measured too, so FastAPI's own dependency machinery is told apart from our work.

The method is verify.py's (``paired_rounds``): each round times the unguarded app first and then the guarded ones, back
to back on the same request, so the machine's drift between rounds cancels out. Per framework the table shows the
median microseconds per request and the median of the per-round ratios to the unguarded app; the added cost is the
median of the per-round differences, and that is what the target judges.

Run ``make bench`` or ``.venv/bin/python benchmarks/asgi.py [--requests N] [--rounds N]``. Target: at most 10 us added
per request (informative; the exit code is 0 either way).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import Depends, FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from verify import Pass, Row, Timing, paired_rounds, table  # benchmarks/ is on sys.path when a script in it runs

from cognito_guard.asgi import CognitoAuthMiddleware
from cognito_guard.fastapi import CognitoAuth
from cognito_guard.testing import LocalIssuer

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
TARGET_US = 10.0
UNGUARDED_FASTAPI = "FastAPI, unguarded route"
NOOP_FASTAPI = "FastAPI, do-nothing dependency"
GUARDED_FASTAPI = "FastAPI, Depends(CognitoAuth)"
UNGUARDED_STARLETTE = "Starlette, no middleware"
GUARDED_STARLETTE = "Starlette + CognitoAuthMiddleware, guarded path"


def scope_for(path: str, token: str) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"bench"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def per_request_us(app: ASGIApp, path: str, token: str, requests: int) -> float:
    """Microseconds per request through ``app`` (fails loudly if the app does not answer 200)."""
    statuses: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    template = scope_for(path, token)
    for _ in range(200):  # warm: keys parsed, result cache filled, interpreter caches hot
        await app({**template, "state": {}}, receive, send)
    if set(statuses) != {200}:
        raise SystemExit(f"{path}: expected 200, got {sorted(set(statuses))}")
    started = time.perf_counter()
    for _ in range(requests):
        await app({**template, "state": {}}, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


async def nothing() -> None:
    """A dependency that does no work: what FastAPI's dependency machinery costs by itself."""


def fastapi_app(auth: CognitoAuth) -> FastAPI:
    app = FastAPI()

    @app.get("/open")
    async def open_route() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/noop", dependencies=[Depends(nothing)])
    async def noop_route() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/guarded", dependencies=[Depends(auth)])
    async def guarded_route() -> dict[str, bool]:
        return {"ok": True}

    return app


def starlette_app() -> Starlette:
    async def endpoint(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/open", endpoint), Route("/guarded", endpoint)])


Case = tuple[str, ASGIApp, str]  # label, app, path


def measure(requests: int, rounds: int) -> dict[str, list[Row]]:
    """Per framework, its cases in rounds of [unguarded, guarded...] (verify.py's ``paired_rounds``)."""
    issuer = LocalIssuer(user_pool_id="eu-west-1_Bench1234")
    token = issuer.access_token(scopes=["orders/read"], groups=["staff"])
    fast = fastapi_app(CognitoAuth(issuer.verifier()))
    plain = starlette_app()
    guarded = CognitoAuthMiddleware(plain, verifier=issuer.verifier(), include="/guarded")
    frameworks: dict[str, list[Case]] = {
        "FastAPI": [
            (UNGUARDED_FASTAPI, fast, "/open"),
            (NOOP_FASTAPI, fast, "/noop"),
            (GUARDED_FASTAPI, fast, "/guarded"),
        ],
        "Starlette": [
            (UNGUARDED_STARLETTE, plain, "/guarded"),
            ("Starlette + CognitoAuthMiddleware, path it skips", guarded, "/open"),
            (GUARDED_STARLETTE, guarded, "/guarded"),
        ],
    }
    loop = asyncio.new_event_loop()
    try:

        def timed(app: ASGIApp, path: str) -> Pass:
            return lambda: loop.run_until_complete(per_request_us(app, path, token, requests))

        tables: dict[str, list[Row]] = {}
        for framework, cases in frameworks.items():
            timings = paired_rounds([timed(app, path) for _, app, path in cases], rounds)
            tables[framework] = [Row(label, timing) for (label, _, _), timing in zip(cases, timings, strict=True)]
        return tables
    finally:
        loop.close()


def added(guarded: Timing, baseline: Timing) -> tuple[float, float]:
    """Medians of the per-round difference (microseconds) and ratio between two paths timed in the same rounds."""
    pairs = list(zip(guarded.us, baseline.us, strict=True))
    return statistics.median(g - b for g, b in pairs), statistics.median(g / b for g, b in pairs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="requests per pass (default 5000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every case (default 5)")
    args = parser.parse_args()
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    tables = measure(args.requests, args.rounds)
    print(
        f"{args.requests} requests per pass, {args.rounds} rounds; each round times the unguarded app, then the others "
        "on the same request"
    )
    print("median over the rounds of: microseconds per request, and the ratio to the unguarded app of the same round")
    for framework, rows in tables.items():
        print()
        print("\n".join(table(rows, f"{framework} (ratios to the unguarded app)", baseline="unguarded")))

    timing = {row.label: row.timing for rows in tables.values() for row in rows}
    differences = [
        ("FastAPI: Depends(CognitoAuth) - unguarded", GUARDED_FASTAPI, UNGUARDED_FASTAPI),
        ("FastAPI: Depends(CognitoAuth) - do-nothing dependency", GUARDED_FASTAPI, NOOP_FASTAPI),
        ("ASGI middleware: guarded - no middleware", GUARDED_STARLETTE, UNGUARDED_STARLETTE),
    ]
    print(f"\nadded per request (target <= {TARGET_US:.0f} us), median of the per-round differences and ratios:")
    for label, guarded, baseline in differences:
        us, ratio = added(timing[guarded], timing[baseline])
        verdict = "PASS" if us <= TARGET_US else "MISS"
        print(f"{label:<56} {us:>6.1f} us {ratio:>6.2f}x  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
