"""Settings from the environment (or any mapping, such as Flask's ``app.config``), checked at start-up.

| variable | meaning |
|---|---|
| ``COGNITO_USER_POOL_ID`` | required, e.g. ``us-east-1_Abc123XYZ`` |
| ``COGNITO_CLIENT_ID`` | required, one app client id or several separated by commas |
| ``COGNITO_TOKEN_USE`` | ``access`` (default), ``id`` or ``any`` |
| ``COGNITO_ISSUER`` | issuer override (emulators, local stand-ins) |
| ``COGNITO_JWKS_URI`` | JWKS URL override |
| ``COGNITO_JWKS_FILE`` | verify offline with the keys in this JWKS file |
| ``COGNITO_LEEWAY`` | seconds of clock skew allowed (default 0) |
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import CognitoGuardError, ConfigurationError
from .verifier import CognitoVerifier, TokenUse

__all__ = ["Settings", "verifier_from_env"]

_TOKEN_USES: dict[str, TokenUse | None] = {"access": "access", "id": "id", "any": None}


@dataclass(frozen=True)
class Settings:
    """The verifier settings an app reads from its environment."""

    user_pool_id: str
    client_id: tuple[str, ...]
    token_use: TokenUse | None = "access"
    issuer: str | None = None
    jwks_uri: str | None = None
    jwks_file: str | None = None
    leeway: float = 0.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, source: str = "environment") -> Settings:
        """Read the ``COGNITO_*`` names from ``values``; raises :class:`ConfigurationError` naming the bad one."""

        def text(name: str) -> str | None:
            value = values.get(name)
            if value is None:
                return None
            if not isinstance(value, str):
                raise ConfigurationError(f"{name} in the {source} must be a string")
            return value.strip() or None

        pool_id = text("COGNITO_USER_POOL_ID")
        if pool_id is None:
            raise ConfigurationError(f"COGNITO_USER_POOL_ID is not set in the {source}")
        raw_clients = text("COGNITO_CLIENT_ID")
        clients = tuple(item.strip() for item in (raw_clients or "").split(",") if item.strip())
        if not clients:
            raise ConfigurationError(f"COGNITO_CLIENT_ID is not set in the {source} (one id, or several with commas)")
        raw_use = (text("COGNITO_TOKEN_USE") or "access").lower()
        if raw_use not in _TOKEN_USES:
            raise ConfigurationError(f"COGNITO_TOKEN_USE must be access, id or any, not {raw_use!r}")
        raw_leeway = text("COGNITO_LEEWAY") or "0"
        try:
            leeway = float(raw_leeway)
        except ValueError:
            leeway = math.nan
        if not math.isfinite(leeway) or leeway < 0:
            raise ConfigurationError(f"COGNITO_LEEWAY must be a non-negative number of seconds, not {raw_leeway!r}")
        return cls(
            user_pool_id=pool_id,
            client_id=clients,
            token_use=_TOKEN_USES[raw_use],
            issuer=text("COGNITO_ISSUER"),
            jwks_uri=text("COGNITO_JWKS_URI"),
            jwks_file=text("COGNITO_JWKS_FILE"),
            leeway=leeway,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the ``COGNITO_*`` environment variables; raises :class:`ConfigurationError` naming the bad one."""
        return cls.from_mapping(os.environ if environ is None else environ)

    def verifier(self, **options: Any) -> CognitoVerifier:
        """Build the :class:`CognitoVerifier`; ``options`` are passed on (``scopes=``, ``jwks_cache=``...)."""
        try:
            return CognitoVerifier(
                user_pool_id=self.user_pool_id,
                client_id=list(self.client_id),
                token_use=self.token_use,
                issuer=self.issuer,
                jwks_uri=self.jwks_uri,
                jwks=self.jwks_file,
                leeway=self.leeway,
                **options,
            )
        except CognitoGuardError as error:
            raise ConfigurationError(f"COGNITO_* settings are invalid: {error.message}") from None


def verifier_from_env(environ: Mapping[str, str] | None = None, **options: Any) -> CognitoVerifier:
    """One call for apps and workers: a :class:`CognitoVerifier` from the ``COGNITO_*`` environment variables.

    Raises :class:`ConfigurationError` naming the variable that is missing or invalid.
    """
    return Settings.from_env(environ).verifier(**options)
