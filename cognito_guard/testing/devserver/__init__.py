"""A local Amazon Cognito stand-in: a user pool with a hosted UI, OAuth 2.0 endpoints, JWKS and discovery.

The framework-free core (:class:`LocalUserPool`, the config and keys) needs nothing beyond cognito_guard;
:func:`create_app` needs Starlette (and a server such as uvicorn to run it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from .config import (
    DEFAULT_APP_URLS,
    AppClient,
    Group,
    PoolConfig,
    ResourceServer,
    User,
    builtin_pool_data,
    default_config,
    load_config,
    parse_config,
)
from .keys import PoolKeys
from .pool import LocalUserPool, OAuthError, TokenResponse
from .serve import DEFAULT_PUBLIC_URL
from .stats import TokenEndpointStats

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "DEFAULT_APP_URLS",
    "DEFAULT_PUBLIC_URL",
    "AppClient",
    "Group",
    "LocalUserPool",
    "OAuthError",
    "PoolConfig",
    "PoolKeys",
    "ResourceServer",
    "TokenEndpointStats",
    "TokenResponse",
    "User",
    "builtin_pool_data",
    "create_app",
    "default_config",
    "load_config",
    "parse_config",
]


def create_app(
    config: PoolConfig | None = None,
    *,
    keys: PoolKeys | None = None,
    clock: Callable[[], float] = time.time,
    pool: LocalUserPool | None = None,
    public_url: str = DEFAULT_PUBLIC_URL,
) -> Starlette:
    """The stand-in as an ASGI app whose issuer is ``{public_url}/{user_pool_id}`` whatever Host a request carries
    (see :func:`cognito_guard.testing.devserver.app.create_app`); needs Starlette."""
    from .app import create_app as create

    return create(config, keys=keys, clock=clock, pool=pool, public_url=public_url)
