"""A Lambda function behind an HTTP API (or a function URL) that checks the caller's Cognito token itself.

Deploy with the handler ``lambda_handler.handler`` and these environment variables::

    COGNITO_USER_POOL_ID=eu-west-1_Abc123XYZ
    COGNITO_CLIENT_ID=your-app-client-id
    COGNITO_JWKS_FILE=/var/task/jwks.json  # the pool's keys, bundled with the function: no network at all

Route ``GET /orders/{order_id}`` to it (payload format 2.0; REST API proxy events and function URLs work the same).
Callers send ``Authorization: Bearer <access token>``; the answer is:

- 200 ``{"order": ..., "for": ...}`` for a valid access token with the ``orders/read`` scope;
- 401 with ``WWW-Authenticate: Bearer realm="orders"`` without a token, and with ``error="invalid_token"`` for a
  refused one (expired, revoked, another pool or client...);
- 403 with ``error="insufficient_scope", scope="orders/read"`` for a valid token without the scope;
- 503 with ``Retry-After`` when the keys cannot be had (only without COGNITO_JWKS_FILE).

Refusal bodies are JSON ``{"detail": ..., "code": ...}``. Try it locally with an event file::

    python examples/lambda_handler.py event.json   # or - to read the event from stdin
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cognito_guard import Claims, require, verifier_from_env
from cognito_guard.aws_lambda import protected, warm_up

# Module level: built once per container, during the cold start; every invocation reuses the verifier and its keys.
VERIFIER = verifier_from_env()  # ConfigurationError (naming the variable) if a COGNITO_* setting is missing or wrong
warm_up(VERIFIER)  # fetches the keys now when they come from the pool's URL; nothing to do with COGNITO_JWKS_FILE


@protected(VERIFIER, require(scopes="orders/read"), realm="orders")
def handler(event: dict[str, Any], context: object, claims: Claims) -> dict[str, Any]:
    """Lambda entry point (called as ``handler(event, context)``): runs only for an authorized caller."""
    path = str(event.get("rawPath") or event.get("path") or "/")
    order_id = (event.get("pathParameters") or {}).get("order_id") or path.rstrip("/").rsplit("/", 1)[-1]
    body = {"order": order_id, "for": claims.username or f"client {claims.client_id}"}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}


def main(argv: list[str]) -> int:
    """Run one event through :func:`handler` as Lambda would, printing the response."""
    if len(argv) != 1:
        print("usage: python examples/lambda_handler.py EVENT.json  (- reads the event from stdin)")
        return 2
    source = sys.stdin if argv[0] == "-" else open(argv[0], encoding="utf-8")  # noqa: SIM115
    with source:
        event = json.load(source)
    print(json.dumps(handler(event, None), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
