"""A Starlette API guarded by Cognito: the same routes as examples/fastapi_app.py and examples/flask_app.py.

Configured only from the environment (COGNITO_USER_POOL_ID, COGNITO_CLIENT_ID, COGNITO_TOKEN_USE, and optionally
COGNITO_ISSUER, COGNITO_JWKS_URI, COGNITO_JWKS_FILE, COGNITO_LEEWAY, COGNITO_JWKS_TTL, COGNITO_JWKS_MAX_STALE,
COGNITO_REDIS_URL). Run from the repository root:

    uvicorn examples.starlette_app:app

- GET /health     public
- GET /me         any valid token: who the token says you are
- GET /orders     scope orders/read
- GET /admin      group admin
- POST /sign-out  any valid token: revokes the caller's sign-in (every token of it, refreshes included), answers 204;
                  that token then gets 401 token_revoked on every route. 503 revocation_unavailable if the shared
                  list could not be written (Redis out of reach: retry).

Sign-outs go on a revocation list kept in this process, or, with COGNITO_REDIS_URL=redis://host:6379/0, shared
through Redis by every worker and host pointing at it (each keeps an in-memory copy, so checks never wait on Redis).
Operators revoke from a shell with `cognito-guard revoke --origin-jti ID | --jti ID | --user SUB`.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from cognito_guard import RevocationList, Settings
from cognito_guard.bearer import DEFAULT_REALM, error_answer
from cognito_guard.errors import RevocationUnavailableError
from cognito_guard.starlette import CognitoUser, cognito_authentication, cognito_lifespan, requires

settings = Settings.from_env()  # a missing or invalid COGNITO_* variable stops the start with a clear message
revocations = RevocationList.from_env()  # one per process: the verifier consults it, /sign-out writes to it
verifier = settings.verifier(revocations=revocations)


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


@requires()
async def sign_out(request: Request) -> Response:
    user: CognitoUser = request.user
    try:
        await revocations.arevoke_claims(user.claims)
    except RevocationUnavailableError as error:
        # Redis is out of reach: this worker refuses the token already, the others only once Redis is back and this
        # worker has written it there. 503 with Retry-After tells the client to try again.
        answer = error_answer(error, DEFAULT_REALM)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)
    return Response(status_code=204)


app = Starlette(
    routes=[
        Route("/health", health),
        Route("/me", me),
        Route("/orders", orders),
        Route("/admin", admin),
        Route("/sign-out", sign_out, methods=["POST"]),
    ],
    middleware=[cognito_authentication(verifier)],  # request.user, request.auth.scopes; 401/503 for refused tokens
    lifespan=cognito_lifespan(verifier),  # keys fetched at start-up, HTTP clients closed at shutdown
)
