"""Hosted-UI sign-in for Flask apps: a blueprint with ``/login``, ``/callback`` and ``/logout``, and
``login_required`` for views.

::

    sign_in = FlaskSignIn.from_env()              # COGNITO_DOMAIN, COGNITO_CLIENT_ID, ..., APP_SECRET_KEY
    app.register_blueprint(sign_in.blueprint, url_prefix="/auth")

    @app.get("/admin")
    @sign_in.login_required(groups="admin")
    def admin():
        return f"hello {sign_in.current_user().username}"
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar

from flask import Blueprint, Response, after_this_request, request

from ..errors import AuthorizationError, ConfigurationError
from ..guards import Match, Predicate, require
from ._adapter import SignInAdapter
from ._exchange import SignedInUser, WebRequest, WebResponse, _Check

__all__ = ["FlaskSignIn", "SignedInUser"]

P = ParamSpec("P")
R = TypeVar("R")


def _web_request() -> WebRequest:
    # The query goes to WebRequest.from_raw as bytes: request.args raises on bytes that are not UTF-8.
    return WebRequest.from_raw(
        url=request.base_url,
        path=request.path,
        query_string=request.query_string,
        cookie_headers=request.headers.getlist("Cookie"),
        accept=request.headers.get("Accept", ""),
    )


def _to_response(answer: WebResponse) -> Response:
    response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    for name, value in answer.headers.items():
        response.headers[name] = value
    if answer.location is not None:
        response.headers["Location"] = answer.location
    for cookie in answer.set_cookies:
        response.headers.add("Set-Cookie", cookie)
    return response


class FlaskSignIn(SignInAdapter):
    """Hosted-UI sign-in for a Flask app (options: :class:`~cognito_guard.hosted_ui._adapter.SignInAdapter`; register
    :attr:`blueprint` with ``url_prefix=sign_in.prefix``): :meth:`login_required` and :meth:`current_user`."""

    @property
    def _request_key(self) -> str:
        return f"cognito_guard.sign_in.{id(self)}"

    @property
    def blueprint(self) -> Blueprint:
        """``app.register_blueprint(sign_in.blueprint, url_prefix=sign_in.prefix)``."""
        blueprint = Blueprint("cognito_sign_in", __name__)
        blueprint.add_url_rule("/login", "login", lambda: _to_response(self.web.login(_web_request())))
        blueprint.add_url_rule("/callback", "callback", lambda: _to_response(self.web.callback_sync(_web_request())))
        blueprint.add_url_rule(
            "/logout",
            "logout",
            lambda: _to_response(self.web.logout_sync(_web_request())),
            methods=["GET", "POST"],
        )
        return blueprint

    def _check(self) -> _Check:
        # The check is kept in the WSGI environ, which belongs to this one request. Not on flask.g: g lives as long as
        # the app context, and an app context pushed outside a request (at import, in a test, by a CLI command) is
        # reused by every request on that thread, so one visitor's session would answer for the next visitors.
        environ = request.environ
        check: _Check | None = environ.get(self._request_key)
        if check is None:
            check = self.web.check_sync(_web_request())
            environ[self._request_key] = check
            if check.set_cookies:
                cookies = check.set_cookies

                def add_cookies(response: Response) -> Response:
                    # A refreshed session cookie must not be stored by a shared cache and served to someone else.
                    response.headers["Cache-Control"] = "private, no-store"
                    for cookie in cookies:
                        response.headers.add("Set-Cookie", cookie)
                    return response

                after_this_request(add_cookies)

        return check

    def current_user(self) -> SignedInUser | None:
        """The signed-in user of the current request, or None (tokens are refreshed when needed)."""
        return self._check().user

    def login_required(
        self,
        *,
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
        """Decorate a view: browsers without a session are redirected to sign in (``next`` = this page), API clients
        get 401, a signed-in user who does not meet the requirement gets 403. :meth:`current_user` gives the user.

        Raises :class:`ConfigurationError` for an async predicate (Flask views are sync)."""
        requirement = require(
            groups=groups, groups_match=groups_match, roles=roles, preferred_role=preferred_role, predicate=predicate
        )
        if requirement.is_async:
            raise ConfigurationError("Flask's login_required needs sync predicates")

        def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
            @functools.wraps(view)
            def guarded(*args: P.args, **kwargs: P.kwargs) -> R | Response:
                check = self._check()
                web = _web_request()
                if check.unavailable is not None:
                    return _to_response(self.web.unavailable(web, check.unavailable))
                if check.user is None:
                    return _to_response(self.web.unauthenticated(web))
                try:
                    requirement.check(check.user.claims)
                except AuthorizationError as error:
                    return _to_response(self.web.forbidden(web, error))
                return view(*args, **kwargs)

            return guarded

        return decorator
