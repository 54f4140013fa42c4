"""Protected Lambda handlers for proxy integrations: REST API (payload 1.0), HTTP API (payload 2.0), function URLs."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from ._lambda_events import request_authorization, token_of
from .bearer import DEFAULT_REALM, ErrorAnswer, check_realm, error_answer, unauthenticated_answer
from .claims import Claims
from .errors import CognitoGuardError, ConfigurationError
from .guards import Requirement
from .verifier import CognitoVerifier

__all__ = ["protected", "proxy_response"]

logger = logging.getLogger("cognito_guard.aws_lambda")

E = TypeVar("E")
C = TypeVar("C")
R = TypeVar("R")


def proxy_response(answer: ErrorAnswer) -> dict[str, Any]:
    """A refusal as a proxy-integration response: status, the RFC 6750 headers and a JSON body.

    The same shape serves REST APIs, HTTP APIs and function URLs.
    """
    return {
        "statusCode": answer.status,
        "headers": {**answer.headers, "Content-Type": "application/json"},
        "body": json.dumps(answer.body),
        "isBase64Encoded": False,
    }


def protected(
    verifier: CognitoVerifier, requirement: Requirement | None = None, *, realm: str = DEFAULT_REALM
) -> Callable[[Callable[[E, C, Claims], R]], Callable[[E, C], R | dict[str, Any]]]:
    """Guard a proxy-integration handler: ``handler(event, context, claims)`` runs only for a valid bearer token
    that meets ``requirement``, and Lambda calls the result as ``handler(event, context)``.

    ::

        VERIFIER = verifier_from_env()  # at module level: keys are loaded once per container


        @protected(VERIFIER, require(scopes="orders/read"), realm="orders")
        def handler(event, context, claims):
            return {"statusCode": 200, "body": f"hello {claims.username}"}

    Refusals are answered without calling the handler, as every cognito_guard adapter answers them (JSON body
    ``{"detail", "code"}``): no bearer token -> 401 ``not_authenticated`` with ``WWW-Authenticate: Bearer
    realm=...``; refused token -> 401 ``error="invalid_token"``; requirement not met -> 403
    ``error="insufficient_scope"``; keys or revocation list unreachable -> 503 with ``Retry-After``. Events may be
    dicts or Powertools' event data classes (the handler gets the same object). Raises
    :class:`~cognito_guard.errors.ConfigurationError` on bad settings (an async predicate among them).
    """
    if not isinstance(verifier, CognitoVerifier):
        raise ConfigurationError("verifier must be a CognitoVerifier (build it once, at module level)")
    if requirement is not None and not isinstance(requirement, Requirement):
        raise ConfigurationError("requirement must be a Requirement: require(scopes=..., groups=...)")
    if requirement is not None and requirement.is_async:
        raise ConfigurationError("Lambda handlers check requirements synchronously: use a plain predicate")
    check_realm(realm)
    needs = requirement or None
    unauthenticated = unauthenticated_answer(realm)

    def decorate(handler: Callable[[E, C, Claims], R]) -> Callable[[E, C], R | dict[str, Any]]:
        if not callable(handler):
            raise ConfigurationError("@protected(...) decorates a handler(event, context, claims)")

        @functools.wraps(handler)
        def guarded(event: E, context: C) -> R | dict[str, Any]:
            try:
                token = token_of(request_authorization(event), bare_token=False)
                if token is None:
                    return proxy_response(unauthenticated)
                claims = verifier.verify_sync(token)
                if needs is not None:
                    needs.check(claims)
            except CognitoGuardError as error:
                logger.info("request refused: %s (%s)", error.message, error.code)
                return proxy_response(error_answer(error, realm))
            return handler(event, context, claims)

        return guarded

    return decorate
