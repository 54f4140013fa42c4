"""cognito_guard: verify Amazon Cognito tokens completely, and guard Python web apps and workers with them."""

from . import errors
from .alb import AlbClaims, AlbVerifier
from .claims import Claims
from .config import Settings, verifier_from_env
from .errors import (
    AuthorizationError,
    CognitoGuardError,
    ConfigurationError,
    KeysUnavailableError,
    ServiceUnavailableError,
    TokenError,
    TokenRevokedError,
)
from .guards import Requirement, require
from .jwks import JWKSCache
from .online import CognitoOnlineCheck
from .revocation import RevocationList
from .verifier import CognitoVerifier, TokenUse, UserPool

__version__ = "0.1.0"

__all__ = [
    "AlbClaims",
    "AlbVerifier",
    "AuthorizationError",
    "Claims",
    "CognitoGuardError",
    "CognitoOnlineCheck",
    "CognitoVerifier",
    "ConfigurationError",
    "JWKSCache",
    "KeysUnavailableError",
    "Requirement",
    "RevocationList",
    "ServiceUnavailableError",
    "Settings",
    "TokenError",
    "TokenRevokedError",
    "TokenUse",
    "UserPool",
    "errors",
    "require",
    "verifier_from_env",
]
