"""pytest fixtures for apps protected by cognito_guard (registered automatically when the package is installed).

- ``cognito_issuer``: a fresh :class:`LocalIssuer` per test (its keys, ``cognito_issuer_keys``, made once per session).
- ``cognito_verifier``: a :class:`CognitoVerifier` for that issuer's access tokens with the keys preloaded.
- ``cognito_alb``: a :class:`LocalAlb` in front of that issuer (``cognito_alb.verifier()``, ``cognito_alb.headers()``).
- ``cognito_dev_server``: the local Cognito stand-in running on 127.0.0.1 (needs starlette and uvicorn), configured
  by the ``cognito_dev_config`` fixture (override it for your own pool; default: the built-in pool).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from ..verifier import CognitoVerifier
from ._issuer import LocalIssuer, SigningKeyPair
from .alb import LocalAlb

if TYPE_CHECKING:
    from .devserver.config import PoolConfig
    from .devserver.keys import PoolKeys
    from .devserver.serve import DevServer


@pytest.fixture(scope="session")
def cognito_issuer_keys() -> tuple[SigningKeyPair, SigningKeyPair]:
    """The access and ID key pairs ``cognito_issuer`` starts with, made once per session (the slow part)."""
    return SigningKeyPair(), SigningKeyPair()


@pytest.fixture
def cognito_issuer(cognito_issuer_keys: tuple[SigningKeyPair, SigningKeyPair]) -> LocalIssuer:
    """A local stand-in user pool that mints Cognito-shaped tokens. A new one per test, so that rotating its keys,
    adding keys or setting its ``clock`` never reaches another test."""
    access_key, id_key = cognito_issuer_keys
    return LocalIssuer(access_key=access_key, id_key=id_key)


@pytest.fixture
def cognito_verifier(cognito_issuer: LocalIssuer) -> CognitoVerifier:
    """A verifier for ``cognito_issuer``'s access tokens, offline (preloaded JWKS)."""
    return cognito_issuer.verifier(token_use="access")


@pytest.fixture
def cognito_alb(cognito_issuer: LocalIssuer) -> LocalAlb:
    """A local Application Load Balancer in front of ``cognito_issuer``: it signs ``x-amzn-oidc-data`` tokens for the
    pool's users (``headers()`` adds their access token), and ``verifier()`` is an offline :class:`AlbVerifier`."""
    return LocalAlb(pool=cognito_issuer)


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
    try:  # both are imported by serve_pool_in_thread; checked here for a clear message
        import uvicorn  # noqa: F401

        from .devserver import app  # noqa: F401
    except ImportError as error:  # fail, not skip: a skipped test would pass silently without its server
        pytest.fail(f"cognito_dev_server needs starlette and uvicorn ({error}); pip install cognito-guard[dev-server]")
    from .devserver.pool import LocalUserPool
    from .devserver.serve import serve_pool_in_thread

    with serve_pool_in_thread(LocalUserPool(cognito_dev_config, keys=cognito_dev_keys)) as server:
        yield server
