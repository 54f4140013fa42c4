"""API Gateway Lambda authorizers: REST API IAM policies (``TOKEN``, ``REQUEST``) and HTTP API simple responses.

API Gateway reads an authorizer's outcome in three ways, and each of our outcomes maps to exactly one:

- a policy or simple response: Allow (valid token, requirement met) or Deny / ``isAuthorized: false`` (valid token,
  requirement not met: 403). API Gateway caches it for the authorizer's TTL under the identity source (the token);
- an error whose message is exactly ``Unauthorized``: 401, for every token that is absent or refused
  (:class:`Unauthorized`);
- any other error: 500 (REST: the ``AUTHORIZER_CONFIGURATION_ERROR`` gateway response, which may be set to 503).
  Used when the check itself cannot run (:class:`~cognito_guard.errors.ServiceUnavailableError`: no keys, revocation
  list out of reach): a Deny would be cached and refuse a good caller for the whole TTL after the outage ended,
  and an Allow would let anyone in. An error is not cached, so the next request asks again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

from ._lambda_events import RouteArn, parse_route_arn, request_authorization, token_of
from .claims import Claims
from .errors import AuthorizationError, ConfigurationError, ServiceUnavailableError, TokenError
from .guards import Requirement
from .verifier import CognitoVerifier

__all__ = [
    "AuthorizerContext",
    "ContextValue",
    "HttpApiAuthorizer",
    "RestApiAuthorizer",
    "Unauthorized",
    "authorizer_context",
]

logger = logging.getLogger("cognito_guard.aws_lambda")
_UNKNOWN_PRINCIPAL = "unknown"  # a Deny from the verifier's own requirements comes without the claims

ContextValue = str | int | float | bool
"""What API Gateway accepts as an authorizer ``context`` value."""
AuthorizerContext = Callable[[Claims], Mapping[str, object]]
"""Builds the ``context`` of an Allow from the verified claims (``None`` values are left out)."""


class Unauthorized(TokenError):
    """Raised by the authorizers for a token that is absent or refused: API Gateway answers 401.

    Its message is always exactly ``Unauthorized``, the only one API Gateway turns into a 401 (any other error is a
    500). Why the token was refused is its ``reason`` (the refusal's ``code``, or ``not_authenticated`` without a
    token) and its ``__cause__``; neither holds the token.
    """

    code = "unauthorized"

    def __init__(self, reason: str = "not_authenticated") -> None:
        super().__init__("Unauthorized")
        self.reason = reason


def authorizer_context(claims: Claims) -> dict[str, ContextValue]:
    """The default ``context`` of an Allow: ``sub``, ``token_use``, and when the token has them ``username``,
    ``client_id``, ``scope`` (space-separated, as in the token) and ``groups`` (space-separated: Cognito group
    names hold no whitespace). The integration reads them as ``requestContext.authorizer.<name>`` (REST) or
    ``requestContext.authorizer.lambda.<name>`` (HTTP API).
    """
    context: dict[str, ContextValue] = {"sub": claims.sub, "token_use": claims.token_use}
    if claims.username:
        context["username"] = claims.username
    if claims.client_id:
        context["client_id"] = claims.client_id
    if claims.scopes:
        context["scope"] = " ".join(sorted(claims.scopes))
    if claims.groups:
        context["groups"] = " ".join(claims.groups)
    return context


def _context_values(values: object) -> dict[str, ContextValue]:
    """``values`` checked against what API Gateway accepts; raises ConfigurationError naming the first bad entry."""
    if not isinstance(values, Mapping):
        raise ConfigurationError("the authorizer context must be a mapping of names to strings, numbers or booleans")
    context: dict[str, ContextValue] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not name:
            raise ConfigurationError("authorizer context names must be non-empty strings")
        if value is None:
            continue
        # API Gateway answers 500 to anything else (REST), or fails on it once the answer is cached (HTTP API).
        if not isinstance(value, (str, int, float)) or (isinstance(value, float) and not math.isfinite(value)):
            raise ConfigurationError(
                f"authorizer context value {name!r} must be a string, a finite number or a boolean,"
                f" not {type(value).__name__}"
            )
        context[name] = value
    return context


class _Authorizer:
    """What both authorizers share: settings, and the token check that turns refusals into :class:`Unauthorized`."""

    def __init__(
        self,
        verifier: CognitoVerifier,
        requirement: Requirement | None,
        *,
        header: str,
        bare_token: bool,
        context: AuthorizerContext,
    ) -> None:
        if not isinstance(verifier, CognitoVerifier):
            raise ConfigurationError("verifier must be a CognitoVerifier (build it once, at module level)")
        if requirement is not None and not isinstance(requirement, Requirement):
            raise ConfigurationError("requirement must be a Requirement: require(scopes=..., groups=...)")
        if requirement is not None and requirement.is_async:
            raise ConfigurationError("Lambda authorizers check requirements synchronously: use a plain predicate")
        if not isinstance(header, str) or not header.strip():
            raise ConfigurationError("header must be a header name such as 'Authorization'")
        if not callable(context):
            raise ConfigurationError("context must be a callable taking Claims (see authorizer_context)")
        if not isinstance(bare_token, bool):
            raise ConfigurationError("bare_token must be True or False")
        self.verifier = verifier
        self.requirement = requirement or Requirement()
        self._header = header.strip()
        self._bare_token = bare_token
        self._context = context

    def claims(self, event: Mapping[str, Any]) -> Claims:
        """The verified claims of the event's token, once they meet the requirement.

        For answers of your own (per-route policies, Powertools' response builders). Raises :class:`Unauthorized`
        (no token, or refused: let it propagate for a 401), :class:`~cognito_guard.errors.AuthorizationError`
        (valid, not allowed: answer Deny) or :class:`~cognito_guard.errors.ServiceUnavailableError` (cannot check
        now: let it propagate, never Allow).
        """
        claims = self._verified(event)
        self.requirement.check(claims)
        return claims

    def _authorization(self, event: Mapping[str, Any]) -> str | None:
        return request_authorization(event, self._header)

    def _verified(self, event: Mapping[str, Any]) -> Claims:
        try:
            token = token_of(self._authorization(event), bare_token=self._bare_token)
            if token is None:
                logger.info("authorizer: 401, the request carries no bearer token")
                raise Unauthorized()
            return self.verifier.verify_sync(token)
        except Unauthorized:
            raise
        except TokenError as error:
            logger.info("authorizer: 401, token refused: %s (%s)", error.message, error.code)
            raise Unauthorized(error.code) from error
        except ServiceUnavailableError as error:
            logger.warning(
                "authorizer: tokens cannot be checked now, failing with an error (API Gateway answers 500) rather "
                "than a Deny it would cache: %s (%s)",
                error.message,
                error.code,
            )
            raise

    def _decide(self, event: Mapping[str, Any]) -> tuple[str, Claims | None]:
        """(principal id, the claims if allowed, else None): a Deny. Raises Unauthorized or a 503-family error."""
        principal = _UNKNOWN_PRINCIPAL
        try:
            claims = self._verified(event)  # the verifier's own requirements (scopes=...) may deny: no claims then
            principal = claims.sub
            self.requirement.check(claims)
        except AuthorizationError as error:
            logger.info("authorizer: 403, %s (%s)", error.message, error.code)
            return principal, None
        return principal, claims

    def _context_of(self, claims: Claims) -> dict[str, ContextValue]:
        return _context_values(self._context(claims))


class RestApiAuthorizer(_Authorizer):
    """A REST API Lambda authorizer (``TOKEN`` or ``REQUEST``) answering an IAM policy; use it as the handler.

    ::

        VERIFIER = verifier_from_env()  # at module level: keys are loaded once per container
        handler = RestApiAuthorizer(VERIFIER, require(scopes="orders/read"), all_routes=True)

    Valid token meeting ``requirement`` -> Allow, principal id = ``sub``, ``context`` from ``context(claims)``
    (default :func:`authorizer_context`); valid token not meeting it -> Deny (403). No token or a refused one
    (expired, revoked...) -> :class:`Unauthorized` (401). Keys or revocation list unreachable -> the
    :class:`~cognito_guard.errors.ServiceUnavailableError` propagates (500, never cached, never Allow).

    ``all_routes``: the policy names every method and path of the API stage (``.../{stage}/*/*``) instead of the one
    method ARN asked about. Turn it on when the authorizer caches its answers (the default for REST APIs, 300 s):
    API Gateway applies a cached policy to the caller's other routes too, and a policy naming one method ARN then
    refuses them with 403 until it expires. The decision never depends on the route, so naming them all grants
    nothing the authorizer would not grant on each; use separate authorizers (caches) for different requirements.

    ``header``: the header a ``REQUEST`` authorizer reads (``TOKEN`` authorizers get their identity source's value).
    ``bare_token``: also take a header holding the token alone, without ``Bearer`` (as clients of API Gateway's
    Cognito authorizer send it). Payload 1.0 events of HTTP APIs (and 2.0 ones without simple responses) are read too.
    Raises :class:`~cognito_guard.errors.ConfigurationError` on bad settings.
    """

    def __init__(
        self,
        verifier: CognitoVerifier,
        requirement: Requirement | None = None,
        *,
        all_routes: bool = False,
        header: str = "Authorization",
        bare_token: bool = False,
        context: AuthorizerContext = authorizer_context,
    ) -> None:
        super().__init__(verifier, requirement, header=header, bare_token=bare_token, context=context)
        if not isinstance(all_routes, bool):
            raise ConfigurationError("all_routes must be True or False")
        self.all_routes = all_routes

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """The IAM policy answering this authorizer event; raises :class:`Unauthorized` or a 503-family error."""
        route = self._route(event)
        principal, claims = self._decide(event)
        resource = route.all_routes if self.all_routes else route.arn
        if claims is None:
            return iam_policy(principal, "Deny", resource)
        return iam_policy(principal, "Allow", resource, self._context_of(claims))

    def _route(self, event: object) -> RouteArn:
        route = None
        if isinstance(event, Mapping) and event.get("type") in ("TOKEN", "REQUEST"):
            route = parse_route_arn(event.get("methodArn") or event.get("routeArn"))
        if route is None:
            # API Gateway sends nothing else: this function is wired to something other than an authorizer.
            logger.error("RestApiAuthorizer: not a REST API authorizer event (TOKEN or REQUEST with a methodArn)")
            raise Unauthorized("not_an_authorizer_event")
        return route

    def _authorization(self, event: Mapping[str, Any]) -> str | None:
        if event.get("type") == "TOKEN":
            value = event.get("authorizationToken")
            return value if isinstance(value, str) else None
        return super()._authorization(event)


class HttpApiAuthorizer(_Authorizer):
    """An HTTP API Lambda authorizer with payload format 2.0 and simple responses (``enableSimpleResponses``).

    ::

        handler = HttpApiAuthorizer(verifier_from_env(), require(groups="staff"))

    Valid token meeting ``requirement`` -> ``{"isAuthorized": true, "context": {...}}``; valid token not meeting it
    -> ``{"isAuthorized": false}`` (403). No token or a refused one -> :class:`Unauthorized` (401). Keys or
    revocation list unreachable -> the :class:`~cognito_guard.errors.ServiceUnavailableError` propagates (500).
    A simple response covers every route using the authorizer, so caching it is safe. ``header``, ``bare_token``
    and ``context`` as for :class:`RestApiAuthorizer`. Raises :class:`~cognito_guard.errors.ConfigurationError` on
    bad settings.
    """

    def __init__(
        self,
        verifier: CognitoVerifier,
        requirement: Requirement | None = None,
        *,
        header: str = "Authorization",
        bare_token: bool = False,
        context: AuthorizerContext = authorizer_context,
    ) -> None:
        super().__init__(verifier, requirement, header=header, bare_token=bare_token, context=context)

    def __call__(self, event: Mapping[str, Any], context: object = None) -> dict[str, Any]:
        """The simple response answering this authorizer event; raises :class:`Unauthorized` or a 503-family
        error."""
        if not isinstance(event, Mapping) or event.get("version") != "2.0" or event.get("type") != "REQUEST":
            logger.error("HttpApiAuthorizer: not an HTTP API authorizer event of payload format 2.0")
            raise Unauthorized("not_an_authorizer_event")
        _, claims = self._decide(event)
        if claims is None:
            return simple_response(False)
        return simple_response(True, self._context_of(claims))


def iam_policy(
    principal_id: str,
    effect: Literal["Allow", "Deny"],
    resource: str,
    context: Mapping[str, ContextValue] | None = None,
) -> dict[str, Any]:
    """An authorizer's IAM policy answer, shaped as Powertools' ``APIGatewayAuthorizerResponse.asdict()`` shapes it."""
    answer: dict[str, Any] = {
        "principalId": principal_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": [resource]}],
        },
    }
    if context:
        answer["context"] = dict(context)
    return answer


def simple_response(authorized: bool, context: Mapping[str, ContextValue] | None = None) -> dict[str, Any]:
    """An HTTP API simple response, shaped as Powertools' ``APIGatewayAuthorizerResponseV2.asdict()`` shapes it."""
    answer: dict[str, Any] = {"isAuthorized": authorized}
    if context:
        answer["context"] = dict(context)
    return answer
