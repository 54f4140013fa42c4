"""A FastAPI API guarded by Amazon Cognito tokens, configured only from the COGNITO_* environment variables.

    COGNITO_USER_POOL_ID=us-east-1_Abc123XYZ COGNITO_CLIENT_ID=your-app-client-id uvicorn examples.fastapi_app:app

Routes (the same in examples/starlette_app.py and examples/flask_app.py):

- ``GET /health``: public.
- ``GET /me``: any valid token; who is calling.
- ``GET /orders``: needs the ``orders/read`` scope.
- ``GET /admin``: needs membership of the ``admin`` group.
- ``POST /sign-out``: any valid token; revokes the caller's sign-in (every token of it, refreshes included) and
  answers 204. From then on that token is refused on every route with 401 ``token_revoked``; 503
  ``revocation_unavailable`` if the shared list could not be written (Redis out of reach: retry).
- ``WS /ws``: any valid token (``Authorization: Bearer`` on the handshake); sends back the username.

Add ``COGNITO_JWKS_FILE=jwks.json`` to verify offline with keys from a file (e.g. ``cognito-guard dev``'s).

Sign-outs go on a revocation list kept in this process, or, with ``COGNITO_REDIS_URL=redis://host:6379/0``, shared
through Redis by every worker and host pointing at it (each keeps an in-memory copy, so checks never wait on Redis).
Operators revoke from a shell with ``cognito-guard revoke --origin-jti ID | --jti ID | --user SUB``.
"""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Response, Security, WebSocket
from fastapi.responses import JSONResponse

from cognito_guard import Claims, RevocationList, Settings
from cognito_guard.bearer import error_answer
from cognito_guard.errors import RevocationUnavailableError
from cognito_guard.fastapi import CognitoAuth

settings = Settings.from_env()  # raises ConfigurationError at import if a COGNITO_* variable is missing or invalid
revocations = RevocationList.from_env()  # one per process: the verifier consults it, /sign-out writes to it
auth = CognitoAuth(settings.verifier(revocations=revocations))
app = FastAPI(title="cognito_guard FastAPI example", lifespan=auth.lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/me")
async def me(claims: Annotated[Claims, Depends(auth)]) -> dict[str, Any]:
    return {
        "sub": claims.sub,
        "username": claims.username,
        "token_use": claims.token_use,
        "client_id": claims.client_id,
        "scopes": sorted(claims.scopes),
        "groups": list(claims.groups),
    }


@app.get("/orders")
async def orders(claims: Annotated[Claims, Security(auth, scopes=["orders/read"])]) -> dict[str, Any]:
    return {"orders": [], "for": claims.sub}


@app.get("/admin", dependencies=[Depends(auth.require(groups=["admin"]))])
async def admin() -> dict[str, str]:
    return {"admin": "welcome"}


@app.post("/sign-out", status_code=204, response_class=Response)
async def sign_out(claims: Annotated[Claims, Depends(auth)]) -> Response:
    try:
        await revocations.arevoke_claims(claims)
    except RevocationUnavailableError as error:
        # Redis is out of reach: this worker refuses the token already, the others only once Redis is back and this
        # worker has written it there. 503 with Retry-After tells the client to try again.
        answer = error_answer(error, auth.realm)
        return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)
    return Response(status_code=204)


@app.websocket("/ws")
async def ws(websocket: WebSocket, claims: Annotated[Claims, Depends(auth)]) -> None:
    # A refused handshake never gets here: the dependency closes it with 1008 before it is accepted.
    await websocket.accept()
    await websocket.send_text(claims.username or claims.sub)
    await websocket.close()
