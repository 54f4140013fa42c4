"""AWS Lambda: API Gateway authorizers and protected proxy-integration handlers (see docs/lambda.md).

::

    from cognito_guard import require, verifier_from_env
    from cognito_guard.aws_lambda import RestApiAuthorizer, protected, warm_up

    VERIFIER = verifier_from_env()  # module level: once per container (COGNITO_JWKS_FILE: keys bundled, offline)
    warm_up(VERIFIER)  # fetch the keys during the cold start (nothing to do with a keys file)

    # a REST API TOKEN or REQUEST authorizer: an IAM policy, 401 as API Gateway wants it
    handler = RestApiAuthorizer(VERIFIER, require(scopes="orders/read"), all_routes=True)


    # or a function behind a proxy integration (REST, HTTP API, function URL): 401/403/503 JSON answers
    @protected(VERIFIER, require(scopes="orders/read"))
    def handler(event, context, claims): ...

Events may be plain dicts or AWS Lambda Powertools' event data classes; answers have the shapes Powertools' response
builders produce. Nothing here imports Powertools or any other package beyond cognito_guard's core.
"""

from __future__ import annotations

import logging

from ._lambda_authorizers import (
    AuthorizerContext,
    ContextValue,
    HttpApiAuthorizer,
    RestApiAuthorizer,
    Unauthorized,
    authorizer_context,
)
from ._lambda_events import request_authorization
from ._lambda_handlers import protected, proxy_response
from .errors import CognitoGuardError
from .verifier import CognitoVerifier

__all__ = [
    "AuthorizerContext",
    "ContextValue",
    "HttpApiAuthorizer",
    "RestApiAuthorizer",
    "Unauthorized",
    "authorizer_context",
    "protected",
    "proxy_response",
    "request_authorization",
    "warm_up",
]

logger = logging.getLogger("cognito_guard.aws_lambda")


def warm_up(verifier: CognitoVerifier, *, require_keys: bool = False) -> None:
    """Load the verifier's keys now: call it at module level, so the cold start pays and warm invocations do not.

    With ``COGNITO_JWKS_FILE`` there is nothing to load. If the keys cannot be fetched, this logs a warning and
    returns: the container starts, and each request tries again (within the key cache's backoff) and fails closed
    meanwhile. With ``require_keys=True`` the :class:`~cognito_guard.errors.KeysUnavailableError` propagates instead,
    failing the cold start (Lambda then starts the next invocation afresh).
    """
    try:
        verifier.warm_up_sync()
    except CognitoGuardError as error:
        if require_keys:
            raise
        logger.warning("Cognito signing keys could not be loaded at cold start: %s (%s)", error.message, error.code)
