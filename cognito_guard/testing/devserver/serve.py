"""Running the stand-in: under uvicorn in a background thread (tests) and the handle tests use to reach it."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ...errors import ConfigurationError
from ...verifier import CognitoVerifier, TokenUse
from .pool import LocalUserPool, TokenResponse
from .stats import TokenEndpointStats

__all__ = [
    "DEFAULT_PUBLIC_URL",
    "DevServer",
    "default_public_url",
    "listens_everywhere",
    "serve_in_thread",
    "serve_pool_in_thread",
]

DEFAULT_PUBLIC_URL = "http://127.0.0.1:9229"  # where `cognito-guard dev` listens unless told otherwise
_EVERY_INTERFACE = frozenset(("", "0.0.0.0", "::"))  # noqa: S104 (recognised here, never bound)


def listens_everywhere(host: str) -> bool:
    """True for a host that makes a server listen on every interface (0.0.0.0 or ::)."""
    return host in _EVERY_INTERFACE


def default_public_url(host: str, port: int) -> str:
    """``http://{host}:{port}`` for a server started on ``host`` and ``port``; a server on every interface (0.0.0.0
    or ::) is named by 127.0.0.1, the one address sure to reach it from this machine."""
    host = "127.0.0.1" if listens_everywhere(host) else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@dataclass(frozen=True)
class DevServer:
    """A running stand-in: its URLs, and shortcuts to tokens for configured users and clients."""

    base_url: str
    pool: LocalUserPool

    @property
    def user_pool_id(self) -> str:
        return self.pool.config.user_pool_id

    @property
    def issuer(self) -> str:
        return self.pool.issuer(self.base_url)

    @property
    def jwks_uri(self) -> str:
        return f"{self.issuer}/.well-known/jwks.json"

    @property
    def stats(self) -> TokenEndpointStats:
        """The token endpoint's counts (``requests_by_grant``, ``refreshes(origin_jti)``...) of this pool."""
        return self.pool.stats

    def tokens_for(
        self,
        username: str,
        *,
        client_id: str = "local-client",
        scopes: tuple[str, ...] | None = None,
        nonce: str | None = None,
    ) -> TokenResponse:
        """Access, ID (with ``openid``) and refresh tokens as after a hosted-UI sign-in (no password needed)."""
        return self.pool.sign_in(username, base_url=self.base_url, client_id=client_id, scopes=scopes, nonce=nonce)

    def token_for(self, username: str, **options: Any) -> str:
        """An access token for a configured user (options as :meth:`tokens_for`)."""
        return self.tokens_for(username, **options).access_token

    def id_token_for(self, username: str, **options: Any) -> str:
        """An ID token for a configured user (options as :meth:`tokens_for`; the client must allow ``openid``)."""
        id_token = self.tokens_for(username, **options).id_token
        if id_token is None:
            raise ConfigurationError("no ID token without the openid scope")
        return id_token

    def client_credentials(self, client_id: str = "local-m2m", *, scopes: tuple[str, ...] | None = None) -> str:
        """A machine-to-machine access token for a configured confidential client."""
        return self.pool.client_credentials(client_id, base_url=self.base_url, scopes=scopes)

    def verifier(
        self, *, client_id: str | list[str] | None, token_use: TokenUse | None, **options: Any
    ) -> CognitoVerifier:
        """A :class:`CognitoVerifier` for this stand-in that fetches keys from its JWKS URL over HTTP."""
        return CognitoVerifier(
            user_pool_id=self.user_pool_id,
            client_id=client_id,
            token_use=token_use,
            issuer=self.issuer,
            jwks_uri=self.jwks_uri,
            **options,
        )


@contextlib.contextmanager
def serve_in_thread(
    app: Any,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    sock: socket.socket | None = None,
    **uvicorn_options: Any,
) -> Iterator[str]:
    """Run ``app`` under uvicorn in a daemon thread on ``host`` (loopback by default) and a free port unless
    ``port`` is given, or on the listening socket ``sock`` (closed when the server stops); yields the base URL once
    the server listens. ``uvicorn_options`` go to ``uvicorn.Config`` (default ``lifespan="off"``). Needs uvicorn."""
    import uvicorn

    uvicorn_options = {"lifespan": "off", "log_level": "warning", **uvicorn_options}
    config = uvicorn.Config(app, host=host, port=port, **uvicorn_options)
    server = uvicorn.Server(config)
    sockets = None if sock is None else [sock]
    thread = threading.Thread(target=server.run, args=(sockets,), name="cognito-dev-server", daemon=True)
    thread.start()
    # uvicorn sets `started` once it listens; wait on the thread in short slices (it may also die early).
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        thread.join(0.01)
    if not server.started:
        server.should_exit = True
        thread.join(5)
        if sock is not None:
            sock.close()
        raise RuntimeError("the Cognito dev server did not start")
    try:
        bound = server.servers[0].sockets[0].getsockname()
        yield default_public_url(bound[0], bound[1])
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def serve_pool_in_thread(pool: LocalUserPool, *, host: str = "127.0.0.1", port: int = 0) -> Iterator[DevServer]:
    """Run the stand-in for ``pool`` as :func:`serve_in_thread` does; yields its :class:`DevServer` once it listens.

    The port is bound before the app is made, so that the app's public URL (the issuer) is the address it really
    listens on, even on a free port. Needs starlette and uvicorn."""
    from .app import create_app

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.create_server((host, port), family=family)
    try:
        bound = listener.getsockname()
        base_url = default_public_url(bound[0], bound[1])
        app = create_app(pool=pool, public_url=base_url)
    except BaseException:
        listener.close()
        raise
    with serve_in_thread(app, host=host, port=bound[1], sock=listener) as url:
        yield DevServer(url, pool)
