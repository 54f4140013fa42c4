"""The stand-in as a Starlette ASGI app: HTTP in, :class:`LocalUserPool` calls, Cognito-shaped HTTP out.

Starlette is imported only here (an optional dependency). Form bodies are parsed with urllib.parse, so
python-multipart is not needed.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from .config import PoolConfig, origin
from .keys import PoolKeys
from .pages import CSRF_FIELD, GENERIC_SIGN_IN_ERROR, error_page, expired_form_page, sign_in_page
from .pool import AuthorizePageError, AuthorizeRequest, LocalUserPool, OAuthError, RedirectError
from .serve import DEFAULT_PUBLIC_URL
from .state import SESSION_LIFETIME
from .user_pool_api import CONTENT_TYPE, ApiError, UserPoolApi
from .xsrf import XSRF_COOKIE, form_token, is_genuine_post

__all__ = ["SESSION_COOKIE", "create_app"]

SESSION_COOKIE = "cognito_dev_session"
_MAX_BODY = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_HTML_HEADERS = {
    **_NO_STORE,
    "X-Frame-Options": "DENY",  # the sign-in form must not be framed (clickjacking)
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}


class _BadParameters(Exception):
    """Repeated parameters, a body that is not a form, or one too large."""


def _parameters(query: str) -> dict[str, str]:
    pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
    params = dict(pairs)
    if len(params) != len(pairs):
        raise _BadParameters("a parameter is repeated")  # RFC 6749 3.1: parameters must not repeat
    return params


async def _body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BODY:
            raise _BadParameters("the body is too large")
    return body


async def _form(request: Request) -> dict[str, str]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise _BadParameters("the body must be application/x-www-form-urlencoded")
    body = await _body(request)
    try:
        return _parameters(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _BadParameters("the body is not a UTF-8 form") from None


def _with_query(uri: str, params: Mapping[str, str | None]) -> str:
    parts = urlsplit(uri)
    extra = urlencode({name: value for name, value in params.items() if value is not None})
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def _html(content: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(content, status_code=status, headers=_HTML_HEADERS)


def _oauth_error(error: OAuthError) -> JSONResponse:
    return JSONResponse({"error": error.error}, status_code=error.status, headers=_NO_STORE)


def create_app(
    config: PoolConfig | None = None,
    *,
    keys: PoolKeys | None = None,
    clock: Callable[[], float] = time.time,
    pool: LocalUserPool | None = None,
    public_url: str = DEFAULT_PUBLIC_URL,
) -> Starlette:
    """The local Cognito stand-in: hosted UI, OAuth endpoints, JWKS and discovery for ``config`` (default: the
    built-in pool). The :class:`LocalUserPool` behind it is ``app.state.pool``.

    ``public_url`` (``scheme://host[:port]``, default ``http://127.0.0.1:9229``) is where the stand-in is reached: the
    issuer (``{public_url}/{user_pool_id}``), the discovery document and the JWKS URL follow it, never the request's
    Host header, as Cognito's issuer is fixed. Pass the address you serve the app on. Raises
    :class:`ConfigurationError` for a URL that is not just scheme, host and port.

    ``GET /_dev/stats`` (not Cognito's) answers the pool's token-endpoint counts as JSON, ``DELETE /_dev/stats``
    resets them: see :class:`~cognito_guard.testing.devserver.stats.TokenEndpointStats`."""
    user_pool = pool or LocalUserPool(config, keys=keys, clock=clock)
    base_url = origin(public_url, "public URL")
    pool_id = user_pool.config.user_pool_id

    def known_pool(request: Request) -> bool:
        return bool(request.path_params["pool_id"] == pool_id)

    async def jwks(request: Request) -> Response:
        if not known_pool(request):
            return JSONResponse({"message": "User pool does not exist"}, status_code=404)
        return JSONResponse(user_pool.keys.jwks)

    async def openid_configuration(request: Request) -> Response:
        if not known_pool(request):
            return JSONResponse({"message": "User pool does not exist"}, status_code=404)
        return JSONResponse(user_pool.openid_configuration(base_url))

    def sign_in_form(
        request: Request, authorize: AuthorizeRequest, error: str | None = None, username: str = ""
    ) -> Response:
        """The form, tied to the browser's XSRF-TOKEN cookie (set again with every form)."""
        token = form_token(request.cookies.get(XSRF_COOKIE))
        page = sign_in_page(authorize, pool_id=pool_id, csrf_token=token, error=error, username=username)
        response = _html(page)
        secure = request.url.scheme == "https"
        response.set_cookie(XSRF_COOKIE, token, path="/", httponly=True, samesite="lax", secure=secure)
        return response

    def expired_form(form: Mapping[str, str]) -> Response:
        try:
            restart: str | None = _with_query("/oauth2/authorize", user_pool.check_authorize(form).form_fields())
        except (AuthorizePageError, RedirectError):
            restart = None
        return _html(expired_form_page(restart), 403)

    def redirect(uri: str, params: Mapping[str, str | None]) -> RedirectResponse:
        return RedirectResponse(_with_query(uri, params), status_code=302, headers=_NO_STORE)

    def checked(params: Mapping[str, str]) -> AuthorizeRequest | Response:
        try:
            return user_pool.check_authorize(params)
        except AuthorizePageError as error:
            return _html(error_page(str(error)), 400)
        except RedirectError as error:
            return redirect(error.redirect_uri, {"error": error.error, "state": error.state})

    async def authorize(request: Request) -> Response:
        try:
            params = _parameters(request.url.query)
        except (_BadParameters, ValueError):
            return _html(error_page("The request has repeated or malformed parameters."), 400)
        result = checked(params)
        if isinstance(result, Response):
            return result
        session = user_pool.state.session(request.cookies.get(SESSION_COOKIE))
        if session is None or result.prompt == "login":
            if result.prompt == "none":
                return redirect(result.redirect_uri, {"error": "login_required", "state": result.state})
            return sign_in_form(request, result)
        code = user_pool.issue_code(result, session)
        return redirect(result.redirect_uri, {"code": code, "state": result.state})

    async def login(request: Request) -> Response:
        try:
            form = await _form(request)
        except _BadParameters as error:
            return _html(error_page(f"Bad sign-in request: {error}."), 400)
        # Before anything else: a form this browser did not load from the stand-in signs nobody in (login CSRF).
        if not is_genuine_post(
            request.cookies.get(XSRF_COOKIE), form.get(CSRF_FIELD), request.headers.get("sec-fetch-site")
        ):
            return expired_form(form)
        result = checked(form)
        if isinstance(result, Response):
            return result
        user = user_pool.check_password(form.get("username", ""), form.get("password", ""))
        if user is None:
            return sign_in_form(request, result, GENERIC_SIGN_IN_ERROR, form.get("username", ""))
        user_pool.state.end_session(request.cookies.get(SESSION_COOKIE))
        session_id, session = user_pool.state.start_session(user.username)
        response = redirect(result.redirect_uri, {"code": user_pool.issue_code(result, session), "state": result.state})
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=SESSION_LIFETIME,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    async def token(request: Request) -> Response:
        try:
            form = await _form(request)
            answer = user_pool.token(form, request.headers.get("authorization"), base_url)
        except _BadParameters:
            return _oauth_error(OAuthError("invalid_request"))
        except OAuthError as error:
            return _oauth_error(error)
        return JSONResponse(answer.to_json(), headers=_NO_STORE)

    async def revoke(request: Request) -> Response:
        try:
            form = await _form(request)
            user_pool.revoke(form, request.headers.get("authorization"))
        except _BadParameters:
            return _oauth_error(OAuthError("invalid_request"))
        except OAuthError as error:
            return _oauth_error(error)
        return Response(status_code=200, headers=_NO_STORE)

    async def userinfo(request: Request) -> Response:
        try:
            info: dict[str, Any] = user_pool.userinfo(request.headers.get("authorization"), base_url)
        except OAuthError as error:
            response = _oauth_error(error)
            response.headers["WWW-Authenticate"] = f'Bearer error="{error.error}"'
            return response
        return JSONResponse(info, headers=_NO_STORE)

    user_pool_api = UserPoolApi(user_pool, base_url)

    async def cognito_api(request: Request) -> Response:
        """The Cognito JSON API (``X-Amz-Target``), as AWS SDKs call it with this app as their endpoint URL."""
        headers = {**_NO_STORE, "x-amzn-RequestId": str(uuid.uuid4())}
        try:
            body = await _body(request)
            answer = user_pool_api.call(
                request.headers.get("x-amz-target"),
                request.headers.get("content-type"),
                body,
                request.headers.get("authorization"),
            )
        except _BadParameters:
            answer, status = ApiError("SerializationException", "The request body is too large.").to_json(), 400
        except ApiError as error:
            answer, status = error.to_json(), 400
        else:
            status = 200
        return Response(json.dumps(answer), status_code=status, media_type=CONTENT_TYPE, headers=headers)

    async def stats(request: Request) -> Response:
        """Dev only, no Cognito counterpart: the token endpoint's counts (GET) or a fresh start (DELETE)."""
        if request.method == "DELETE":
            user_pool.stats.reset()
            return Response(status_code=204, headers=_NO_STORE)
        return JSONResponse(user_pool.stats.to_json(), headers=_NO_STORE)

    async def logout(request: Request) -> Response:
        try:
            params = _parameters(request.url.query)
        except (_BadParameters, ValueError):
            return _html(error_page("The request has repeated or malformed parameters."), 400)
        client = user_pool.config.clients.get(params.get("client_id", ""))
        if client is None:
            return _html(error_page("The client_id is missing or unknown."), 400)
        if "logout_uri" not in params and "redirect_uri" in params:
            # Cognito's other form: sign out, then sign in again. The authorize parameters go on to the sign-in
            # page, which checks them all again once the session is gone.
            if params["redirect_uri"] not in client.callback_urls or params.get("response_type") != "code":
                return _html(error_page("The redirect_uri is not a callback URL of this client for a code."), 400)
            target = _with_query("/oauth2/authorize", params)
        else:
            target = params.get("logout_uri", "")
            if target not in client.logout_urls:  # exact match only: no open redirect
                return _html(error_page("The logout_uri is missing or not a sign-out URL of this client."), 400)
        user_pool.state.end_session(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(target, status_code=302, headers=_NO_STORE)
        response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
        return response

    routes = [
        Route("/", cognito_api, methods=["POST"]),
        Route("/{pool_id}/.well-known/jwks.json", jwks, methods=["GET"]),
        Route("/{pool_id}/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
        Route("/oauth2/authorize", authorize, methods=["GET"]),
        Route("/login", authorize, methods=["GET"]),  # Cognito's own sign-in page URL: same parameters
        Route("/login", login, methods=["POST"]),
        Route("/oauth2/token", token, methods=["POST"]),
        Route("/oauth2/revoke", revoke, methods=["POST"]),
        Route("/oauth2/userInfo", userinfo, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["GET"]),
        Route("/_dev/stats", stats, methods=["GET", "DELETE"]),
    ]
    app = Starlette(routes=routes)
    app.state.pool = user_pool
    return app
