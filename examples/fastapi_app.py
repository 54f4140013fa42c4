"""A FastAPI API guarded by Amazon Cognito tokens, configured only from the COGNITO_* environment variables.

    COGNITO_USER_POOL_ID=us-east-1_Abc123XYZ COGNITO_CLIENT_ID=your-app-client-id uvicorn examples.fastapi_app:app

Routes (the same in examples/starlette_app.py and examples/flask_app.py):

- ``GET /health``: public.
- ``GET /me``: any valid token; who is calling.
- ``GET /orders``: needs the ``orders/read`` scope.
- ``GET /admin``: needs membership of the ``admin`` group.
- ``WS /ws``: any valid token (``Authorization: Bearer`` on the handshake); sends back the username.

Add ``COGNITO_JWKS_FILE=jwks.json`` to verify offline with keys from a file (e.g. ``cognito-guard dev``'s).
"""

from typing import Annotated, Any

from fastapi import Depends, FastAPI, Security, WebSocket

from cognito_guard import Claims
from cognito_guard.fastapi import CognitoAuth

auth = CognitoAuth.from_env()  # raises ConfigurationError at import if a COGNITO_* variable is missing or invalid
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


@app.websocket("/ws")
async def ws(websocket: WebSocket, claims: Annotated[Claims, Depends(auth)]) -> None:
    # A refused handshake never gets here: the dependency closes it with 1008 before it is accepted.
    await websocket.accept()
    await websocket.send_text(claims.username or claims.sub)
    await websocket.close()
