"""pytest fixtures for apps protected by cognito_guard (registered automatically when the package is installed).

- ``cognito_issuer``: a :class:`LocalIssuer` (keys made once per test session).
- ``cognito_verifier``: a :class:`CognitoVerifier` for that issuer's access tokens with the keys preloaded.
- ``cognito_dev_server``: the local Cognito stand-in running on 127.0.0.1 (needs starlette and uvicorn), configured
  by the ``cognito_dev_config`` fixture (override it for your own pool; default: the built-in pool).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ..verifier import CognitoVerifier
from ._issuer import LocalIssuer

if TYPE_CHECKING:
    from .devserver.config import PoolConfig
    from .devserver.keys import PoolKeys
    from .devserver.serve import DevServer


@pytest.fixture(scope="session")
def cognito_issuer() -> LocalIssuer:
    """A local stand-in user pool that mints Cognito-shaped tokens."""
    return LocalIssuer()


@pytest.fixture
def cognito_verifier(cognito_issuer: LocalIssuer) -> CognitoVerifier:
    """A verifier for ``cognito_issuer``'s access tokens, offline (preloaded JWKS)."""
    return cognito_issuer.verifier(token_use="access")


@pytest.fixture(scope="session")
def cognito_dev_keys() -> PoolKeys:
    """The dev server's signing keys, made once per test session (key generation is the slow part)."""
    from .devserver.keys import PoolKeys

    return PoolKeys.generate()


@pytest.fixture
def cognito_dev_config() -> PoolConfig:
    """The dev server's pool; override this fixture to test against your own clients, groups and users."""
    from .devserver.config import default_config

    return default_config()


@pytest.fixture
def cognito_dev_server(cognito_dev_config: PoolConfig, cognito_dev_keys: PoolKeys) -> Iterator[DevServer]:
    """The local Cognito stand-in on a free 127.0.0.1 port, fresh state per test. Yields a handle with
    ``base_url``, ``issuer``, ``user_pool_id``, ``token_for("alice")``, ``client_credentials("local-m2m")``..."""
    try:
        import uvicorn  # noqa: F401  (imported by serve_in_thread; checked here for a clear message)

        from .devserver.app import create_app
        from .devserver.serve import serve_in_thread
    except ImportError as error:  # fail, not skip: a skipped test would pass silently without its server
        pytest.fail(f"cognito_dev_server needs starlette and uvicorn ({error}); pip install cognito-guard[dev-server]")
    from .devserver.pool import LocalUserPool
    from .devserver.serve import DevServer

    pool = LocalUserPool(cognito_dev_config, keys=cognito_dev_keys)
    with serve_in_thread(create_app(pool=pool)) as base_url:
        yield DevServer(base_url, pool)
