"""pytest fixtures for apps protected by cognito_guard (registered automatically when the package is installed).

- ``cognito_issuer``: a :class:`LocalIssuer` (keys made once per test session).
- ``cognito_verifier``: a :class:`CognitoVerifier` for that issuer's access tokens with the keys preloaded.
"""

from __future__ import annotations

import pytest

from ..verifier import CognitoVerifier
from ._issuer import LocalIssuer


@pytest.fixture(scope="session")
def cognito_issuer() -> LocalIssuer:
    """A local stand-in user pool that mints Cognito-shaped tokens."""
    return LocalIssuer()


@pytest.fixture
def cognito_verifier(cognito_issuer: LocalIssuer) -> CognitoVerifier:
    """A verifier for ``cognito_issuer``'s access tokens, offline (preloaded JWKS)."""
    return cognito_issuer.verifier(token_use="access")
