"""Starlette: an ``AuthenticationBackend`` for ``request.user``/``request.auth``, and a ``requires`` that answers like
every cognito_guard adapter. The pure ASGI middleware (:mod:`cognito_guard.asgi`) is re-exported here.

``request.auth.scopes`` holds ``"authenticated"``, the token's scopes and ``"group:NAME"`` for each Cognito group, so
Starlette's own ``@requires("orders/read")`` and ``@requires("group:admin")`` work (with Starlette's bare 403); this
module's :func:`requires` answers 401/403 with the JSON body and ``WWW-Authenticate`` header of
:mod:`cognito_guard.bearer`. Given an :class:`~cognito_guard.AlbVerifier`, the backend (and the middleware) read the
``x-amzn-oidc-*`` headers an Application Load Balancer adds instead of ``Authorization``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec

from starlette.authentication import (
    AuthCredentials,
    AuthenticationBackend,
    AuthenticationError,
    BaseUser,
    UnauthenticatedUser,
)
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from .alb import AlbVerifier
from .asgi import CLAIMS_KEY, CognitoAuthMiddleware, PathRule, cognito_lifespan, reject_websocket
from .bearer import (
    DEFAULT_REALM,
    ErrorAnswer,
    bearer_token,
    check_realm,
    error_answer,
    single_authorization,
    unauthenticated_answer,
    websocket_close_code,
)
from .claims import Claims
from .errors import CognitoGuardError, ConfigurationError
from .guards import Match, Predicate, require
from .verifier import CognitoVerifier

__all__ = [
    "CLAIMS_KEY",
    "CognitoAuthBackend",
    "CognitoAuthMiddleware",
    "CognitoAuthenticationError",
    "CognitoUser",
    "PathRule",
    "cognito_authentication",
    "cognito_lifespan",
    "get_claims",
    "on_error",
    "requires",
]

_P = ParamSpec("_P")


class CognitoUser(BaseUser):
    """``request.user`` for a verified token: ``claims``, ``display_name`` (the username, or the client id of a
    machine token) and ``identity`` (``sub``)."""

    def __init__(self, claims: Claims) -> None:
        self.claims = claims

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.claims.username or self.claims.sub

    @property
    def identity(self) -> str:
        return self.claims.sub

    def __repr__(self) -> str:
        return f"CognitoUser({self.claims!r})"


class CognitoAuthenticationError(AuthenticationError):
    """A presented token was refused; :func:`on_error` turns it into the answer for ``error``."""

    def __init__(self, error: CognitoGuardError, realm: str) -> None:
        super().__init__(error.message)
        self.error = error
        self.realm = realm


def _auth_scopes(claims: Claims) -> list[str]:
    # A token scope spelled "group:..." (a pre-token trigger can write any scope) must not pass for a group.
    scopes = sorted(scope for scope in claims.scopes if not scope.startswith("group:"))
    return ["authenticated", *scopes, *(f"group:{group}" for group in claims.groups)]


class CognitoAuthBackend(AuthenticationBackend):
    """Authenticates ``Authorization: Bearer`` tokens for Starlette's ``AuthenticationMiddleware`` (with an
    :class:`AlbVerifier`: the ALB's ``x-amzn-oidc-data`` header).

    No bearer token (no ALB header): the request goes on unauthenticated (``UnauthenticatedUser``). A refused token
    (or keys unavailable, or the verifier's default requirements unmet) raises :class:`CognitoAuthenticationError`,
    which :func:`on_error` answers with 401/403/503. Use :func:`cognito_authentication` to get both wired in.
    """

    def __init__(self, verifier: CognitoVerifier | AlbVerifier, *, realm: str = DEFAULT_REALM) -> None:
        if not isinstance(verifier, (CognitoVerifier, AlbVerifier)):
            raise ConfigurationError("verifier must be a CognitoVerifier or an AlbVerifier")
        self.verifier = verifier
        self.realm = check_realm(realm)

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        try:
            verifier = self.verifier
            claims: Claims | None
            if isinstance(verifier, AlbVerifier):
                claims = await verifier.verify_headers(conn.headers.getlist)
            else:
                token = bearer_token(single_authorization(conn.headers.getlist("authorization")))
                # No header, or another scheme (Basic...): not ours to judge.
                claims = None if token is None else await verifier.verify(token)
            if claims is None:
                return None
        except CognitoGuardError as error:
            raise CognitoAuthenticationError(error, self.realm) from None
        return AuthCredentials(_auth_scopes(claims)), CognitoUser(claims)


def _response(answer: ErrorAnswer) -> Response:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def on_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """``on_error`` for ``AuthenticationMiddleware``: cognito_guard's 401/403/503 answer for a refused token."""
    if isinstance(exc, CognitoAuthenticationError):
        return _response(error_answer(exc.error, exc.realm))
    return AuthenticationMiddleware.default_on_error(conn, exc)


class _AuthenticationMiddleware(AuthenticationMiddleware):
    """Starlette's middleware, but a refused WebSocket is closed with 1008 (policy violation) instead of 1000."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await super().__call__(scope, receive, send)
            return
        try:
            result = await self.backend.authenticate(HTTPConnection(scope))
        except AuthenticationError as exc:
            if isinstance(exc, CognitoAuthenticationError):
                answer = error_answer(exc.error, exc.realm)
            else:
                answer = ErrorAnswer(400, body={"detail": str(exc), "code": "authentication_failed"})
            await reject_websocket(receive, send, answer)
            return
        scope["auth"], scope["user"] = result or (AuthCredentials(), UnauthenticatedUser())
        await self.app(scope, receive, send)


def cognito_authentication(verifier: CognitoVerifier | AlbVerifier, *, realm: str = DEFAULT_REALM) -> Middleware:
    """``AuthenticationMiddleware`` with :class:`CognitoAuthBackend` and :func:`on_error`, ready for
    ``Starlette(middleware=[cognito_authentication(verifier)])``; refused WebSockets are closed with 1008."""
    return Middleware(_AuthenticationMiddleware, backend=CognitoAuthBackend(verifier, realm=realm), on_error=on_error)


def get_claims(conn: HTTPConnection) -> Claims | None:
    """The verified claims of this request: from :class:`CognitoUser` (backend) or from the state set by
    :class:`CognitoAuthMiddleware`; ``None`` when unauthenticated."""
    user = conn.scope.get("user")
    if isinstance(user, CognitoUser):
        return user.claims
    claims = (conn.scope.get("state") or {}).get(CLAIMS_KEY)
    return claims if isinstance(claims, Claims) else None


def requires(
    scopes: str | Iterable[str] | None = None,
    *,
    scopes_match: Match = "all",
    groups: str | Iterable[str] | None = None,
    groups_match: Match = "any",
    roles: str | Iterable[str] | None = None,
    preferred_role: str | Iterable[str] | None = None,
    predicate: Predicate | Iterable[Predicate] | None = None,
    realm: str = DEFAULT_REALM,
) -> Callable[[Callable[_P, Any]], Callable[_P, Any]]:
    """Guard a Starlette endpoint: ``@requires()`` any valid token, ``@requires("orders/read")``,
    ``@requires(groups="admin")``; the options are those of :func:`cognito_guard.require`.

    The claims come from :class:`CognitoAuthBackend` or :class:`CognitoAuthMiddleware`. No claims: 401 with
    ``WWW-Authenticate``; requirement unmet: 403 (``insufficient_scope``); WebSocket endpoints are closed with 1008.
    The endpoint needs a ``request`` or ``websocket`` parameter; a sync endpoint runs in the thread pool.
    Raises :class:`ConfigurationError` on bad options.
    """
    requirement = require(
        scopes=scopes,
        scopes_match=scopes_match,
        groups=groups,
        groups_match=groups_match,
        roles=roles,
        preferred_role=preferred_role,
        predicate=predicate,
    )
    unauthenticated = unauthenticated_answer(check_realm(realm))

    async def refusal(conn: HTTPConnection) -> ErrorAnswer | None:
        claims = get_claims(conn)
        if claims is None:
            return unauthenticated
        try:
            await requirement.check_async(claims)
        except CognitoGuardError as error:
            return error_answer(error, realm)
        return None

    def decorator(endpoint: Callable[_P, Any]) -> Callable[_P, Any]:
        names = list(inspect.signature(endpoint).parameters)
        name = next((name for name in names if name in ("request", "websocket")), None)
        if name is None:
            raise ConfigurationError(f"{endpoint.__qualname__} needs a 'request' or 'websocket' parameter")
        index = names.index(name)
        is_async = inspect.iscoroutinefunction(endpoint)

        @functools.wraps(endpoint)
        async def guarded(*args: _P.args, **kwargs: _P.kwargs) -> Any:
            conn = kwargs.get(name, args[index] if index < len(args) else None)
            if not isinstance(conn, HTTPConnection):
                raise TypeError(f"{endpoint.__qualname__}: '{name}' must be a Starlette Request or WebSocket")
            answer = await refusal(conn)
            if answer is not None:
                if isinstance(conn, WebSocket):
                    await conn.close(code=websocket_close_code(answer), reason=answer.body["code"])
                    return None
                return _response(answer)
            if is_async:
                return await endpoint(*args, **kwargs)
            return await run_in_threadpool(endpoint, *args, **kwargs)

        return guarded

    return decorator
