"""A machine-to-machine caller: a service calls the FastAPI example's ``GET /orders`` with client-credentials tokens.

The token comes from Cognito's token endpoint (here the local stand-in's) through
:class:`cognito_guard.client.ClientCredentials`: fetched once, reused by every call (sync, async and, when installed,
requests), renewed ahead of expiry. Configured only by environment variables, as a real service would be::

    COGNITO_DOMAIN=http://127.0.0.1:9229 COGNITO_CLIENT_ID=local-m2m COGNITO_CLIENT_SECRET=local-m2m-secret \\
    COGNITO_SCOPES=orders/read python examples/m2m_client.py --api http://127.0.0.1:8001

(``make demo`` serves the stand-in on :9229 and the API on :8001; the API accepts the ``local-m2m`` client.) Add
``COGNITO_REDIS_URL=redis://localhost:6379/0`` and every process running this shares one token.

It prints each answer and then the metrics: how many tokens were fetched (Cognito bills each one), how many calls
they served, and when the current one expires. Tokens and the secret are never printed. Exit status: 0 when every
call was answered 200, 1 otherwise, 2 for missing or invalid settings.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

import httpx

from cognito_guard import errors
from cognito_guard.client import ClientCredentials

CONCURRENT_CALLS = 20


def show(how: str, response: httpx.Response) -> bool:
    print(f"{how:15} GET /orders -> {response.status_code}  {response.text[:100]}", flush=True)
    return response.status_code == 200


def call_sync(credentials: ClientCredentials, api: str, calls: int) -> bool:
    """A worker's loop: one httpx.Client with the token source as its auth."""
    with httpx.Client(base_url=api, auth=credentials, timeout=10) as client:
        return all([show("httpx", client.get("/orders")) for _ in range(calls)])


async def call_async(credentials: ClientCredentials, api: str) -> bool:
    """An async service: many calls at once still share one token (and would share one token request)."""
    async with httpx.AsyncClient(base_url=api, auth=credentials, timeout=10) as client:
        responses = await asyncio.gather(*(client.get("/orders") for _ in range(CONCURRENT_CALLS)))
    await credentials.aclose()
    statuses = sorted({response.status_code for response in responses})
    print(f"{'httpx (async)':15} {CONCURRENT_CALLS} concurrent GET /orders -> {statuses}", flush=True)
    return statuses == [200]


def call_with_requests(credentials: ClientCredentials, api: str) -> bool:
    """requests, when it is installed (cognito_guard does not depend on it)."""
    try:
        import requests
    except ImportError:
        print(f"{'requests':15} not installed: skipped", flush=True)
        return True
    response = requests.get(f"{api}/orders", auth=credentials.requests_auth(), timeout=10)
    print(f"{'requests':15} GET /orders -> {response.status_code}  {response.text[:100]}", flush=True)
    return bool(response.status_code == 200)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api", default="http://127.0.0.1:8001", help="the API's base URL (default: make demo's)")
    parser.add_argument("--calls", type=int, default=3, help="sequential calls made with httpx (default 3)")
    args = parser.parse_args(argv)
    try:
        credentials = ClientCredentials.from_env()
    except errors.ConfigurationError as error:
        print(f"configuration error: {error.message}", file=sys.stderr)
        print("set COGNITO_DOMAIN, COGNITO_CLIENT_ID, COGNITO_CLIENT_SECRET (and COGNITO_SCOPES)", file=sys.stderr)
        return 2
    print(f"token source: app client {credentials.client_id!r} at {credentials.token_url}", flush=True)
    try:
        with credentials:
            ok = call_sync(credentials, args.api, args.calls)
            ok = asyncio.run(call_async(credentials, args.api)) and ok
            ok = call_with_requests(credentials, args.api) and ok
    except errors.CognitoGuardError as error:  # refused by Cognito, or no token to be had now
        print(f"no token: {error.code}: {error.message}", file=sys.stderr)
        return 1
    metrics = credentials.metrics
    expires_in = (metrics.expires_at or time.time()) - time.time()
    print(
        f"metrics: {metrics.tokens_fetched} token(s) fetched (Cognito bills each), {metrics.cache_hits} calls served "
        f"from cache, {metrics.fetch_failures} failure(s); the token expires in {expires_in:.0f} s",
        flush=True,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
