"""Sign users of server-rendered web apps in through Cognito's hosted UI (managed login).

The framework-neutral pieces live here: :class:`HostedUIClient` (authorization URL with state, PKCE and nonce; code
exchange; ID-token checks; refresh; revocation; sign-out URL), the encrypted cookie sessions and the session stores.
The routes and ``login_required`` live in :mod:`cognito_guard.hosted_ui.fastapi`,
:mod:`cognito_guard.hosted_ui.starlette` and :mod:`cognito_guard.hosted_ui.flask`.
"""

from ._client import AuthorizationRequest, HostedUIClient, PendingSignIn, TokenSet
from ._exchange import SignedInUser, WebRequest, WebResponse, safe_next_path
from ._redis_store import RedisSessionStore
from ._session import CookieSettings, MemorySessionStore, PendingSignIns, Sealer, Sessions, SessionStore
from ._web import WebSignIn

__all__ = [
    "AuthorizationRequest",
    "CookieSettings",
    "HostedUIClient",
    "MemorySessionStore",
    "PendingSignIn",
    "PendingSignIns",
    "RedisSessionStore",
    "Sealer",
    "SessionStore",
    "Sessions",
    "SignedInUser",
    "TokenSet",
    "WebRequest",
    "WebResponse",
    "WebSignIn",
    "safe_next_path",
]
