"""A Flask API guarded by Amazon Cognito tokens, configured only from the COGNITO_* environment variables.

    COGNITO_USER_POOL_ID=us-east-1_Abc123XYZ COGNITO_CLIENT_ID=your-app-client-id flask --app examples.flask_app run

Routes (the same in examples/fastapi_app.py and examples/starlette_app.py):

- ``GET /health``: public.
- ``GET /me``: any valid token; who is calling.
- ``GET /orders``: needs the ``orders/read`` scope.
- ``GET /admin``: needs membership of the ``admin`` group.

Add ``COGNITO_JWKS_FILE=jwks.json`` to verify offline with keys from a file. Tokens are checked with the synchronous
verifier, shared by every request and thread of the app.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from cognito_guard.flask import CognitoGuard, current_claims

app = Flask(__name__)
# app.config holds no COGNITO_* names here, so every setting comes from the environment. A missing or invalid one
# raises ConfigurationError at import, naming the variable: the app never starts half-configured.
guard = CognitoGuard(app)


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/me")
@guard.required
def me() -> dict[str, Any]:
    return {
        "sub": current_claims.sub,
        "username": current_claims.username,
        "token_use": current_claims.token_use,
        "client_id": current_claims.client_id,
        "scopes": sorted(current_claims.scopes),
        "groups": list(current_claims.groups),
    }


@app.get("/orders")
@guard.required(scopes="orders/read")
def orders() -> dict[str, Any]:
    return {"orders": [], "for": current_claims.sub}


@app.get("/admin")
@guard.required(groups="admin")
def admin() -> dict[str, str]:
    return {"admin": "welcome"}
