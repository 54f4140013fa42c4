"""A REST API Lambda authorizer (TOKEN type) for Amazon Cognito access tokens, configured only by COGNITO_*.

Deploy with the handler ``lambda_authorizer.handler`` and these environment variables::

    COGNITO_USER_POOL_ID=eu-west-1_Abc123XYZ
    COGNITO_CLIENT_ID=your-app-client-id
    COGNITO_JWKS_FILE=/var/task/jwks.json  # the pool's keys, bundled with the function: no network at all

Attach it to the API as a TOKEN authorizer with the identity source ``method.request.header.Authorization``. It answers:

- a valid access token with the ``orders/read`` scope: an Allow for every route of the API stage (``all_routes``),
  principal id = the token's ``sub``, the identity in ``context`` (``$context.authorizer.username``...);
- a valid token without that scope: a Deny (API Gateway: 403);
- no token, or a refused one (expired, revoked, another pool or client, an ID token...): the error ``Unauthorized``
  (API Gateway: 401);
- the keys cannot be had (only without COGNITO_JWKS_FILE): another error (API Gateway: 500, not cached).

``all_routes`` matters because API Gateway caches this answer for the token (300 s by default) and applies it to the
caller's other routes: a policy naming only ``GET /orders/o-1`` would answer 403 to their ``GET /orders`` until it
expired. Try it locally with an event file (the answer, or Lambda's error, is printed)::

    python examples/lambda_authorizer.py event.json   # or - to read the event from stdin
"""

from __future__ import annotations

import json
import sys
from typing import Any

from cognito_guard import require, verifier_from_env
from cognito_guard.aws_lambda import RestApiAuthorizer, Unauthorized, warm_up

# Module level: built once per container, during the cold start; every invocation reuses the verifier and its keys.
VERIFIER = verifier_from_env()  # ConfigurationError (naming the variable) if a COGNITO_* setting is missing or wrong
warm_up(VERIFIER)  # fetches the keys now when they come from the pool's URL; nothing to do with COGNITO_JWKS_FILE
AUTHORIZER = RestApiAuthorizer(VERIFIER, require(scopes="orders/read"), all_routes=True)


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    """Lambda entry point: the IAM policy for API Gateway, or ``Unauthorized`` raised for a 401."""
    return AUTHORIZER(event, context)


def main(argv: list[str]) -> int:
    """Run one event through :func:`handler` as Lambda would, printing its answer or its error."""
    if len(argv) != 1:
        print("usage: python examples/lambda_authorizer.py EVENT.json  (- reads the event from stdin)")
        return 2
    source = sys.stdin if argv[0] == "-" else open(argv[0], encoding="utf-8")  # noqa: SIM115
    with source:
        event = json.load(source)
    try:
        answer = handler(event, None)
    except Unauthorized as error:  # what Lambda reports to API Gateway: only this exact message is a 401
        print(json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}, indent=2))
        return 1
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
