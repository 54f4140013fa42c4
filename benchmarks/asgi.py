"""Per-request overhead of the guards, in-process, with warm key and result caches.

Each app is called directly through ASGI (no server, no sockets) with the same bearer-token request; the guarded
figure minus the unguarded one is what cognito_guard adds. For FastAPI a do-nothing dependency with the same shape is
measured too, so FastAPI's own dependency machinery is told apart from our work.

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

from cognito_guard.asgi import CognitoAuthMiddleware
from cognito_guard.fastapi import CognitoAuth
from cognito_guard.testing import LocalIssuer

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
TARGET_US = 10.0


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


async def measure(requests: int, rounds: int) -> list[tuple[str, list[float]]]:
    issuer = LocalIssuer(user_pool_id="eu-west-1_Bench1234")
    token = issuer.access_token(scopes=["orders/read"], groups=["staff"])
    fast = fastapi_app(CognitoAuth(issuer.verifier()))
    plain = starlette_app()
    guarded = CognitoAuthMiddleware(plain, verifier=issuer.verifier(), include="/guarded")
    cases: list[tuple[str, ASGIApp, str]] = [
        ("FastAPI, unguarded route", fast, "/open"),
        ("FastAPI, do-nothing dependency (baseline)", fast, "/noop"),
        ("FastAPI, Depends(CognitoAuth)", fast, "/guarded"),
        ("Starlette, unguarded (middleware skips path)", guarded, "/open"),
        ("Starlette, no middleware", plain, "/guarded"),
        ("Starlette + CognitoAuthMiddleware", guarded, "/guarded"),
    ]
    results: dict[str, list[float]] = {label: [] for label, _, _ in cases}
    for _ in range(rounds):
        for label, app, path in cases:  # interleaved, so machine noise hits every case alike
            results[label].append(await per_request_us(app, path, token, requests))
    return [(label, results[label]) for label, _, _ in cases]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rows = dict(asyncio.run(measure(args.requests, args.rounds)))
    best = {label: min(values) for label, values in rows.items()}
    print(f"{args.requests} requests per round, best and median of {args.rounds} rounds, microseconds per request\n")
    for label, values in rows.items():
        print(f"{label:48s} {best[label]:8.1f} {statistics.median(values):8.1f}")
    added = [
        (
            "FastAPI: Depends(CognitoAuth) - unguarded",
            best["FastAPI, Depends(CognitoAuth)"] - best["FastAPI, unguarded route"],
        ),
        (
            "FastAPI: Depends(CognitoAuth) - do-nothing dependency",
            best["FastAPI, Depends(CognitoAuth)"] - best["FastAPI, do-nothing dependency (baseline)"],
        ),
        (
            "ASGI middleware: guarded - no middleware",
            best["Starlette + CognitoAuthMiddleware"] - best["Starlette, no middleware"],
        ),
    ]
    print(f"\nadded per request (target <= {TARGET_US:.0f} us):")
    for label, value in added:
        verdict = "PASS" if value <= TARGET_US else "MISS"
        print(f"{label:56s} {value:6.1f} us  {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
