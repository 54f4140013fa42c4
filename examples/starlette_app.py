"""A Starlette API guarded by Cognito: the same routes as examples/fastapi_app.py and examples/flask_app.py.

Configured only from the environment (COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, COGNITO_TOKEN_USE, and optionally
COGNITO_ISSUER, COGNITO_JWKS_URI, COGNITO_JWKS_FILE, COGNITO_LEEWAY, COGNITO_JWKS_TTL, COGNITO_JWKS_MAX_STALE).
Run from the repository root:

    uvicorn examples.starlette_app:app

- GET /health   public
- GET /me       any valid token: who the token says you are
- GET /orders   scope orders/read
- GET /admin    group admin
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from cognito_guard import verifier_from_env
from cognito_guard.starlette import CognitoUser, cognito_authentication, cognito_lifespan, requires

verifier = verifier_from_env()  # a missing or invalid COGNITO_* variable stops the start with a clear message


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@requires()
async def me(request: Request) -> JSONResponse:
    user: CognitoUser = request.user
    claims = user.claims
    return JSONResponse(
        {
            "sub": claims.sub,
            "username": claims.username,
            "token_use": claims.token_use,
            "client_id": claims.client_id,
            "scopes": sorted(claims.scopes),
            "groups": list(claims.groups),
        }
    )


@requires("orders/read")
async def orders(request: Request) -> JSONResponse:
    return JSONResponse({"orders": [], "for": request.user.identity})


@requires(groups="admin")
async def admin(request: Request) -> JSONResponse:
    return JSONResponse({"admin": "welcome"})


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/me", me),
        Route("/orders", orders),
        Route("/admin", admin),
    ],
    middleware=[cognito_authentication(verifier)],  # request.user, request.auth.scopes; 401/503 for refused tokens
    lifespan=cognito_lifespan(verifier),  # keys fetched at start-up, HTTP clients closed at shutdown
)
