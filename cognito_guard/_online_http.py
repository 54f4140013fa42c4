"""The online check's two questions to Cognito: which one fits a verified access token and where to ask it
(``GET /oauth2/userInfo`` on the hosted-UI domain, or the ``GetUser`` API), the exchange over bounded HTTP, and what
each answer says (live, not live and maybe revoked, or nothing usable and why). The policy around them (caching, one
request per token, deny or allow) is :mod:`cognito_guard.online`'s."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx

from ._domains import hosted_ui_base_url, user_pool_api_url
from ._http import AnswerUnusable, BoundedHTTP, Reply, Request, json_object
from ._keys import check_key_url
from .claims import Claims
from .errors import ConfigurationError

__all__ = ["ADMIN_SCOPE", "OPENID", "Answer", "Endpoint", "Endpoints", "OnlineHTTP", "check_endpoint_url"]

logger = logging.getLogger("cognito_guard.online")

OPENID = "openid"
ADMIN_SCOPE = "aws.cognito.signin.user.admin"

_GET_USER_TARGET = "AWSCognitoIdentityProviderService.GetUser"
_AMZ_JSON = "application/x-amz-json-1.1"
_INVALID_TOKEN = re.compile(r'\berror\s*=\s*"?invalid_token\b')
_ERROR_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9.]{0,63}")
# A refusal this close to exp may be Cognito's clock saying "expired": then only this token is refused, the sign-in
# family (whose refreshed tokens live on) does not go on the revocation list.
_EXPIRY_MARGIN = 60.0


class Answer(NamedTuple):
    """What Cognito said: live (True), not live (False), or nothing usable (None, and why)."""

    live: bool | None
    reason: str = ""
    revoked: bool = False  # not live because revoked, not merely expired: the sign-in goes on the revocation list


class Endpoint(NamedTuple):
    url: str
    userinfo: bool  # True: GET /oauth2/userInfo; False: the GetUser API


def check_endpoint_url(url: object, what: str) -> str:
    """``url`` checked as a GetUser endpoint (https, or http to loopback; no query, fragment or user), ending in
    ``/``. Raises :class:`ConfigurationError` naming ``what``."""
    if not isinstance(url, str):
        raise ConfigurationError(f"{what} must be a URL such as 'https://cognito-idp.us-east-1.amazonaws.com'")
    check_key_url(url, what)
    parts = urlsplit(url)
    if parts.query or parts.fragment or "@" in parts.netloc or "?" in url or "#" in url:
        raise ConfigurationError(f"{what} must be a URL without query, fragment or user: {url!r}")
    return url.rstrip("/") + "/"


class Endpoints:
    """Where to ask about a token: userInfo at ``domain`` for ``openid``, else GetUser at ``endpoint_url`` (default:
    the API of the token's issuer's region) for ``aws.cognito.signin.user.admin``.

    ``warn(kind, message, *args)`` is told when a token Cognito could answer for has nowhere to go (a setting is
    missing). Raises :class:`ConfigurationError` for a bad ``domain`` or ``endpoint_url``.
    """

    def __init__(
        self,
        *,
        domain: str | None,
        user_pool_id: str | None,
        endpoint_url: str | None,
        warn: Callable[..., None],
    ) -> None:
        base = None if domain is None else hosted_ui_base_url(domain, user_pool_id)
        self._userinfo = None if base is None else Endpoint(f"{base}/oauth2/userInfo", True)
        self._endpoint_url = None if endpoint_url is None else check_endpoint_url(endpoint_url, "endpoint_url")
        self._get_user: dict[str, Endpoint | None] = {}  # issuer -> GetUser endpoint
        self._warn = warn

    def for_token(self, claims: Claims) -> Endpoint | str:
        """The endpoint to ask about this verified token, or why it cannot be asked about."""
        if claims.get("token_use") != "access":
            return "ID tokens cannot be checked online"
        scopes = claims.scopes
        if OPENID in scopes and self._userinfo is not None:
            return self._userinfo
        if ADMIN_SCOPE in scopes:
            endpoint = self._get_user_endpoint(claims.issuer)
            if endpoint is not None:
                return endpoint
        if OPENID in scopes or ADMIN_SCOPE in scopes:
            # A token Cognito could answer for, but we were not told where: a gap in the settings, not in the token.
            self._warn(
                "endpoint",
                "online check: no endpoint for tokens of %s with scope %s (set domain= for openid, endpoint_url= for "
                "GetUser); such tokens count as uncheckable",
                claims.issuer,
                OPENID if OPENID in scopes else ADMIN_SCOPE,
            )
            return "this token cannot be checked online here"
        if claims.is_machine:
            return "client-credentials tokens cannot be checked online"
        return f"access tokens without the {OPENID} or {ADMIN_SCOPE} scope cannot be checked online"

    def _get_user_endpoint(self, issuer: str) -> Endpoint | None:
        if issuer in self._get_user:
            return self._get_user[issuer]
        url = self._endpoint_url if self._endpoint_url is not None else user_pool_api_url(issuer)
        endpoint = None if url is None else Endpoint(url, False)
        if len(self._get_user) < 64:  # one entry per pool: a handful
            self._get_user[issuer] = endpoint
        return endpoint


class OnlineHTTP:
    """Asks an endpoint about a token on ``http`` and reads the answer; never raises for what the network or Cognito
    does. ``clock`` (Unix seconds) tells a refusal of a fresh token (revoked) from one near its ``exp``."""

    def __init__(self, http: BoundedHTTP, clock: Callable[[], float]) -> None:
        self._http = http
        self._clock = clock

    def ask_sync(self, endpoint: Endpoint, token: str, claims: Claims, deadline: float) -> Answer:
        """Ask, blocking until the answer or ``deadline`` (``time.monotonic()``)."""
        try:
            reply = self._http.send_sync(_request(endpoint, token), deadline)
        except Exception as error:  # whatever went wrong, Cognito was not heard: see _failure
            return _failure(error)
        return self._read(endpoint, claims, reply)

    async def ask(self, endpoint: Endpoint, token: str, claims: Claims) -> Answer:
        """Ask without blocking the event loop, for at most ``timeout`` seconds."""
        try:
            reply = await self._http.send(_request(endpoint, token))
        except Exception as error:  # whatever went wrong, Cognito was not heard: see _failure
            return _failure(error)
        return self._read(endpoint, claims, reply)

    def close(self) -> None:
        """Close the sync HTTP client made here (not a given one)."""
        self._http.close()

    async def aclose(self) -> None:
        """Close the async HTTP client made here for the running event loop, and the sync one."""
        await self._http.aclose()

    def _read(self, endpoint: Endpoint, claims: Claims, reply: Reply) -> Answer:
        exp = claims.get("exp")
        fresh = isinstance(exp, (int, float)) and exp - self._clock() > _EXPIRY_MARGIN
        if endpoint.userinfo:
            return _read_userinfo(reply, claims, fresh)
        return _read_get_user(reply, claims, fresh)


def _request(endpoint: Endpoint, token: str) -> Request:
    if endpoint.userinfo:
        return Request("GET", endpoint.url, {"Authorization": f"Bearer {token}", "Accept": "application/json"})
    headers = {"X-Amz-Target": _GET_USER_TARGET, "Content-Type": _AMZ_JSON}
    return Request("POST", endpoint.url, headers, content=json.dumps({"AccessToken": token}).encode())


def _read_userinfo(reply: Reply, claims: Claims, fresh: bool) -> Answer:
    if reply.status == 200:
        document = json_object(reply.body)
        if document is None or document.get("sub") != claims.sub:
            return Answer(None, "userInfo answered 200 without the token's user")
        return Answer(True)
    if reply.status == 401 and _INVALID_TOKEN.search(reply.headers.get("www-authenticate", "")):
        return Answer(False, revoked=fresh)
    return Answer(None, f"userInfo answered HTTP {reply.status}")


def _read_get_user(reply: Reply, claims: Claims, fresh: bool) -> Answer:
    status, document = reply.status, json_object(reply.body)
    if status == 200:
        attributes = document.get("UserAttributes") if document is not None else None
        if not isinstance(attributes, list):  # checked first: iterating a number would crash the check
            return Answer(None, "GetUser answered 200 without the token's user")
        subs = [item.get("Value") for item in attributes if isinstance(item, dict) and item.get("Name") == "sub"]
        if subs != [claims.sub]:
            return Answer(None, "GetUser answered 200 without the token's user")
        return Answer(True)
    error = document.get("__type") if document is not None and status == 400 else None
    if not isinstance(error, str):
        return Answer(None, f"GetUser answered HTTP {status}")
    error = error.rpartition("#")[2]  # some endpoints answer "com.amazonaws...#NotAuthorizedException"
    if error in ("NotAuthorizedException", "UserNotFoundException"):
        message = document.get("message") if document is not None else None
        revoked = fresh and isinstance(message, str) and "revoked" in message.lower()
        return Answer(False, revoked=revoked)
    shown = error if _ERROR_TYPE.fullmatch(error) else "an unreadable error"
    return Answer(None, f"GetUser answered {shown}")  # TooManyRequests, InternalError, a WAF's Forbidden...


def _failure(error: Exception) -> Answer:
    """The answer for a failed exchange. Only the error's type is kept: httpx's messages may quote the request, whose
    header or body holds the token."""
    if isinstance(error, AnswerUnusable):
        return Answer(None, str(error))
    if not isinstance(error, httpx.HTTPError):  # not the network's doing: a bug, or a broken injected client
        logger.error("unexpected %s while asking Cognito about a token", type(error).__name__)
    return Answer(None, f"Cognito could not be reached ({type(error).__name__})")
