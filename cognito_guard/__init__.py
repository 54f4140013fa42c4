"""cognito_guard: verify Amazon Cognito tokens completely, and guard Python web apps and workers with them."""

from . import errors
from .claims import Claims
from .errors import (
    AuthorizationError,
    CognitoGuardError,
    ConfigurationError,
    KeysUnavailableError,
    TokenError,
)
from .guards import Requirement
from .jwks import JWKSCache
from .verifier import CognitoVerifier, TokenUse, UserPool

__version__ = "0.1.0"

__all__ = [
    "AuthorizationError",
    "Claims",
    "CognitoGuardError",
    "CognitoVerifier",
    "ConfigurationError",
    "JWKSCache",
    "KeysUnavailableError",
    "Requirement",
    "TokenError",
    "TokenUse",
    "UserPool",
    "errors",
]
