"""A Flask API guarded by Amazon Cognito tokens, configured only from the COGNITO_* environment variables.

    COGNITO_USER_POOL_ID=us-east-1_Abc123XYZ COGNITO_CLIENT_ID=your-app-client-id flask --app examples.flask_app run

Routes (the same in examples/fastapi_app.py and examples/starlette_app.py):

- ``GET /health``: public.
- ``GET /me``: any valid token; who is calling.
- ``GET /orders``: needs the ``orders/read`` scope.
- ``GET /admin``: needs membership of the ``admin`` group.
- ``POST /sign-out``: any valid token; revokes the caller's sign-in (every token of it, refreshes included) and
  answers 204. From then on that token is refused on every route with 401 ``token_revoked``; 503
  ``revocation_unavailable`` if the shared list could not be written (Redis out of reach: retry).

Add ``COGNITO_JWKS_FILE=jwks.json`` to verify offline with keys from a file. Tokens are checked with the synchronous
verifier, shared by every request and thread of the app.

Sign-outs go on a revocation list kept in this process, or, with ``COGNITO_REDIS_URL=redis://host:6379/0``, shared
through Redis by every worker and host pointing at it (each keeps an in-memory copy, so checks never wait on Redis).
Operators revoke from a shell with ``cognito-guard revoke --origin-jti ID | --jti ID | --user SUB``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.typing import ResponseReturnValue

from cognito_guard import RevocationList
from cognito_guard.bearer import error_answer
from cognito_guard.errors import RevocationUnavailableError
from cognito_guard.flask import CognitoGuard, current_claims, settings_from_config

app = Flask(__name__)
# app.config holds no COGNITO_* names here, so every setting comes from the environment. A missing or invalid one
# raises ConfigurationError at import, naming the variable: the app never starts half-configured.
settings = settings_from_config(app.config)
revocations = RevocationList.from_env()  # one per process: the verifier consults it, /sign-out writes to it
guard = CognitoGuard(app, verifier=settings.verifier(revocations=revocations))


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


@app.post("/sign-out")
@guard.required
def sign_out() -> ResponseReturnValue:
    try:
        revocations.revoke_claims(current_claims)
    except RevocationUnavailableError as error:
        # Redis is out of reach: this worker refuses the token already, the others only once Redis is back and this
        # worker has written it there. 503 with Retry-After tells the client to try again.
        answer = error_answer(error, guard.realm)
        return answer.body, answer.status, answer.headers
    return "", 204
