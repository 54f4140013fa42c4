"""The web side of a hosted-UI sign-in, without a web framework: requests and answers as plain data.

:class:`WebSignIn` runs the three routes (``/login``, ``/callback``, ``/logout``) and the per-request session check
(with transparent refresh) for every adapter; the Starlette/FastAPI and Flask modules only translate their request and
response objects. I/O happens in the ``*_async`` methods (Starlette, FastAPI) or their sync twins (Flask).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

from .. import _token
from ..claims import Claims
from ..errors import (
    AuthorizationError,
    CognitoGuardError,
    ConfigurationError,
    ExpiredTokenError,
    HostedUIUnavailableError,
    OAuthError,
    RevocationUnavailableError,
    ServiceUnavailableError,
    SignInError,
    TokenError,
)
from ..revocation import InvalidRevocationError, RevocationList
from ._client import HostedUIClient, PendingSignIn, TokenSet
from ._exchange import (
    SignedInUser,
    WebRequest,
    WebResponse,
    _Check,
    _page,
    _shown,
    safe_next_path,
)
from ._refresh_sharing import RefreshSharing
from ._session import CookieSettings, PendingSignIns, Sealer, Sessions, SessionStore
from ._stored_refresh import StoredRefresh

__all__ = ["WebSignIn"]

logger = logging.getLogger("cognito_guard.hosted_ui")

_DEFAULT_COOKIE_NAME = CookieSettings().name


def _session_claims(tokens: TokenSet) -> list[dict[str, Any]]:
    """The claims of a session's ID and access tokens, read without verification: the session is sealed by us, and
    these claims only name what to revoke. Both tokens share ``origin_jti`` (one record); without it each has its
    own ``jti``."""
    found: list[dict[str, Any]] = []
    for token in (tokens.id_token, tokens.access_token):
        if not token:
            continue
        try:
            found.append(_token.decode_json_object(_token.split(token, 64 * 1024)[1], "payload"))
        except TokenError:
            continue
    families = {claims.get("origin_jti") for claims in found}
    return found[:1] if len(families) == 1 and None not in families else found


class WebSignIn:
    """Sign-in routes and session checks for one app, shared by every framework adapter.

    ``client``: the :class:`HostedUIClient`. ``sessions`` / ``pending``: where the signed-in state and the sign-ins in
    progress live. ``login_path``: this app's login route (where browsers without a session are sent, with ``next``).
    ``after_logout``: the local page to land on when no Cognito sign-out URL is configured. ``revoke_on_logout``:
    revoke the refresh token at Cognito when signing out (default True).
    """

    def __init__(
        self,
        client: HostedUIClient,
        *,
        sessions: Sessions,
        pending: PendingSignIns,
        login_path: str = "/auth/login",
        after_logout: str = "/",
        revoke_on_logout: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if safe_next_path(login_path, "") != login_path or safe_next_path(after_logout, "") != after_logout:
            raise ConfigurationError("login_path and after_logout must be local paths such as '/auth/login'")
        self.client = client
        self.sessions = sessions
        self.pending = pending
        self.login_path = login_path
        self.after_logout = after_logout
        self.revoke_on_logout = revoke_on_logout
        self._clock = clock
        self._sharing = RefreshSharing(clock)
        store = sessions.store
        # Store-backed sessions refresh once per session across every worker sharing the store; a store that waits
        # on the network (Redis) is called from worker threads by async apps, never from the event loop.
        self._stored_refresh = None if store is None else StoredRefresh(sessions, client, clock=clock)
        self._offload = store is not None and getattr(store, "blocking", True)

    @classmethod
    def build(
        cls,
        client: HostedUIClient,
        *,
        secret_key: str | bytes | Sequence[str | bytes],
        prefix: str = "/auth",
        store: SessionStore | None = None,
        cookie: CookieSettings | None = None,
        after_logout: str = "/",
        revoke_on_logout: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> WebSignIn:
        """What every adapter builds: sessions sealed with ``secret_key`` (newest first), routes under ``prefix``.

        Cookies are ``Secure`` when the client's redirect URI is https (not per request: behind a proxy the app may
        see plain http). Pending sign-ins always live in their own cookies, never in ``store``: anonymous visitors
        must not be able to fill a store and push signed-in users' sessions out of it.
        Raises :class:`ConfigurationError` on a bad prefix, secret or cookie setting.
        """
        if not prefix.startswith("/") or prefix.endswith("/") or safe_next_path(prefix, "") != prefix:
            raise ConfigurationError(f"prefix must be a path such as '/auth' (no trailing '/'): {prefix!r}")
        settings = cookie or CookieSettings()
        if settings.secure is None:
            settings = dataclasses.replace(settings, secure=urlsplit(client.redirect_uri).scheme == "https")
        if (
            settings.secure
            and settings.name == _DEFAULT_COOKIE_NAME
            and settings.domain is None
            and settings.path == "/"
        ):
            # On https the default session cookie is __Host-: only this host can set it, so a sibling subdomain can
            # neither plant a session of its own account nor a second copy next to the user's.
            settings = dataclasses.replace(settings, name=f"__Host-{_DEFAULT_COOKIE_NAME}")
        sealer = Sealer(secret_key, clock=clock)
        return cls(
            client,
            sessions=Sessions(sealer, cookie=settings, store=store, clock=clock),
            pending=PendingSignIns(sealer, path=prefix, secure=settings.secure, finished_store=store, clock=clock),
            login_path=f"{prefix}/login",
            after_logout=after_logout,
            revoke_on_logout=revoke_on_logout,
            clock=clock,
        )

    # --- /login ---------------------------------------------------------------------------------------------------

    def login(self, request: WebRequest) -> WebResponse:
        """Start a sign-in: remember a pending sign-in (by ``state``) and redirect to the hosted UI."""
        next_path = safe_next_path(request.query.get("next"))
        authorization = self.client.authorization_request(next_path=next_path)
        try:
            cookies = self.pending.start(
                authorization.pending.state,
                authorization.pending.to_dict(),
                request_cookies=request.cookies,
                request_url=request.url,
            )
        except ValueError:  # too large for its cookie: give up on `next` rather than on the sign-in
            authorization = self.client.authorization_request()
            cookies = self.pending.start(
                authorization.pending.state,
                authorization.pending.to_dict(),
                request_cookies=request.cookies,
                request_url=request.url,
            )
        return WebResponse(302, location=authorization.url, set_cookies=cookies)

    # --- /callback ------------------------------------------------------------------------------------------------

    def _take_pending(self, request: WebRequest) -> tuple[PendingSignIn | None, list[str], WebResponse | None]:
        state = request.query.get("state", "")
        try:
            data, cookies = (
                self.pending.finish(state, request_cookies=request.cookies, request_url=request.url)
                if state
                else (None, [])
            )
        except ServiceUnavailableError as error:  # the store that makes sign-ins single-use is out of reach
            return None, [], self._callback_error(error, [])
        if data is None:
            if "error" in request.query:
                return None, cookies, self._callback_error(self._oauth_error(request), cookies)
            failure = _page(
                "Sign-in expired",
                "This sign-in is unknown, expired or already finished. Please sign in again.",
                (self.login_path, "Sign in"),
            )
            return None, cookies, WebResponse(400, body=failure, set_cookies=cookies)
        try:
            return PendingSignIn.from_dict(data), cookies, None
        except SignInError as error:
            return None, cookies, self._callback_error(error, cookies)

    @staticmethod
    def _oauth_error(request: WebRequest) -> OAuthError:
        error = request.query.get("error", "")
        return OAuthError(f"the hosted UI refused the sign-in: {_shown(error)}", error=error)

    def _callback_error(self, error: CognitoGuardError, cookies: list[str]) -> WebResponse:
        status = 503 if isinstance(error, ServiceUnavailableError) else 400
        detail = f"{error.code}: {_shown(error.error)}" if isinstance(error, OAuthError) else error.code
        body = _page(
            "Sign-in failed", f"The sign-in could not be completed ({detail}).", (self.login_path, "Try again")
        )
        return WebResponse(status, body=body, set_cookies=cookies)

    def _signed_in(
        self, request: WebRequest, tokens: TokenSet, pending: PendingSignIn, cookies: list[str]
    ) -> WebResponse:
        try:
            cookies = cookies + self.sessions.save(
                {"tokens": tokens.to_dict(), "signed_in_at": self._clock()},
                request_cookies=request.cookies,
                request_url=request.url,
                renew=True,  # a new session id at sign-in: a planted one must not become the victim's (fixation)
            )
        except ValueError:
            logger.error("a signed-in session is too large for cookies: give the sign-in a SessionStore")
            body = _page("Sign-in failed", "The session is too large for this app's cookies (use a SessionStore).")
            return WebResponse(500, body=body, set_cookies=cookies)
        except ServiceUnavailableError as error:  # the session store is out of reach: nothing was signed in
            return self._callback_error(error, cookies)
        return WebResponse(302, location=safe_next_path(pending.next_path), set_cookies=cookies)

    async def callback_async(self, request: WebRequest) -> WebResponse:
        """Finish a sign-in: check ``state``, exchange the code, verify the ID token, start the session."""
        if self._offload:
            return await asyncio.to_thread(self.callback_sync, request)
        pending, cookies, failure = self._take_pending(request)
        if failure is not None or pending is None:
            return failure or WebResponse(400)
        try:
            code = self.client.check_callback(request.query, pending)
            tokens, _claims = await self.client.exchange_code(code, pending)
        except (SignInError, TokenError, ServiceUnavailableError) as error:
            return self._callback_error(error, cookies)
        return self._signed_in(request, tokens, pending, cookies)

    def callback_sync(self, request: WebRequest) -> WebResponse:
        """:meth:`callback_async` for sync frameworks."""
        pending, cookies, failure = self._take_pending(request)
        if failure is not None or pending is None:
            return failure or WebResponse(400)
        try:
            code = self.client.check_callback(request.query, pending)
            tokens, _claims = self.client.exchange_code_sync(code, pending)
        except (SignInError, TokenError, ServiceUnavailableError) as error:
            return self._callback_error(error, cookies)
        return self._signed_in(request, tokens, pending, cookies)

    # --- /logout --------------------------------------------------------------------------------------------------

    def _end_sessions(self, request: WebRequest) -> tuple[list[str], list[dict[str, Any]]]:
        """Forget every session the request's cookies open (one, unless a cookie came twice): its stored entry, and
        any refresh of it under way or just done (see ``_SIGNED_OUT_SECONDS``). Returns the refresh tokens to
        revoke at Cognito and the claims of the sessions' tokens to put on the revocation list."""
        readings = list(request.cookie_readings(self.sessions.cookie_names))
        found = [tokens for tokens in (self._tokens(self.sessions.load(reading)) for reading in readings) if tokens]
        refresh_tokens = list(dict.fromkeys(tokens.refresh_token for tokens in found if tokens.refresh_token))
        revoked = [claims for tokens in found for claims in _session_claims(tokens)] if self._revocations else []
        # The marks go first: a refresh finishing between them and the stored entry's deletion finds the mark after
        # saving (see _after_refresh), and one finishing later saves before the deletion.
        self._sharing.mark_signed_out(self._sharing.key_of(token) for token in refresh_tokens)
        for reading in readings:
            self.sessions.forget(reading)
        return (refresh_tokens if self.revoke_on_logout else []), revoked

    def _logout_response(self, request: WebRequest) -> WebResponse:
        cookies = self.sessions.deletions(request_cookies=request.cookies, request_url=request.url)
        location = self.client.logout_url() if self.client.logout_uri else self.after_logout
        return WebResponse(302, location=location, set_cookies=cookies)

    @staticmethod
    def _logout_unavailable(request: WebRequest, error: ServiceUnavailableError) -> WebResponse:
        """The stored session could not be ended: say so, and keep the cookie so that a retry can end it (clearing
        only the browser's copy would leave the session usable by any copy of the cookie)."""
        if request.wants_html:
            body = _page("Sign-out unavailable", "You are still signed in. Please try signing out again in a moment.")
            return WebResponse(503, body=body)
        return WebResponse(
            503, body=json.dumps({"detail": error.message, "code": error.code}), content_type="application/json"
        )

    async def logout_async(self, request: WebRequest) -> WebResponse:
        """Sign out: put the session's sign-in on the revocation list (if any), revoke the refresh token at Cognito
        (best effort), clear the session, go to Cognito's ``/logout``."""
        if self._offload:
            return await asyncio.to_thread(self.logout_sync, request)
        try:
            refresh_tokens, revoked = self._end_sessions(request)
        except ServiceUnavailableError as error:
            return self._logout_unavailable(request, error)
        for claims in revoked:
            # Recorded even when Redis is down: this process enforces it and writes it back once Redis is there.
            with contextlib.suppress(RevocationUnavailableError, InvalidRevocationError):
                await self._revocations.arevoke_claims(claims)  # type: ignore[union-attr]
        for refresh_token in refresh_tokens:
            # Signing out locally must not depend on Cognito answering; an unrevoked token still expires on its own.
            with contextlib.suppress(SignInError, HostedUIUnavailableError):
                await self.client.revoke(refresh_token)
        return self._logout_response(request)

    def logout_sync(self, request: WebRequest) -> WebResponse:
        """:meth:`logout_async` for sync frameworks."""
        try:
            refresh_tokens, revoked = self._end_sessions(request)
        except ServiceUnavailableError as error:
            return self._logout_unavailable(request, error)
        for claims in revoked:
            with contextlib.suppress(RevocationUnavailableError, InvalidRevocationError):  # as in logout_async
                self._revocations.revoke_claims(claims)  # type: ignore[union-attr]
        for refresh_token in refresh_tokens:
            with contextlib.suppress(SignInError, HostedUIUnavailableError):  # as in logout_async
                self.client.revoke_sync(refresh_token)
        return self._logout_response(request)

    @property
    def _revocations(self) -> RevocationList | None:
        return self.client.verifier.revocations

    # --- the session of a request ---------------------------------------------------------------------------------

    @staticmethod
    def _tokens(data: Mapping[str, Any] | None) -> TokenSet | None:
        if data is None or not isinstance(data.get("tokens"), Mapping):
            return None
        try:
            tokens = TokenSet.from_dict(data["tokens"])
        except SignInError:
            return None
        return tokens if tokens.id_token else None

    def _save(self, request: WebRequest, data: Mapping[str, Any], tokens: TokenSet) -> list[str]:
        try:
            return self.sessions.save(
                {**data, "tokens": tokens.to_dict()}, request_cookies=request.cookies, request_url=request.url
            )
        except ValueError:  # this request still gets the user; the next one refreshes again
            logger.error("a refreshed session is too large for cookies: give the sign-in a SessionStore")
            return []

    def _signed_out(self, request: WebRequest) -> _Check:
        return _Check(None, self._clear(request))

    def _clear(self, request: WebRequest) -> list[str]:
        """Deletions of the request's session cookies (and its stored entry; if the store is out of reach, the entry
        is left to expire: the browser is signed out either way)."""
        try:
            return self.sessions.clear(request_cookies=request.cookies, request_url=request.url)
        except ServiceUnavailableError:
            logger.warning("signed out without deleting the stored session: the session store is out of reach")
            return self.sessions.deletions(request_cookies=request.cookies, request_url=request.url)

    async def check_async(self, request: WebRequest) -> _Check:
        """Who is signed in on this request: verify the session's ID token, refreshing expired tokens (one refresh
        at a time per session). A session that cannot be verified or refreshed is cleared."""
        if self._offload:
            return await asyncio.to_thread(self.check_sync, request)
        tokens = self._tokens(self.sessions.load(request.cookies))
        if tokens is None:
            return _Check(None)
        if not tokens.expired(self._clock()):
            try:
                claims = await self.client.verify_id_token(tokens.id_token or "")
                return _Check(SignedInUser(claims, tokens))
            except ServiceUnavailableError as error:
                return _Check(None, unavailable=error)
            except ExpiredTokenError:
                pass
            except TokenError:
                return self._signed_out(request)
        if not tokens.refresh_token:
            return self._signed_out(request)
        key = self._sharing.key_of(tokens.refresh_token)
        try:
            async with self._sharing.task_lock(key):
                refreshed = self._sharing.recall(key)
                if refreshed is None:
                    refreshed = self._sharing.remember(key, await self._refresh_async(tokens.refresh_token))
        except ServiceUnavailableError as error:
            return _Check(None, unavailable=error)
        except (SignInError, TokenError):
            return self._signed_out(request)
        return self._after_refresh(request, key, *refreshed)

    async def _refresh_async(self, refresh_token: str) -> tuple[TokenSet, Claims | None] | CognitoGuardError:
        try:
            return await self.client.refresh(refresh_token)
        except (SignInError, TokenError, ServiceUnavailableError) as error:
            return error

    def check_sync(self, request: WebRequest) -> _Check:
        """:meth:`check_async` for sync frameworks (a thread lock per session)."""
        if self._stored_refresh is not None:
            return self._check_stored(request, self._stored_refresh)
        tokens = self._tokens(self.sessions.load(request.cookies))
        if tokens is None:
            return _Check(None)
        answer = self._without_refresh(request, tokens)
        if answer is not None or tokens.refresh_token is None:  # (no refresh token: answered signed out)
            return answer or self._signed_out(request)
        key = self._sharing.key_of(tokens.refresh_token)
        try:
            with self._sharing.thread_lock(key):
                refreshed = self._sharing.recall(key)
                if refreshed is None:
                    refreshed = self._sharing.remember(key, self._refresh_sync(tokens.refresh_token))
        except ServiceUnavailableError as error:
            return _Check(None, unavailable=error)
        except (SignInError, TokenError):
            return self._signed_out(request)
        return self._after_refresh(request, key, *refreshed)

    def _without_refresh(self, request: WebRequest, tokens: TokenSet) -> _Check | None:
        """The answer for a session whose tokens need no refresh (or cannot have one); None: refresh them."""
        if not tokens.expired(self._clock()):
            try:
                claims = self.client.verify_id_token_sync(tokens.id_token or "")
                return _Check(SignedInUser(claims, tokens))
            except ServiceUnavailableError as error:
                return _Check(None, unavailable=error)
            except ExpiredTokenError:
                pass
            except TokenError:
                return self._signed_out(request)
        return None if tokens.refresh_token else self._signed_out(request)

    def _check_stored(self, request: WebRequest, refresher: StoredRefresh) -> _Check:
        """The session check with a store: the tokens live there, and an expired session is refreshed once across
        every worker sharing the store (see :mod:`._stored_refresh`); threads of this worker queue on a lock first."""
        try:
            session = self.sessions.load_stored(request.cookies)
        except ServiceUnavailableError as error:
            return _Check(None, unavailable=error)
        tokens = None if session is None else self._tokens(session.data)
        if session is None or tokens is None:
            return _Check(None)
        answer = self._without_refresh(request, tokens)
        if answer is not None:
            return answer
        try:
            with self._sharing.thread_lock(("stored", session.session_id)):
                fresh, claims = refresher.refresh(session)
        except ServiceUnavailableError as error:
            return _Check(None, unavailable=error)
        except (SignInError, TokenError):
            return self._signed_out(request)
        return _Check(SignedInUser(claims, fresh))

    def _refresh_sync(self, refresh_token: str) -> tuple[TokenSet, Claims | None] | CognitoGuardError:
        try:
            return self.client.refresh_sync(refresh_token)
        except (SignInError, TokenError, ServiceUnavailableError) as error:
            return error

    def _after_refresh(self, request: WebRequest, key: str, tokens: TokenSet, claims: Claims | None) -> _Check:
        data = self.sessions.load(request.cookies)
        # No ID token in the answer (a session needs one), or the stored session is gone: signed out meanwhile,
        # perhaps by another worker sharing the store.
        if claims is None or data is None:
            return self._signed_out(request)
        cookies = self._save(request, data, tokens)
        if self._sharing.was_signed_out(key):  # a sign-out in another thread between the load and the save: it stands
            return self._signed_out(request)
        return _Check(SignedInUser(claims, tokens), cookies)

    # --- refusing a request ---------------------------------------------------------------------------------------

    def unauthenticated(self, request: WebRequest) -> WebResponse:
        """No session: browsers go to the login route (``next`` = this page), API clients get 401."""
        if request.wants_html:
            location = f"{self.login_path}?next={quote(safe_next_path(request.path_with_query), safe='')}"
            return WebResponse(302, location=location)
        body = json.dumps({"detail": "sign in first", "code": "not_authenticated"})
        return WebResponse(401, body=body, content_type="application/json")

    @staticmethod
    def forbidden(request: WebRequest, error: AuthorizationError) -> WebResponse:
        """Signed in but not allowed: 403, a page for browsers and JSON for API clients."""
        if request.wants_html:
            return WebResponse(403, body=_page("Forbidden", f"You are signed in but not allowed here ({error.code})."))
        return WebResponse(
            403, body=json.dumps({"detail": error.message, "code": error.code}), content_type="application/json"
        )

    @staticmethod
    def unavailable(request: WebRequest, error: ServiceUnavailableError) -> WebResponse:
        """The hosted UI (to refresh) or the JWKS (to verify) could not be reached: 503, the session is kept."""
        if request.wants_html:
            return WebResponse(503, body=_page("Sign-in unavailable", "Please try again in a moment."))
        return WebResponse(
            503, body=json.dumps({"detail": error.message, "code": error.code}), content_type="application/json"
        )
