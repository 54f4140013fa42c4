"""A pure ASGI middleware that guards any ASGI app (Starlette, FastAPI, Litestar, Quart, Django) with a verifier.

No framework is imported here: the middleware speaks raw ASGI. It answers refused HTTP requests exactly like the other
adapters (:mod:`cognito_guard.bearer`), closes refused WebSockets with 1008 before accepting them, and passes lifespan
(and any other scope type) through untouched. Given an :class:`~cognito_guard.AlbVerifier` it reads the headers an
Application Load Balancer adds (``x-amzn-oidc-data``...) instead of ``Authorization``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Union

from .alb import AlbVerifier, HeaderValues
from .bearer import (
    DEFAULT_REALM,
    ErrorAnswer,
    asgi_authorization,
    bearer_token,
    check_realm,
    error_answer,
    unauthenticated_answer,
    websocket_close_code,
)
from .config import verifier_from_env
from .errors import CognitoGuardError, ConfigurationError
from .guards import Requirement
from .verifier import CognitoVerifier

__all__ = [
    "CLAIMS_KEY",
    "DEFAULT_REALM",
    "CognitoAuthMiddleware",
    "PathRule",
    "cognito_lifespan",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PathRule = Union[str, "re.Pattern[str]"]

CLAIMS_KEY = "cognito_claims"
"""The key of the verified :class:`~cognito_guard.Claims` in ``scope["state"]`` (``request.state.cognito_claims``)."""

logger = logging.getLogger("cognito_guard")

# Empty or dot segments: what such a path names depends on how the framework normalises it, so no include/exclude
# rule may decide that it is public (someone may send /public/../admin).
_AMBIGUOUS_PATH = re.compile(r"//|/\.\.?(?:/|$)")


class _PathRules:
    """Path rules: a string is a prefix (the path itself and everything under it), a compiled regex must fullmatch."""

    __slots__ = ("_patterns", "_prefixes")

    def __init__(self, rules: PathRule | Iterable[PathRule], what: str) -> None:
        items = (rules,) if isinstance(rules, (str, re.Pattern)) else tuple(rules)
        if not items and what == "include":
            # An empty include list would silently protect nothing.
            raise ConfigurationError("include must name at least one path (leave it out to protect every path)")
        prefixes: list[str] = []
        self._patterns: tuple[re.Pattern[str], ...] = ()
        for rule in items:
            if isinstance(rule, str) and rule.startswith("/"):
                prefixes.append(re.escape(rule.rstrip("/")))
            elif isinstance(rule, re.Pattern) and isinstance(rule.pattern, str):
                self._patterns += (rule,)
            else:
                raise ConfigurationError(
                    f"{what} rules must be path prefixes starting with '/' or re.compile() patterns"
                )
        # One regex for all prefixes: "/api" matches "/api" and "/api/...", never "/apiary".
        self._prefixes = re.compile(f"(?:{'|'.join(prefixes)})(?:/|$)") if prefixes else None

    def matches(self, path: str) -> bool:
        if self._prefixes is not None and self._prefixes.match(path):
            return True
        return any(pattern.fullmatch(path) for pattern in self._patterns)


def _other_form(path: str, root_path: str) -> str | None:
    """The request path in the other form the app may route on, or None when there is only one.

    With ``root_path`` in ``path`` (uvicorn): the path below it, which Starlette routes on (as its
    ``get_route_path`` computes it). Without it (servers following the older ASGI reading, Hypercorn, FastAPI's
    ``root_path`` setting): the full path, ``root_path`` followed by ``path``.
    """
    if not root_path:
        return None
    if not path.startswith(root_path):
        return root_path.rstrip("/") + path
    below = path[len(root_path) :]
    # Only at a segment boundary: root_path "/api" does not turn "/apiary" into "ary".
    return below if not below or below.startswith("/") else None


_HTTPAnswer = tuple[int, list[tuple[bytes, bytes]], bytes]


def _header_values(headers: Iterable[tuple[bytes, bytes]]) -> HeaderValues:
    """Every value of a header by lower-case name, from raw ASGI headers (for :meth:`AlbVerifier.verify_headers`)."""

    def values(name: str) -> list[str]:
        raw = name.encode("latin-1")
        return [value.decode("latin-1") for key, value in headers if key == raw]

    return values


def _http_answer(answer: ErrorAnswer) -> _HTTPAnswer:
    # Same bytes as Starlette's JSONResponse, so every adapter answers alike.
    body = json.dumps(answer.body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1", "replace")) for name, value in answer.headers.items()
    ]
    headers += [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    return answer.status, headers, body


async def reject_websocket(receive: Receive, send: Send, answer: ErrorAnswer) -> None:
    """Refuse a WebSocket handshake: wait for ``websocket.connect``, then answer ``websocket.close`` (never accept),
    with the error code as the reason."""
    message = await receive()
    if message["type"] == "websocket.connect":
        await send({"type": "websocket.close", "code": websocket_close_code(answer), "reason": answer.body["code"]})


class CognitoAuthMiddleware:
    """Require a valid Cognito bearer token on all (or selected) paths of any ASGI app.

    - ``verifier``: the :class:`CognitoVerifier` (its default requirements apply too); or, behind an Application Load
      Balancer that authenticates users, an :class:`~cognito_guard.AlbVerifier`: then the ALB's ``x-amzn-oidc-data``
      header (and ``x-amzn-oidc-accesstoken`` if it checks that too) is verified instead of a bearer token.
    - ``include``: paths to protect (default: all); ``exclude``: paths left public. A rule is a path prefix such as
      ``"/api"`` (matching ``/api`` and ``/api/...``, not ``/apiary``) or a ``re.compile(...)`` pattern that must match
      the whole path. A rule applies when it names the full path or the path below ``root_path`` (uvicorn
      ``--root-path``, a Starlette ``Mount``): ``include="/admin"`` protects ``/api/admin`` under ``/api``. A path
      with empty or dot segments (``//``, ``/./``, ``/../``) is always protected.
    - ``require``: a :func:`~cognito_guard.require` that every token on a protected path must also meet (403).
    - ``realm``: for the ``WWW-Authenticate`` challenge.
    - ``allow_preflight``: let CORS preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
      through without a token. Off by default: anyone can send those headers, and an app that does not tell OPTIONS
      apart would run its handler unauthenticated. Turn it on only if a CORS layer *inside* this middleware answers
      preflights itself; better, put the CORS middleware outside, where it answers them before this one runs.

    On success the claims are in ``scope["state"]["cognito_claims"]`` (``request.state.cognito_claims``). Refusals:
    401 (no or invalid token), 403 (requirement not met), 503 with ``Retry-After`` (no keys); JSON
    ``{"detail": ..., "code": ...}``. WebSockets are closed with 1008 before accept. Non-HTTP scopes such as lifespan
    pass through untouched.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        verifier: CognitoVerifier | AlbVerifier,
        include: PathRule | Iterable[PathRule] | None = None,
        exclude: PathRule | Iterable[PathRule] | None = None,
        require: Requirement | None = None,
        realm: str = DEFAULT_REALM,
        allow_preflight: bool = False,
    ) -> None:
        if not isinstance(verifier, (CognitoVerifier, AlbVerifier)):
            raise ConfigurationError("verifier must be a CognitoVerifier or an AlbVerifier")
        if require is not None and not isinstance(require, Requirement):
            raise ConfigurationError("require must be a Requirement, made with cognito_guard.require(...)")
        self.app = app
        self.verifier = verifier
        self._alb = verifier if isinstance(verifier, AlbVerifier) else None
        self.realm = check_realm(realm)
        self._include = None if include is None else _PathRules(include, "include")
        self._exclude = None if exclude is None else _PathRules(exclude, "exclude")
        self._requirement = require or None
        self._requirement_is_async = require is not None and require.is_async
        self._unauthenticated = unauthenticated_answer(realm)
        self._unauthenticated_http = _http_answer(self._unauthenticated)
        self._allow_preflight = allow_preflight

    @classmethod
    def from_env(
        cls,
        app: ASGIApp,
        *,
        include: PathRule | Iterable[PathRule] | None = None,
        exclude: PathRule | Iterable[PathRule] | None = None,
        require: Requirement | None = None,
        realm: str = DEFAULT_REALM,
        allow_preflight: bool = False,
        environ: Mapping[str, str] | None = None,
    ) -> CognitoAuthMiddleware:
        """The middleware with a verifier from the ``COGNITO_*`` variables; raises ConfigurationError naming one."""
        verifier = verifier_from_env(environ)
        return cls(
            app,
            verifier=verifier,
            include=include,
            exclude=exclude,
            require=require,
            realm=realm,
            allow_preflight=allow_preflight,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if (kind != "http" and kind != "websocket") or not self._protects(scope):
            await self.app(scope, receive, send)
            return
        if self._allow_preflight and kind == "http" and scope["method"] == "OPTIONS" and self._is_preflight(scope):
            await self.app(scope, receive, send)
            return
        try:
            if self._alb is None:
                token = bearer_token(asgi_authorization(scope["headers"]))
                claims = None if token is None else await self.verifier.verify(token)
            else:
                claims = await self._alb.verify_headers(_header_values(scope["headers"]))
            if claims is None:
                await self._refuse(scope, receive, send, self._unauthenticated, self._unauthenticated_http)
                return
            if self._requirement is not None:
                if self._requirement_is_async:
                    await self._requirement.check_async(claims)
                else:
                    self._requirement.check(claims)
        except CognitoGuardError as error:
            logger.debug("request refused: %s (%s)", error.message, error.code)
            answer = error_answer(error, self.realm)
            await self._refuse(scope, receive, send, answer, None)
            return
        state = scope.get("state")
        if state is None:
            scope["state"] = {CLAIMS_KEY: claims}
        else:
            state[CLAIMS_KEY] = claims
        await self.app(scope, receive, send)

    def _protects(self, scope: Scope) -> bool:
        if self._include is None and self._exclude is None:
            return True
        path: str = scope["path"]
        if _AMBIGUOUS_PATH.search(path):
            return True
        # The app may route on the full path (root_path included) or on the path below root_path (Starlette does,
        # under uvicorn --root-path or a Mount), and users write rules in either form: a rule applies when it names
        # either form. An include naming either protects (it used to see only the full path: "/admin" under
        # --root-path /api protected nothing); an exclude naming either form exempts, as it names the same resource
        # in both (the full path is root_path + the route path).
        other = _other_form(path, scope.get("root_path", ""))
        include, exclude = self._include, self._exclude
        if include is not None and not (include.matches(path) or (other is not None and include.matches(other))):
            return False
        return exclude is None or not (exclude.matches(path) or (other is not None and exclude.matches(other)))

    @staticmethod
    def _is_preflight(scope: Scope) -> bool:
        names = {name for name, _ in scope["headers"]}
        return b"origin" in names and b"access-control-request-method" in names

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, answer: ErrorAnswer, encoded: _HTTPAnswer | None
    ) -> None:
        if scope["type"] == "websocket":
            await reject_websocket(receive, send, answer)
            return
        status, headers, body = encoded or _http_answer(answer)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def cognito_lifespan(
    verifier: CognitoVerifier | AlbVerifier, *, require_keys: bool = False
) -> Callable[[object], AbstractAsyncContextManager[None]]:
    """A lifespan (``Starlette(lifespan=...)``, ``FastAPI(lifespan=...)``) that fetches the verifier's keys at start-up
    and closes its HTTP clients at shutdown.

    If the keys cannot be fetched, start-up goes on with a warning (requests get 503 until the keys arrive), unless
    ``require_keys=True``: then the :class:`~cognito_guard.KeysUnavailableError` stops the app from starting.
    """

    @asynccontextmanager
    async def lifespan(app: object) -> AsyncIterator[None]:
        try:
            await verifier.warm_up()
        except CognitoGuardError as error:
            if require_keys:
                await verifier.aclose()
                raise
            logger.warning("Cognito signing keys could not be loaded at start-up: %s (%s)", error.message, error.code)
        try:
            yield
        finally:
            await verifier.aclose()

    return lifespan
