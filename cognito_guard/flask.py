"""Flask adapter: the ``CognitoGuard`` extension, its ``required``/``optional`` view decorators and ``current_claims``.

::

    app = Flask(__name__)
    guard = CognitoGuard(app)  # COGNITO_* from app.config, falling back to the environment


    @app.get("/orders")
    @guard.required(scopes="orders/read")
    def orders():
        return {"user": current_claims.username}

Tokens are checked with :meth:`CognitoVerifier.verify_sync` (no event loop); one verifier per app is shared by every
request and thread. With ``verifier=AlbVerifier(...)`` the guard reads the ``x-amzn-oidc-*`` headers an Application
Load Balancer adds instead of ``Authorization``. Refusals are the same JSON 401/403/503 answers as every cognito_guard
adapter (see :mod:`cognito_guard.bearer`), raised as werkzeug ``HTTPException`` s so ``@app.errorhandler(401)`` can
restyle them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar, cast, overload

from flask import Flask, current_app, g, has_request_context, request
from werkzeug.exceptions import HTTPException, default_exceptions
from werkzeug.local import LocalProxy

from .alb import AlbVerifier
from .bearer import (
    DEFAULT_REALM,
    ErrorAnswer,
    bearer_token,
    check_realm,
    error_answer,
    single_authorization,
    unauthenticated_answer,
)
from .claims import Claims
from .config import Settings
from .errors import CognitoGuardError, ConfigurationError
from .guards import Match, Predicate, Requirement, require
from .verifier import CognitoVerifier

__all__ = ["CognitoGuard", "current_claims", "get_current_claims", "settings_from_config"]

P = ParamSpec("P")
R = TypeVar("R")

_EXTENSION = "cognito_guard"
_CLAIMS = "_cognito_guard_claims"  # attribute of flask.g holding the request's Claims (None: optional, no token)
_SOURCE = "Flask app.config or the environment"


def settings_from_config(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Settings:
    """The ``COGNITO_*`` settings of a Flask app: each name from ``config``, else from ``environ`` (``os.environ``).

    A name set to ``None`` in ``config`` counts as absent. ``COGNITO_CLIENT_ID`` may be a list, ``COGNITO_LEEWAY`` a
    number and ``COGNITO_JWKS_FILE`` a path. Raises :class:`ConfigurationError` naming a missing or invalid variable.
    """
    return Settings.from_mapping(config, source=_SOURCE, fallback=os.environ if environ is None else environ)


@dataclass(frozen=True)
class _AppState:
    verifier: CognitoVerifier | AlbVerifier
    realm: str


def _refusal(answer: ErrorAnswer) -> HTTPException:
    """The werkzeug exception (401 -> Unauthorized...) carrying the shared JSON answer as its response."""
    response = current_app.json.response(answer.body)
    response.status_code = answer.status
    response.headers.update(answer.headers)
    exception_class = default_exceptions.get(answer.status, HTTPException)
    return exception_class(description=answer.body.get("detail"), response=response)


def _forget_claims(error: BaseException | None) -> None:
    # flask.g lives as long as the app context, which a test or CLI command may keep across several requests: the
    # claims must end with their request.
    g.pop(_CLAIMS, None)


class CognitoGuard:
    """Flask extension guarding views with Cognito tokens: ``CognitoGuard(app)`` or ``guard.init_app(app)``.

    ``verifier``: use this :class:`CognitoVerifier` for every app instead of building one from the ``COGNITO_*``
    settings (see :func:`settings_from_config`); an :class:`AlbVerifier` verifies the headers an Application Load
    Balancer adds (``x-amzn-oidc-data``...) instead of bearer tokens. ``realm``: the ``realm`` of ``WWW-Authenticate``
    challenges.

    Raises :class:`ConfigurationError` (at construction / ``init_app``) on missing or invalid settings.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        verifier: CognitoVerifier | AlbVerifier | None = None,
        realm: str = DEFAULT_REALM,
    ) -> None:
        check_realm(realm)
        if verifier is not None and not isinstance(verifier, (CognitoVerifier, AlbVerifier)):
            raise ConfigurationError("verifier must be a CognitoVerifier or an AlbVerifier")
        self.realm = realm
        self._verifier = verifier
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Build (or take) the app's verifier once; every request of ``app`` shares it.

        Raises :class:`ConfigurationError` naming the ``COGNITO_*`` setting that is missing or invalid.
        """
        verifier = self._verifier if self._verifier is not None else settings_from_config(app.config).verifier()
        app.extensions.setdefault(_EXTENSION, {})[self] = _AppState(verifier, self.realm)
        app.teardown_request(_forget_claims)

    def verifier_for(self, app: Flask | None = None) -> CognitoVerifier | AlbVerifier:
        """The verifier serving ``app`` (default: the current app), e.g. to call ``warm_up_sync()`` at start-up.

        Raises :class:`RuntimeError` if :meth:`init_app` was not called for that app.
        """
        return self._state(app).verifier

    def _state(self, app: Flask | None = None) -> _AppState:
        extensions = (current_app if app is None else app).extensions
        state: _AppState | None = extensions.get(_EXTENSION, {}).get(self)
        if state is None:
            raise RuntimeError("CognitoGuard.init_app(app) was not called for this Flask app")
        return state

    # -- decorators ---------------------------------------------------------------------------------------------------
    @overload
    def required(self, view: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def required(
        self,
        view: None = None,
        /,
        *,
        scopes: str | Iterable[str] | None = None,
        scopes_match: Match = "all",
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def required(
        self,
        view: Callable[P, R] | None = None,
        /,
        *,
        scopes: str | Iterable[str] | None = None,
        scopes_match: Match = "all",
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
        """Guard a view: a valid bearer token is required, plus the given requirements (see :func:`require`).

        ``@guard.required`` (any valid token) or ``@guard.required(scopes=..., groups=...)``, placed *below*
        ``@app.route``. No token -> 401, refused token -> 401 ``invalid_token``, requirement not met -> 403, no keys ->
        503. Predicates must be synchronous: an async one raises :class:`ConfigurationError` here, at decoration time.
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
        if requirement.is_async:
            raise ConfigurationError("Flask views check requirements synchronously: use a plain (non-async) predicate")
        decorate = self._decorator(requirement, optional=False)
        return decorate if view is None else decorate(view)

    @overload
    def optional(self, view: Callable[P, R], /) -> Callable[P, R]: ...

    @overload
    def optional(self, view: None = None, /) -> Callable[[Callable[P, R]], Callable[P, R]]: ...

    def optional(
        self, view: Callable[P, R] | None = None, /
    ) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
        """Guard a view that also serves anonymous callers: ``@guard.optional``.

        No bearer token -> the view runs and :func:`get_current_claims` returns ``None``; a token that is presented
        must still be valid (else 401, or 503 without keys).
        """
        decorate = self._decorator(Requirement(), optional=True)
        return decorate if view is None else decorate(view)

    def _decorator(self, requirement: Requirement, *, optional: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
        def decorate(view: Callable[P, R]) -> Callable[P, R]:
            if not callable(view):
                raise ConfigurationError("pass requirements as keywords: @guard.required(scopes=...), not positionally")

            @functools.wraps(view)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
                self._authenticate(requirement, optional=optional)
                # ensure_sync: an async view (flask[async]) is run to completion, as Flask asks of extensions.
                result: R = current_app.ensure_sync(view)(*args, **kwargs)
                return result

            return guarded

        return decorate

    def _authenticate(self, requirement: Requirement, *, optional: bool) -> None:
        """Verify the request's bearer token and store its claims on ``flask.g``; raise the refusal otherwise."""
        state = self._state()
        try:
            verifier = state.verifier
            claims: Claims | None
            if isinstance(verifier, AlbVerifier):
                claims = verifier.verify_headers_sync(request.headers.getlist)
            else:
                token = bearer_token(single_authorization(request.headers.getlist("Authorization")))
                claims = None if token is None else verifier.verify_sync(token)
            if claims is None:
                if optional:
                    setattr(g, _CLAIMS, None)
                    return
                raise _refusal(unauthenticated_answer(state.realm))
            if requirement:
                requirement.check(claims)
        except CognitoGuardError as error:
            raise _refusal(error_answer(error, state.realm)) from error
        setattr(g, _CLAIMS, claims)


def get_current_claims() -> Claims | None:
    """The verified :class:`Claims` of the current request; ``None`` when there are none.

    ``None`` in an ``@guard.optional`` view called without a token, in an unguarded view, or outside a request.
    """
    if not has_request_context():
        return None
    claims: Claims | None = g.get(_CLAIMS)
    return claims


def _claims_of_guarded_view() -> Claims | None:
    if not has_request_context() or _CLAIMS not in g:
        raise RuntimeError("current_claims is only set inside a view decorated with guard.required or guard.optional")
    claims: Claims | None = g.get(_CLAIMS)
    return claims


current_claims: Claims = cast(Claims, LocalProxy(_claims_of_guarded_view))
"""The verified :class:`Claims` of the current request, in a view decorated with ``guard.required``.

A :class:`werkzeug.local.LocalProxy`: it is never ``None`` itself, so in ``guard.optional`` views test it with
``if current_claims:`` or call :func:`get_current_claims`. Outside a guarded view, using it raises ``RuntimeError``.
"""
