"""What the framework adapters (Starlette/FastAPI, Flask) share: their configuration and ``from_env``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..errors import ConfigurationError
from ._client import HostedUIClient
from ._redis_store import RedisSessionStore
from ._session import CookieSettings, Sealer, SessionStore
from ._web import WebSignIn

__all__ = ["SignInAdapter"]

_S = TypeVar("_S", bound="SignInAdapter")


def _options_from_env(
    environ: Mapping[str, str] | None, options: dict[str, Any]
) -> tuple[HostedUIClient, dict[str, Any]]:
    """The client from the ``COGNITO_*`` variables, and ``options`` with ``secret_key`` from ``APP_SECRET_KEY``
    (several secrets separated by commas, newest first) unless given. Errors name the variable."""
    env = os.environ if environ is None else environ
    if "secret_key" not in options:
        secrets = [part.strip() for part in env.get("APP_SECRET_KEY", "").split(",") if part.strip()]
        if not secrets:
            raise ConfigurationError(
                "APP_SECRET_KEY is not set: e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'"
            )
        try:
            Sealer(secrets)
        except ConfigurationError as error:
            raise ConfigurationError(f"APP_SECRET_KEY: {error.message}") from None
        options = {**options, "secret_key": secrets}
    if "store" not in options and (env.get("COGNITO_REDIS_URL") or "").strip():
        # Behind several workers, sessions, single-use sign-ins and refreshes are shared through the same Redis as
        # the revocation list.
        options = {**options, "store": RedisSessionStore.from_env(env)}
    return HostedUIClient.from_env(env), options


class SignInAdapter:
    """Hosted-UI sign-in for one app; each framework module adds its routes and ``login_required``.

    ``client``: the :class:`HostedUIClient` (its ``redirect_uri`` must point at ``{prefix}/callback`` of this app).
    ``secret_key``: the app's secret (or a list, newest first, to rotate) that encrypts the session cookies.
    ``prefix``: where the routes live (default ``/auth``). ``store``: keep sessions server-side (the cookie then
    holds only a sealed session id). ``cookie``: cookie name, lifetime and flags. ``after_logout``: the local page
    after sign-out when the client has no ``logout_uri``. ``revoke_on_logout``: revoke the refresh token on sign-out.
    Raises :class:`ConfigurationError` on a bad setting.
    """

    def __init__(
        self,
        client: HostedUIClient,
        *,
        secret_key: str | bytes | Sequence[str | bytes],
        prefix: str = "/auth",
        store: SessionStore | None = None,
        cookie: CookieSettings | None = None,
        after_logout: str = "/",
        revoke_on_logout: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.web = WebSignIn.build(
            client,
            secret_key=secret_key,
            prefix=prefix,
            store=store,
            cookie=cookie,
            after_logout=after_logout,
            revoke_on_logout=revoke_on_logout,
            clock=clock,
        )
        self.prefix = prefix
        self.client = client

    @classmethod
    def from_env(cls: type[_S], environ: Mapping[str, str] | None = None, **options: Any) -> _S:
        """Configured from ``COGNITO_DOMAIN``, ``COGNITO_USER_POOL_ID``, ``COGNITO_CLIENT_ID``,
        ``COGNITO_CLIENT_SECRET``, ``COGNITO_REDIRECT_URI``, ``COGNITO_LOGOUT_URI``, ``COGNITO_ISSUER``,
        ``COGNITO_SCOPES`` and ``APP_SECRET_KEY`` (several secrets separated by commas, newest first); with
        ``COGNITO_REDIS_URL`` sessions live in a :class:`RedisSessionStore` and sign-outs go on the shared revocation
        list. ``options`` as the constructor's, and they win.
        Raises :class:`ConfigurationError` naming a missing or invalid variable."""
        client, options = _options_from_env(environ, options)
        return cls(client, **options)
