"""Test kit: mint Cognito-shaped tokens and verify them offline, in your own tests.

``LocalIssuer`` makes keys and tokens; ``mock_jwks`` serves its JWKS under respx; ``LocalAlb`` signs the headers an
Application Load Balancer passes on and serves its keys; the pytest plugin (installed with the package) provides the
``cognito_issuer``, ``cognito_verifier`` and ``cognito_alb`` fixtures.
"""

from ._issuer import LocalIssuer, SigningKeyPair, sign_compact
from ._respx import mock_jwks
from .alb import DEFAULT_ALB_ARN, AlbKeyPair, LocalAlb, LocalAlbKeyServer

__all__ = [
    "DEFAULT_ALB_ARN",
    "AlbKeyPair",
    "LocalAlb",
    "LocalAlbKeyServer",
    "LocalIssuer",
    "SigningKeyPair",
    "mock_jwks",
    "sign_compact",
]
