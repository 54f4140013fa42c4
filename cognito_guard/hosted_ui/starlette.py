"""Hosted-UI sign-in for Starlette apps: the ``/login``, ``/callback`` and ``/logout`` routes, a session middleware,
and ``login_required`` for endpoints. FastAPI apps use :mod:`cognito_guard.hosted_ui.fastapi` (same thing, with
``login_required`` as a dependency).

::

    sign_in = StarletteSignIn.from_env()          # COGNITO_DOMAIN, COGNITO_CLIENT_ID, ..., APP_SECRET_KEY
    app = Starlette(routes=[*sign_in.routes, Route("/profile", profile)], middleware=[sign_in.middleware])

    @sign_in.login_required(groups="admin")
    async def admin(request): ...
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import AuthorizationError, ConfigurationError
from ..guards import Match, Predicate, Requirement, require
from ._adapter import SignInAdapter
from ._exchange import SignedInUser, WebRequest, WebResponse, _Check
from ._web import WebSignIn

__all__ = ["SignInMiddleware", "SignInRefused", "StarletteSignIn"]

_STATE_KEY = "cognito_sign_in"
_E = TypeVar("_E", bound=Callable[..., Any])


class SignInRefused(Exception):
    """Raised by ``login_required`` to answer a request with a refusal (redirect to sign in, 401, 403 or 503);
    :class:`SignInMiddleware` turns it into the response."""

    def __init__(self, response: WebResponse) -> None:
        super().__init__(response.status)
        self.response = response


def web_request(conn: HTTPConnection) -> WebRequest:
    """The framework-neutral view of a Starlette request (its query decoded by :meth:`WebRequest.from_raw`, not by
    ``conn.url``, which raises on bytes that are not UTF-8)."""
    url = URL(scope={**conn.scope, "query_string": b""})
    return WebRequest.from_raw(
        url=str(url),
        path=url.path,
        query_string=conn.scope.get("query_string", b""),
        cookie_headers=conn.headers.getlist("cookie"),
        accept=conn.headers.get("accept", ""),
    )


def to_response(answer: WebResponse) -> Response:
    """A Starlette response for a framework-neutral answer."""
    response = Response(answer.body, status_code=answer.status, media_type=answer.content_type.split(";")[0])
    if answer.content_type.startswith("text/"):
        response.headers["content-type"] = answer.content_type
    for name, value in answer.headers.items():
        response.headers[name] = value
    if answer.location is not None:
        response.headers["location"] = answer.location
    for cookie in answer.set_cookies:
        response.headers.append("set-cookie", cookie)
    return response


class _RequestSession:
    """One request's sign-in state, resolved on first use and remembered in the ASGI scope."""

    def __init__(self, web: WebSignIn, conn: HTTPConnection) -> None:
        self._web = web
        self._conn = conn
        self.check: _Check | None = None

    async def resolve(self) -> _Check:
        if self.check is None:
            self.check = await self._web.check_async(web_request(self._conn))
        return self.check


class SignInMiddleware:
    """Pure ASGI middleware: gives each HTTP request a lazily checked session, adds the cookies a refresh produced to
    the response, and renders :class:`SignInRefused`."""

    def __init__(self, app: ASGIApp, *, sign_in: StarletteSignIn) -> None:
        self.app = app
        self.web = sign_in.web

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        session = _RequestSession(self.web, HTTPConnection(scope))
        scope.setdefault("state", {})[_STATE_KEY] = session
        if scope["type"] == "websocket":  # get_user works on the handshake's cookies; no cookie can be set there
            await self.app(scope, receive, send)
            return
        started = False

        async def send_with_cookies(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if session.check is not None and session.check.set_cookies:
                    # A refreshed session cookie must not be stored by a shared cache and served to someone else.
                    headers = [(name, value) for name, value in message.get("headers", []) if name != b"cache-control"]
                    headers.append((b"cache-control", b"private, no-store"))
                    headers += [(b"set-cookie", cookie.encode("latin-1")) for cookie in session.check.set_cookies]
                    message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_cookies)
        except SignInRefused as refused:
            if started:  # pragma: no cover - login_required runs before the endpoint answers
                raise
            await to_response(refused.response)(scope, receive, send_with_cookies)


class StarletteSignIn(SignInAdapter):
    """Hosted-UI sign-in for one Starlette app (options: :class:`~cognito_guard.hosted_ui._adapter.SignInAdapter`):
    :attr:`routes` under ``prefix``, :attr:`middleware`, :meth:`login_required` and :meth:`get_user`."""

    @property
    def routes(self) -> list[BaseRoute]:
        """``{prefix}/login`` (``?next=/local/path``), ``{prefix}/callback`` and ``{prefix}/logout`` (GET or POST)."""
        return [
            Mount(
                self.prefix,
                routes=[
                    Route("/login", self._login, methods=["GET"], name="cognito_login"),
                    Route("/callback", self._callback, methods=["GET"], name="cognito_callback"),
                    Route("/logout", self._logout, methods=["GET", "POST"], name="cognito_logout"),
                ],
            )
        ]

    @property
    def middleware(self) -> Middleware:
        """Add to the app's middleware: ``Starlette(..., middleware=[sign_in.middleware])``."""
        return Middleware(SignInMiddleware, sign_in=self)

    async def aclose(self) -> None:
        """Close the HTTP clients (call from the app's lifespan)."""
        await self.client.aclose()

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Any) -> AsyncIterator[None]:
        """``Starlette(lifespan=sign_in.lifespan)`` / ``FastAPI(lifespan=...)``: closes the HTTP clients at shutdown."""
        try:
            yield
        finally:
            await self.aclose()

    # --- routes ---------------------------------------------------------------------------------------------------

    async def _login(self, request: Request) -> Response:
        return to_response(self.web.login(web_request(request)))

    async def _callback(self, request: Request) -> Response:
        return to_response(await self.web.callback_async(web_request(request)))

    async def _logout(self, request: Request) -> Response:
        return to_response(await self.web.logout_async(web_request(request)))

    # --- who is signed in -----------------------------------------------------------------------------------------

    async def get_user(self, conn: HTTPConnection) -> SignedInUser | None:
        """The signed-in user of this request, or None (tokens are refreshed when needed).

        Raises :class:`ConfigurationError` if :attr:`middleware` is not installed.
        """
        return (await self._session(conn).resolve()).user

    def _session(self, conn: HTTPConnection) -> _RequestSession:
        session = conn.scope.get("state", {}).get(_STATE_KEY)
        if not isinstance(session, _RequestSession):
            raise ConfigurationError("add sign_in.middleware to the app's middleware to use sign-in sessions")
        return session

    async def _guard(self, conn: HTTPConnection, requirement: Requirement) -> SignedInUser:
        session = self._session(conn)
        check = await session.resolve()
        request = web_request(conn)
        if check.unavailable is not None:
            raise SignInRefused(self.web.unavailable(request, check.unavailable))
        if check.user is None:
            raise SignInRefused(self.web.unauthenticated(request))
        try:
            await requirement.check_async(check.user.claims)
        except AuthorizationError as error:
            raise SignInRefused(self.web.forbidden(request, error)) from None
        return check.user

    def login_required(
        self,
        *,
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> Callable[[_E], _E]:
        """Decorate an endpoint taking ``request``: browsers without a session are redirected to sign in (``next`` =
        this page), API clients get 401, a signed-in user who does not meet the requirement gets 403. The user is in
        ``request.state.user`` (a :class:`SignedInUser`). Requirements are checked on the ID token's claims."""
        requirement = self._requirement(groups, groups_match, roles, preferred_role, predicate)

        def decorator(endpoint: _E) -> _E:
            parameters = list(inspect.signature(endpoint).parameters)
            if "request" not in parameters:
                raise ConfigurationError(f"{endpoint.__qualname__} needs a 'request' parameter")
            index = parameters.index("request")
            is_async = inspect.iscoroutinefunction(endpoint)

            @functools.wraps(endpoint)
            async def guarded(*args: Any, **kwargs: Any) -> Any:
                request = kwargs.get("request", args[index] if index < len(args) else None)
                if not isinstance(request, HTTPConnection):
                    raise TypeError(f"{endpoint.__qualname__}: 'request' must be a Starlette Request")
                request.state.user = await self._guard(request, requirement)
                if is_async:
                    return await endpoint(*args, **kwargs)
                return await run_in_threadpool(endpoint, *args, **kwargs)

            return guarded  # type: ignore[return-value]

        return decorator

    @staticmethod
    def _requirement(
        groups: str | Iterable[str] | None,
        groups_match: Match,
        roles: str | Iterable[str] | None,
        preferred_role: str | Iterable[str] | None,
        predicate: Predicate | Iterable[Predicate] | None,
    ) -> Requirement:
        return require(
            groups=groups, groups_match=groups_match, roles=roles, preferred_role=preferred_role, predicate=predicate
        )
