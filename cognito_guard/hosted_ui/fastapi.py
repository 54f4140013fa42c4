"""Hosted-UI sign-in for FastAPI apps: :class:`FastAPISignIn` is :class:`StarletteSignIn` with ``login_required``
as a dependency.

::

    sign_in = FastAPISignIn.from_env()            # COGNITO_DOMAIN, COGNITO_CLIENT_ID, ..., APP_SECRET_KEY
    app = FastAPI(lifespan=sign_in.lifespan)
    app.add_middleware(SignInMiddleware, sign_in=sign_in)
    app.include_router(sign_in.router)

    @app.get("/profile")
    async def profile(user: Annotated[SignedInUser, Depends(sign_in.login_required())]): ...
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from fastapi import APIRouter, Request

from ..guards import Match, Predicate
from ._exchange import SignedInUser
from .starlette import SignInMiddleware, SignInRefused, StarletteSignIn

__all__ = ["FastAPISignIn", "SignInMiddleware", "SignInRefused", "SignedInUser"]


class FastAPISignIn(StarletteSignIn):
    """Hosted-UI sign-in for one FastAPI app (options as :class:`StarletteSignIn`)."""

    @property
    def router(self) -> APIRouter:
        """The sign-in routes for ``app.include_router(sign_in.router)`` (left out of the OpenAPI document)."""
        router = APIRouter(include_in_schema=False)
        router.routes.extend(self.routes)
        return router

    def login_required(  # type: ignore[override]
        self,
        *,
        groups: str | Iterable[str] | None = None,
        groups_match: Match = "any",
        roles: str | Iterable[str] | None = None,
        preferred_role: str | Iterable[str] | None = None,
        predicate: Predicate | Iterable[Predicate] | None = None,
    ) -> Callable[[Request], Awaitable[SignedInUser]]:
        """A dependency giving the :class:`SignedInUser`: ``Depends(sign_in.login_required(groups="admin"))``.
        Browsers without a session are redirected to sign in, API clients get 401, a user who does not meet the
        requirement gets 403 (rendered by :class:`SignInMiddleware`, which the app must have)."""
        requirement = self._requirement(groups, groups_match, roles, preferred_role, predicate)

        async def signed_in_user(request: Request) -> SignedInUser:
            return await self._guard(request, requirement)

        return signed_in_user

    def current_user(self) -> Callable[[Request], Awaitable[SignedInUser | None]]:
        """A dependency giving the :class:`SignedInUser` or None (pages that look different when signed in)."""

        async def optional_user(request: Request) -> SignedInUser | None:
            return await self.get_user(request)

        return optional_user
