"""FastAPI integration: a security dependency that verifies Cognito tokens and hands the route their :class:`Claims`.

::

    auth = CognitoAuth.from_env()                        # or CognitoAuth(CognitoVerifier(...))
    app = FastAPI(lifespan=auth.lifespan)                # warm the keys up, close HTTP clients at shutdown

    @app.get("/me")
    async def me(claims: Annotated[Claims, Depends(auth)]) -> dict[str, str]: ...

    @app.get("/orders")
    async def orders(claims: Annotated[Claims, Security(auth, scopes=["orders/read"])]) -> list[str]: ...

    admin = APIRouter(dependencies=[Depends(auth.require(groups=["admin"]))])

Behind an Application Load Balancer that authenticates users, ``CognitoAuth(AlbVerifier(...))`` verifies the ALB's
``x-amzn-oidc-data`` header instead of a bearer token, with the same requirements and refusals.

Refusals are answered exactly like every other cognito_guard adapter (see :mod:`cognito_guard.bearer`): 401/403/503
with RFC 6750 ``WWW-Authenticate`` and ``Retry-After`` headers and a JSON body ``{"detail": ..., "code": ...}``.
WebSocket handshakes are closed with code 1008 before they are accepted.

fastapi is imported only here: install the ``[fastapi]`` extra.
"""

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from functools import cached_property
from typing import Annotated, Any

from fastapi import HTTPException, Security
from fastapi.openapi.models import APIKey as APIKeyModel
from fastapi.openapi.models import APIKeyIn, OAuthFlowAuthorizationCode, OAuthFlows
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse

from .alb import DATA_HEADER, AlbVerifier
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
from .claims import Claims
from .config import verifier_from_env
from .errors import CognitoGuardError, ConfigurationError
from .guards import Match, Predicate, Requirement, require
from .hosted_ui._settings import hosted_ui_base_url
from .verifier import CognitoVerifier

__all__ = ["CognitoAuth", "CognitoHTTPException", "HostedUI", "cognito_exception_handler"]

logger = logging.getLogger("cognito_guard.fastapi")

_ClaimsDependency = Callable[..., Awaitable[Claims]]


class CognitoHTTPException(HTTPException):
    """An HTTP refusal (401/403/503) with the RFC 6750 headers; ``detail`` is the message, ``code`` the error code.

    :class:`CognitoAuth` makes sure :func:`cognito_exception_handler` answers it (body ``{"detail", "code"}``); register
    your own handler for this class to format refusals differently.
    """

    def __init__(self, answer: ErrorAnswer) -> None:
        super().__init__(answer.status, detail=answer.body["detail"], headers=answer.headers)
        self.code = answer.body["code"]


async def cognito_exception_handler(request: Request, exc: Exception) -> JSONResponse:
    """Answer a :class:`CognitoHTTPException` with ``{"detail": ..., "code": ...}`` and its headers."""
    if not isinstance(exc, CognitoHTTPException):  # pragma: no cover - registered for that class only
        raise exc
    return JSONResponse({"detail": exc.detail, "code": exc.code}, status_code=exc.status_code, headers=exc.headers)


class HostedUI:
    """The Cognito hosted UI (managed login) that Swagger UI's "Authorize" button signs in with.

    ``domain``: the pool's domain, ``myprefix.auth.us-east-1.amazoncognito.com`` or a custom one such as
    ``auth.example.com`` (``https://`` is assumed; ``http://`` only for localhost stand-ins), or just the prefix
    ``myprefix`` together with ``user_pool_id`` (for the region), the same rules as the sign-in's
    :class:`~cognito_guard.hosted_ui.HostedUIClient`. ``client_id``: a
    *public* app client (no secret: Swagger UI runs in the browser) that allows the authorization-code grant and lists
    ``{your app}/docs/oauth2-redirect`` as a callback URL. ``scopes``: offered in Swagger UI (names, or names mapped
    to descriptions), default ``openid``.

    Raises :class:`ConfigurationError` on a bad domain, an empty client id or an empty scope name.
    """

    def __init__(
        self,
        *,
        domain: str,
        client_id: str,
        scopes: Mapping[str, str] | Iterable[str] = ("openid",),
        user_pool_id: str | None = None,
    ) -> None:
        self.base_url = hosted_ui_base_url(domain, user_pool_id, "HostedUI domain")
        if not isinstance(client_id, str) or not client_id:
            raise ConfigurationError("HostedUI client_id must be a non-empty string")
        self.client_id = client_id
        named = dict(scopes) if isinstance(scopes, Mapping) else {name: name for name in scopes}
        if not all(isinstance(name, str) and name and " " not in name for name in named):
            raise ConfigurationError("HostedUI scopes must be non-empty scope names without spaces")
        self.scopes: dict[str, str] = named

    @property
    def authorize_url(self) -> str:
        return f"{self.base_url}/oauth2/authorize"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/oauth2/token"


class CognitoAuth(SecurityBase):
    """A FastAPI security dependency: ``Depends(auth)`` / ``Security(auth, scopes=[...])`` gives the route
    the verified :class:`Claims`.

    The token comes from ``Authorization: Bearer`` (scheme case-insensitive); with an :class:`AlbVerifier` (ALB
    mode) from the ``x-amzn-oidc-data`` header an Application Load Balancer adds (and ``x-amzn-oidc-accesstoken``
    when the verifier checks it too), declared in OpenAPI as an API key header. Options:

    - ``realm``: the realm of the ``WWW-Authenticate`` challenges (default ``"api"``).
    - ``auto_error``: with ``False`` a request without any bearer token gets ``None`` instead of a 401; a token that
      is presented but refused is still answered 401. ``auth.optional`` is that variant of an existing ``auth``.
    - ``hosted_ui``: a :class:`HostedUI`; the OpenAPI document then declares an OAuth2 authorization-code scheme
      against it (pass ``swagger_ui_init_oauth=auth.swagger_ui_init_oauth`` to ``FastAPI``) instead of HTTP bearer.
    - ``scheme_name`` / ``description``: how the scheme is named and described in OpenAPI (default ``"Cognito"``).
    - ``websocket_query_param``: also read a WebSocket's token from this query parameter (opt-in: URLs end up in
      access logs). ``websocket_subprotocol``: also read it from the subprotocol offered right after this marker,
      e.g. ``new WebSocket(url, ["bearer", token])``; accept with ``subprotocol=auth.accepted_subprotocol(websocket)``.

    ``hosted_ui`` and the WebSocket token options do not apply in ALB mode (the ALB signs users in and sends the
    headers on WebSocket handshakes too): passing them raises :class:`ConfigurationError`.

    Use ``FastAPI(lifespan=auth.lifespan)`` (or ``async with auth.lifespan(app)`` in your own lifespan) to fetch the
    keys at start-up and close the verifier's HTTP clients at shutdown.
    """

    def __init__(
        self,
        verifier: CognitoVerifier | AlbVerifier,
        *,
        realm: str = DEFAULT_REALM,
        auto_error: bool = True,
        hosted_ui: HostedUI | None = None,
        scheme_name: str = "Cognito",
        description: str | None = None,
        websocket_query_param: str | None = None,
        websocket_subprotocol: str | None = None,
    ) -> None:
        if not isinstance(verifier, (CognitoVerifier, AlbVerifier)):
            raise ConfigurationError(
                "CognitoAuth needs a CognitoVerifier or an AlbVerifier (or use CognitoAuth.from_env())"
            )
        if isinstance(verifier, AlbVerifier) and (
            hosted_ui is not None or websocket_query_param is not None or websocket_subprotocol is not None
        ):
            raise ConfigurationError(
                "behind an ALB the tokens come from its headers: hosted_ui and websocket_* options do not apply"
            )
        check_realm(realm)
        for name, value in (
            ("websocket_query_param", websocket_query_param),
            ("websocket_subprotocol", websocket_subprotocol),
        ):
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigurationError(f"{name} must be a non-empty string or None")
        self._verifier = verifier
        self._root = self  # variants (``optional``, ``require``) read the verifier of the auth they came from
        self.realm = realm
        self.auto_error = auto_error
        self.hosted_ui = hosted_ui
        self.scheme_name = scheme_name
        self.websocket_query_param = websocket_query_param
        self.websocket_subprotocol = websocket_subprotocol
        self._description = description
        self.model: HTTPBearerModel | OAuth2Model | APIKeyModel
        if isinstance(verifier, AlbVerifier):
            self.model = APIKeyModel(
                **{"in": APIKeyIn.header},  # type: ignore[arg-type]
                name=DATA_HEADER,
                description=description
                or "Added by the AWS Application Load Balancer that signed the user in; clients never send it.",
            )
        elif hosted_ui is None:
            self.model = HTTPBearerModel(
                bearerFormat="JWT", description=description or "An Amazon Cognito access or ID token."
            )
        else:
            flow = OAuthFlowAuthorizationCode(
                authorizationUrl=hosted_ui.authorize_url,
                tokenUrl=hosted_ui.token_url,
                refreshUrl=hosted_ui.token_url,
                scopes=hosted_ui.scopes,
            )
            self.model = OAuth2Model(
                flows=OAuthFlows(authorizationCode=flow),
                description=description or "Sign in with the Amazon Cognito hosted UI (authorization code with PKCE).",
            )
        # Scopes demanded through Security(auth, scopes=[...]): a handful per app, so built once and kept.
        self._scope_requirements: dict[tuple[str, ...], Requirement] = {}

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        realm: str = DEFAULT_REALM,
        auto_error: bool = True,
        hosted_ui: HostedUI | None = None,
        scheme_name: str = "Cognito",
        description: str | None = None,
        websocket_query_param: str | None = None,
        websocket_subprotocol: str | None = None,
    ) -> "CognitoAuth":
        """A :class:`CognitoAuth` whose verifier is configured from the ``COGNITO_*`` environment variables.

        Raises :class:`ConfigurationError` naming the variable that is missing or invalid.
        """
        return cls(
            verifier_from_env(environ),
            realm=realm,
            auto_error=auto_error,
            hosted_ui=hosted_ui,
            scheme_name=scheme_name,
            description=description,
            websocket_query_param=websocket_query_param,
            websocket_subprotocol=websocket_subprotocol,
        )

    # -- the dependency ------------------------------------------------------------------------------------------------
    async def __call__(self, connection: HTTPConnection, security_scopes: SecurityScopes) -> Claims | None:
        """Verify the request's token; returns its claims (``None`` only for an absent token with ``auto_error=False``).

        Raises :class:`CognitoHTTPException` over HTTP, :class:`WebSocketException` (1008) on a WebSocket.
        """
        try:
            verifier = self._root._verifier
            claims: Claims | None
            if isinstance(verifier, AlbVerifier):
                claims = await verifier.verify_headers(connection.headers.getlist)
            else:
                token = bearer_token(asgi_authorization(connection.scope["headers"]))
                if token is None and connection.scope["type"] == "websocket":
                    token = self._websocket_token(connection)
                claims = None if token is None else await verifier.verify(token)
            if claims is None:
                if not self.auto_error:
                    return None
                raise self._refusal(connection, None)
            if security_scopes.scopes:
                self._scope_requirement(security_scopes.scopes).check(claims)
        except CognitoGuardError as error:
            raise self._refusal(connection, error) from None
        return claims

    @property
    def verifier(self) -> CognitoVerifier | AlbVerifier:
        """The verifier used; assign another of the same kind (e.g. a test kit's) and every variant follows."""
        return self._root._verifier

    @verifier.setter
    def verifier(self, verifier: CognitoVerifier | AlbVerifier) -> None:
        if not isinstance(verifier, (CognitoVerifier, AlbVerifier)):
            raise ConfigurationError("CognitoAuth needs a CognitoVerifier or an AlbVerifier")
        if isinstance(verifier, AlbVerifier) != isinstance(self._root._verifier, AlbVerifier):
            raise ConfigurationError("a CognitoAuth keeps its kind of verifier (bearer or ALB): make a new one")
        self._root._verifier = verifier

    @cached_property
    def optional(self) -> "CognitoAuth":
        """This dependency with ``auto_error=False``: ``None`` when no token is sent, 401 for a refused one."""
        if not self.auto_error:
            return self
        return self._variant(auto_error=False)

    @cached_property
    def _required(self) -> "CognitoAuth":
        return self if self.auto_error else self._variant(auto_error=True)

    def _variant(self, *, auto_error: bool) -> "CognitoAuth":
        variant = type(self)(
            self.verifier,
            realm=self.realm,
            auto_error=auto_error,
            hosted_ui=self.hosted_ui,
            scheme_name=self.scheme_name,
            description=self._description,
            websocket_query_param=self.websocket_query_param,
            websocket_subprotocol=self.websocket_subprotocol,
        )
        variant._root = self._root
        return variant

    def require(
        self,
        *,
        scopes: str | Iterable[str] | None = None,
        scopes_match: Match = "all",
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> _ClaimsDependency:
        """A dependency that also enforces a :func:`~cognito_guard.require` requirement and yields the claims.

        Use it per route (``Depends(auth.require(groups="admin"))`` as a parameter or in ``dependencies=[...]``) or
        per router (``APIRouter(dependencies=[Depends(...)])``). Scopes (all-of) are declared in OpenAPI. A token is
        always required, even on an ``auto_error=False`` auth. Failures answer 403 (``missing_scope``,
        ``missing_group``, ``role_not_allowed``, ``denied``). Raises :class:`ConfigurationError` on bad values.
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
        # "Any of" scopes cannot be expressed as one OpenAPI requirement: only all-of scopes are declared.
        declared = sorted(requirement.scopes) if requirement.scopes_match == "all" else []
        required = self._required

        async def check_requirement(
            connection: HTTPConnection, claims: Annotated[Claims | None, Security(required, scopes=declared)]
        ) -> Claims:
            if claims is None:  # pragma: no cover - `required` has auto_error=True
                raise self._refusal(connection, None)
            try:
                await requirement.check_async(claims)
            except CognitoGuardError as error:
                raise self._refusal(connection, error) from None
            return claims

        return check_requirement

    # -- OpenAPI / Swagger UI ------------------------------------------------------------------------------------------
    @property
    def swagger_ui_init_oauth(self) -> dict[str, Any] | None:
        """Swagger UI's OAuth settings for the hosted UI (PKCE on, scopes preselected); ``None`` without one.

        Pass it as ``FastAPI(swagger_ui_init_oauth=auth.swagger_ui_init_oauth)``.
        """
        if self.hosted_ui is None:
            return None
        return {
            "clientId": self.hosted_ui.client_id,
            "usePkceWithAuthorizationCodeGrant": True,
            "scopes": " ".join(self.hosted_ui.scopes),
        }

    # -- lifespan ------------------------------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, app: object = None) -> AsyncIterator[None]:
        """Fetch the signing keys at start-up and close the verifier's HTTP clients at shutdown.

        ``FastAPI(lifespan=auth.lifespan)``, or ``async with auth.lifespan(app):`` inside your own lifespan. If the
        keys cannot be fetched the app still starts (a warning is logged): requests are answered 503 until they can.
        """
        try:
            await self.verifier.warm_up()
        except CognitoGuardError as error:
            logger.warning("Cognito signing keys could not be loaded at start-up: %s (%s)", error.message, error.code)
        try:
            yield
        finally:
            await self.verifier.aclose()

    # -- WebSockets ----------------------------------------------------------------------------------------------------
    def accepted_subprotocol(self, connection: HTTPConnection) -> str | None:
        """The subprotocol to accept a WebSocket with: the marker if the client sent its token that way, else None.

        ``await websocket.accept(subprotocol=auth.accepted_subprotocol(websocket))``. Never echoes the token.
        """
        marker = self.websocket_subprotocol
        offered = connection.scope.get("subprotocols") or ()
        return marker if marker is not None and marker in offered else None

    def _websocket_token(self, connection: HTTPConnection) -> str | None:
        if self.websocket_query_param is not None:
            token = connection.query_params.get(self.websocket_query_param)
            if token is not None:
                return token
        if self.websocket_subprotocol is not None:
            offered = list(connection.scope.get("subprotocols") or ())
            if self.websocket_subprotocol in offered:
                index = offered.index(self.websocket_subprotocol) + 1
                # The marker with nothing after it is a presented-but-empty token: refused as malformed, not absent.
                return str(offered[index]) if index < len(offered) else ""
        return None

    # -- refusals ------------------------------------------------------------------------------------------------------
    def _scope_requirement(self, scopes: list[str]) -> Requirement:
        key = tuple(scopes)
        requirement = self._scope_requirements.get(key)
        if requirement is None:
            requirement = self._scope_requirements[key] = require(scopes=key)
        return requirement

    def _refusal(self, connection: HTTPConnection, error: CognitoGuardError | None) -> Exception:
        """The exception that makes FastAPI answer the refusal: HTTP 401/403/503, or a WebSocket close."""
        answer = unauthenticated_answer(self.realm) if error is None else error_answer(error, self.realm)
        if error is not None:
            logger.debug("request refused: %s (%s)", error.message, error.code)
        if connection.scope["type"] == "websocket":
            return WebSocketException(code=websocket_close_code(answer), reason=answer.body["code"])
        _install_exception_handler(connection)
        return CognitoHTTPException(answer)


def _install_exception_handler(connection: HTTPConnection) -> None:
    """Make sure this app answers CognitoHTTPException with our handler, without the user registering it.

    FastAPI's own HTTPException handler would nest the body under "detail". Starlette's ExceptionMiddleware publishes
    its (mutable) handler table in the scope and looks handlers up in it when an exception arrives, so adding ours
    there works even after the app has started. A handler the app registered for CognitoHTTPException is kept.
    """
    handlers = connection.scope.get("starlette.exception_handlers")
    if isinstance(handlers, tuple) and handlers and isinstance(handlers[0], dict):
        handlers[0].setdefault(CognitoHTTPException, cognito_exception_handler)
