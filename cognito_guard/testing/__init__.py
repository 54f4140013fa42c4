"""Test kit: mint Cognito-shaped tokens and verify them offline, in your own tests.

``LocalIssuer`` makes keys and tokens; ``mock_jwks`` serves its JWKS under respx; the pytest plugin (installed with
the package) provides the ``cognito_issuer`` and ``cognito_verifier`` fixtures.
"""

from ._issuer import LocalIssuer, SigningKeyPair, sign_compact
from ._respx import mock_jwks

__all__ = ["LocalIssuer", "SigningKeyPair", "mock_jwks", "sign_compact"]
