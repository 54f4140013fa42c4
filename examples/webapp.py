"""A server-rendered FastAPI app whose users sign in through the Cognito hosted UI (managed login).

    COGNITO_DOMAIN=http://127.0.0.1:9229 COGNITO_USER_POOL_ID=us-east-1_LocalDev COGNITO_CLIENT_ID=local-client \\
    COGNITO_ISSUER=http://127.0.0.1:9229/us-east-1_LocalDev \\
    COGNITO_REDIRECT_URI=http://localhost:8000/auth/callback COGNITO_LOGOUT_URI=http://localhost:8000/ \\
    APP_SECRET_KEY=change-me-to-a-long-random-string uvicorn examples.webapp:app --port 8000

(`make demo` starts it like this, next to the local Cognito stand-in.) For a real pool: ``COGNITO_DOMAIN`` is your
pool's domain (``myprefix.auth.eu-west-1.amazoncognito.com`` or ``auth.example.com``), no ``COGNITO_ISSUER``, and
``COGNITO_CLIENT_SECRET`` if the app client has a secret.

Pages:

- ``/``: a "Sign in" link when signed out, the username and a "Sign out" link when signed in.
- ``/profile``: username, email and groups from the ID token (signs you in first).
- ``/admin``: only for the ``admin`` group (403 page otherwise).
- ``/auth/login``, ``/auth/callback``, ``/auth/logout``: the sign-in routes.

Signing out (``/auth/logout``) puts the session's sign-in (its ``origin_jti``) on the revocation list that
``FastAPISignIn.from_env()`` gives the sessions, revokes the refresh token at Cognito (best effort), clears the session
cookie and goes to Cognito's ``/logout``. From then on a copy of the old session cookie is refused, and so is the
session's access token by every verifier consulting the same list. The list lives in this process, or, with
``COGNITO_REDIS_URL`` set, in Redis: every worker of this app, and the API examples pointed at the same Redis, refuse
it within moments. A sign-out while Redis is out of reach still ends the session here; this process writes the
record to Redis once it is back.
"""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.responses import HTMLResponse

from cognito_guard.hosted_ui.fastapi import FastAPISignIn, SignedInUser

sign_in = FastAPISignIn.from_env()  # raises ConfigurationError at import if a variable is missing or invalid
app = FastAPI(title="cognito_guard web app example", lifespan=sign_in.lifespan, middleware=[sign_in.middleware])
app.include_router(sign_in.router)


def page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


@app.get("/", response_class=HTMLResponse)
async def home(user: Annotated[SignedInUser | None, Depends(sign_in.current_user())]) -> str:
    if user is None:
        return page("Welcome", '<p>You are not signed in.</p><p><a href="/auth/login">Sign in</a></p>')
    name = html.escape(user.username or user.sub)
    links = '<a href="/profile">Profile</a> · <a href="/admin">Admin</a> · <a href="/auth/logout">Sign out</a>'
    return page("Welcome", f"<p>Signed in as <strong id='username'>{name}</strong>.</p><p>{links}</p>")


@app.get("/profile", response_class=HTMLResponse)
async def profile(user: Annotated[SignedInUser, Depends(sign_in.login_required())]) -> str:
    rows = [("Username", user.username or ""), ("Email", user.email or ""), ("Groups", ", ".join(user.groups))]
    cells = "".join(
        f"<tr><th>{label}</th><td id='{label.lower()}'>{html.escape(value)}</td></tr>" for label, value in rows
    )
    return page("Profile", f'<table>{cells}</table><p><a href="/">Home</a> · <a href="/auth/logout">Sign out</a></p>')


@app.get("/admin", response_class=HTMLResponse)
async def admin(user: Annotated[SignedInUser, Depends(sign_in.login_required(groups="admin"))]) -> str:
    return page("Admin", f"<p>Hello {html.escape(user.username or user.sub)}, you are an administrator.</p>")
